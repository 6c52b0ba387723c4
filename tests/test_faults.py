"""Bad inputs and faults a new user meets (issue 16): each gets a clear error, never a silent default.

Every test here failed before its fix. Item numbers refer to the issue.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import gen, make_policy

import course_lib
from course_lib import sdes, solvers
from course_lib.evaluate import evaluate
from course_lib.outputs import UnwritablePathError
from course_lib.policy import (
    CheckpointError,
    DiffusionPolicy,
    NonFiniteActionError,
    ObservationRangeWarning,
    PolicyConfig,
    atomic_torch_save,
)
from course_lib.recipes import EXECUTED_STEPS

pytestmark = pytest.mark.usefixtures("one_thread")

OBS = np.random.default_rng(0).uniform(50, 450, size=(1, 2, 20))


# ------------------------------------------------------------------ 2. 0 is not "default"


def _toy_sample(steps):
    sde = sdes.get("vp")
    return solvers.sample(
        sde, lambda x, t: -x, (2, 4, 2), solver="euler", steps=steps, generator=gen()
    )


def test_sample_accepts_numpy_and_torch_integers_as_steps():
    expected = _toy_sample(3)
    torch.testing.assert_close(_toy_sample(np.int64(3)), expected)
    torch.testing.assert_close(_toy_sample(torch.tensor(3)), expected)


@pytest.mark.parametrize("steps", [0, -2, True, 2.0, "3", 10_001])
def test_sample_refuses_zero_negative_bool_float_and_huge_steps(steps):
    with pytest.raises(ValueError, match="steps must be"):
        _toy_sample(steps)


def test_the_step_bound_is_stated_in_the_message():
    with pytest.raises(ValueError, match="at most 10000"):
        _toy_sample(50_000)


def test_act_with_zero_steps_or_an_empty_solver_is_an_error_not_the_default():
    policy = make_policy().eval()
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        policy.act(OBS, steps=0)
    with pytest.raises(ValueError, match="unknown solver ''"):
        policy.act(OBS, solver="", steps=2)
    # None is the default: the config's sampler
    a = policy.act(OBS, steps=None, generator=gen(1))
    b = policy.act(OBS, steps=policy.cfg.steps, generator=gen(1))
    np.testing.assert_array_equal(a, b)


def test_policy_config_refuses_zero_steps_and_empty_solver():
    with pytest.raises(ValueError, match="steps"):
        PolicyConfig(steps=0)
    with pytest.raises(ValueError, match="unknown solver"):
        PolicyConfig(solver="")
    assert PolicyConfig(sde="ve-edm").steps == 10


def test_evaluate_with_zero_steps_is_refused_before_any_rollout():
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        evaluate(make_policy(), seeds=[100000], steps=0, max_steps=4, progress=False)
    with pytest.raises(ValueError, match="n_action_steps must be in"):
        evaluate(make_policy(), seeds=[100000], n_action_steps=0, max_steps=4, progress=False)


# ------------------------------------------------------------------ 6. fail early


def test_evaluate_checks_the_gif_directory_before_rolling_out(tmp_path):
    a_file = tmp_path / "gifs"
    a_file.write_text("not a folder")
    with pytest.raises(UnwritablePathError, match="is a file, not a directory"):
        evaluate(make_policy(), [100000], steps=2, gif_dir=a_file, gif_episodes=1, progress=False)
    with pytest.raises(ValueError, match="needs a gif_dir"):
        evaluate(make_policy(), [100000], steps=2, gif_episodes=1, progress=False)


# ------------------------------------------------------------------ 7. damaged checkpoints


def _damaged(tmp_path, change) -> str:
    payload = make_policy().checkpoint_payload()
    change(payload)
    return str(atomic_torch_save(payload, tmp_path / "damaged.pt"))


def _config_with(**changes):
    def change(payload):
        cfg = json.loads(payload["config"])
        cfg.update(changes)
        for key, value in changes.items():
            if value is _DROP:
                del cfg[key]
        payload["config"] = json.dumps(cfg)

    return change


_DROP = object()


def _set(key, value):
    def change(payload):
        payload[key] = value

    return change


def _set_weight(name, value):
    def change(payload):
        payload["model"][name] = value(payload["model"][name])

    return change


def _drop_weight(name):
    def change(payload):
        del payload["model"][name]

    return change


FIRST_WEIGHT = next(iter(make_policy().state_dict()))

DAMAGE = {
    "extra config key": (_config_with(colour="blue"), r"unknown keys \['colour'\]"),
    "missing config key": (_config_with(horizon=_DROP), r"missing keys \['horizon'\]"),
    "config not JSON": (_set("config", "{horizon: 16"), "'config' is not valid JSON"),
    "config not an object": (_set("config", "[1, 2]"), "must be a JSON object"),
    "bad config value": (_config_with(horizon="sixteen"), "not supported between|horizon"),
    "metadata not JSON": (_set("metadata", "{"), "'metadata' is not valid JSON"),
    "wrong tensor shape": (
        _set_weight(FIRST_WEIGHT, lambda w: torch.zeros(*w.shape[:-1], w.shape[-1] + 1)),
        "has shape",
    ),
    "NaN weights": (
        _set_weight(FIRST_WEIGHT, lambda w: torch.full_like(w, float("nan"))),
        "NaN or inf",
    ),
    "missing weight": (_drop_weight(FIRST_WEIGHT), rf"missing keys \['{FIRST_WEIGHT}'\]"),
    "normaliser of the wrong size": (
        _set("obs_normalizer", {"low": torch.zeros(3), "high": torch.ones(3)}),
        "obs_normalizer 'low' has shape",
    ),
    "inf in a normaliser": (
        _set("action_normalizer", {"low": torch.zeros(2), "high": torch.tensor([1.0, np.inf])}),
        "NaN or inf",
    ),
    "no model": (_set("model", None), "'model' entry is missing"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_checkpoint_contents_give_a_checkpoint_error_naming_file_and_problem(
    tmp_path, case
):
    change, pattern = DAMAGE[case]
    path = _damaged(tmp_path, change)
    with pytest.raises(CheckpointError, match=pattern) as info:
        DiffusionPolicy.load(path, device="cpu")
    assert str(info.value).startswith(path)


def test_an_intact_checkpoint_still_loads(tmp_path):
    path = _damaged(tmp_path, lambda payload: None)
    loaded = DiffusionPolicy.load(path, device="cpu")
    assert dataclasses.asdict(loaded.cfg) == dataclasses.asdict(make_policy().cfg)


# ------------------------------------------------------------------ 8. non-finite outputs


def test_act_refuses_non_finite_actions_and_warns_on_far_observations():
    policy = course_lib.pretrained("vp", device="cpu")
    huge = np.full((1, 2, 20), 1e30)
    with pytest.warns(ObservationRangeWarning, match="outside the training range"):
        with pytest.raises(NonFiniteActionError, match="NaN or inf action"):
            policy.act(huge, steps=2, generator=gen())


def test_observations_inside_the_world_give_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ObservationRangeWarning)
        assert np.isfinite(make_policy().act(OBS, steps=2, generator=gen())).all()


# ------------------------------------------------------------------ 9. shipped names only


@pytest.mark.parametrize("name", ["../pretrained/vp", "ABSOLUTE", "", "vp.pt", None])
def test_pretrained_accepts_only_shipped_names(name, tmp_path):
    make_policy().save(tmp_path / "x.pt")  # a real checkpoint outside the package
    name = str(tmp_path / "x") if name == "ABSOLUTE" else name
    with pytest.raises(ValueError, match="no shipped checkpoint"):
        course_lib.pretrained(name)


# ------------------------------------------------------------------ 5. stale results


def test_reproduce_does_not_take_a_stale_policy_as_finished(tmp_path):
    from course_lib.data import load_pusht
    from course_lib.reproduce import ensure_trained, is_finished, run_dir_for
    from course_lib.train import TrainConfig, train

    demos = load_pusht().subset(range(4))
    cfg = TrainConfig(
        steps=3, batch_size=8, warmup=1, val_every=3, ckpt_every=1, val_fraction=0.25,
        val_windows=16, device="cpu",
    )  # fmt: skip
    run_dir = run_dir_for(tmp_path, "vp")
    train(PolicyConfig(decoder="tiny"), cfg, run_dir, demos=demos, progress=False)
    assert is_finished(run_dir)
    old_policy = (run_dir / "policy.pt").read_bytes()

    def stop(step: int, value: float) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a --fresh run killed early
        train(
            PolicyConfig(decoder="tiny"), cfg, run_dir, demos=demos, resume=False,
            progress=False, on_step=stop,
        )  # fmt: skip
    (run_dir / "policy.pt").write_bytes(old_policy)  # the earlier run's result left behind
    assert not is_finished(run_dir)
    policy_path = ensure_trained("vp", tmp_path, train_missing=False)
    assert DiffusionPolicy.load(policy_path, device="cpu").metadata["steps"] == 2


def test_reproduce_sets_aside_a_finished_run_of_another_recipe_and_trains_again(
    tmp_path, monkeypatch
):
    import dataclasses

    from course_lib import reproduce
    from course_lib.data import load_pusht
    from course_lib.recipes import course_recipe
    from course_lib.train import train

    demos = load_pusht().subset(range(4))
    _, recipe = course_recipe("vp", steps=3)
    recipe = dataclasses.replace(
        recipe, warmup=1, val_every=3, ckpt_every=3, val_windows=16, device="cpu"
    )
    run_dir = reproduce.run_dir_for(tmp_path, "vp")
    trained_again = []
    monkeypatch.setattr(reproduce, "train", lambda *args, **kw: trained_again.append(args[2]))

    train(PolicyConfig(decoder="tiny"), recipe, run_dir, demos=demos, progress=False)
    assert reproduce.ensure_trained("vp", tmp_path, steps=3) == run_dir / "policy.pt"
    assert trained_again == [], "a finished run of the same recipe is reused"

    other = dataclasses.replace(recipe, lr=recipe.lr / 2)
    train(PolicyConfig(decoder="tiny"), other, run_dir, demos=demos, progress=False, resume=False)
    kept = (run_dir / "policy.pt").read_bytes()
    assert reproduce.ensure_trained("vp", tmp_path, steps=3, train_missing=False) == (
        run_dir / "policy.pt"
    ), "--no-train uses the run as it is"
    assert trained_again == [] and (run_dir / "policy.pt").read_bytes() == kept
    reproduce.ensure_trained("vp", tmp_path, steps=3)
    assert trained_again == [run_dir], "a finished run of another learning rate is trained again"
    stale = tmp_path / f"{run_dir.name}-stale-1"
    assert (stale / "policy.pt").read_bytes() == kept, "and kept aside, not deleted"


# ------------------------------------------------------------------ 6 and 10. the command line


def _cli(capsys, *argv: str) -> tuple[int, str]:
    from course_lib.__main__ import main

    code = main(list(argv))
    return code, capsys.readouterr().err


CLI_ERRORS = {
    "train --steps 0": (["train", "--steps", "0"], "--steps must be at least 1"),
    "train --warmup 0": (["train", "--warmup", "0"], "--warmup must be at least 1"),
    "horizon below n_action_steps": (
        ["train", "--horizon", "4"],
        f"below n_action_steps {EXECUTED_STEPS}",
    ),
    "evaluate --n-action-steps 0": (
        ["evaluate", "vp", "--n-action-steps", "0"],
        "--n-action-steps must be at least 1",
    ),
    "retrain and no-train": (["reproduce", "--retrain", "--no-train"], "contradict"),
    "gifs without gif-dir": (["evaluate", "vp", "--gifs", "2"], "--gifs needs --gif-dir"),
    "negative bench seconds": (["bench", "--seconds", "-1"], "--seconds must be positive"),
    "evaluate --steps 0": (["evaluate", "vp", "--steps", "0"], "--steps must be at least 1"),
    "missing checkpoint": (["evaluate", "no/such/policy.pt"], "no checkpoint at no/such"),
}


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_user_errors_exit_2_with_one_line_and_no_traceback(capsys, case):
    argv, message = CLI_ERRORS[case]
    code, err = _cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_debug_shows_the_traceback():
    from course_lib.__main__ import main

    with pytest.raises(CheckpointError, match="no checkpoint"):
        main(["evaluate", "no/such/policy.pt", "--debug"])


def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "occupied"
    a_file.write_text("")
    code, err = _cli(capsys, "evaluate", "vp", "--json", str(a_file / "out.json"))
    assert code == 2 and "--json" in err
    code, err = _cli(capsys, "evaluate", "vp", "--json", str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, err = _cli(capsys, "evaluate", "vp", "--gifs", "1", "--gif-dir", str(a_file))
    assert code == 2 and "is a file, not a directory" in err
    code, err = _cli(capsys, "train", "--steps", "2", "--run-dir", str(a_file))
    assert code == 2 and "--run-dir" in err and "is a file, not a directory" in err
    assert a_file.read_text() == ""


# ------------------------------------------------------------------ 10. the environment


@pytest.mark.parametrize("action", [[1 + 2j, 3.0], np.array([100, 100], dtype=complex), ["1", "2"]])
def test_env_rejects_complex_and_text_actions(action):
    from course_lib.pusht import PushTEnv

    env = PushTEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="real numbers"):
        env.step(action)


@pytest.mark.parametrize(
    "state, where",
    [([600, 100, 256, 256, 0], "agent"), ([100, 100, -300, 256, 0], "block")],
)
def test_env_rejects_a_reset_state_outside_the_world(state, where):
    from course_lib.pusht import PushTEnv

    with pytest.raises(ValueError, match=f"puts the {where} .* outside the world"):
        PushTEnv().reset(options={"reset_to_state": state})


# ------------------------------------------------------------------ 11. tests leave the tree clean


@pytest.mark.parametrize("fast", [True, False])
def test_fast_mode_figures_go_to_a_cache_and_only_full_mode_writes_figures(
    fast, tmp_path, monkeypatch
):
    import matplotlib.pyplot as plt

    from course_lib import config
    from course_lib.plots import save_figure

    monkeypatch.setattr(config, "FAST", fast)
    monkeypatch.setattr(config, "FIGURES_DIR", tmp_path / "figures")
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_FAST_FIGURES", raising=False)
    monkeypatch.delenv("COURSE_FIGURES", raising=False)
    fig = plt.figure()
    try:
        path = save_figure(fig, "probe.png")
    finally:
        plt.close(fig)
    assert path.is_file()
    tracked = tmp_path / "figures" / "probe.png"
    assert tracked.exists() is (not fast)
    if fast:
        assert path == tmp_path / "cache" / "figures-fast" / "probe.png"


def test_an_explicit_figures_folder_is_written_in_fast_mode_too(tmp_path, monkeypatch):
    from course_lib import config

    monkeypatch.setattr(config, "FAST", True)
    monkeypatch.setattr(config, "FIGURES_DIR", tmp_path / "copy")
    monkeypatch.setenv("COURSE_FIGURES", str(tmp_path / "copy"))
    assert config.figures_output_dir() == tmp_path / "copy"


def test_notebooks_save_figures_only_through_save_figure():
    from course_lib import config

    for notebook in sorted((config.PROJECT_ROOT / "notebooks").glob("[0-9]*.py")):
        assert ".savefig(" not in notebook.read_text(), notebook.name


# ------------------------------------------------------------------ 1. data integrity


@pytest.fixture(scope="module")
def shared_store():
    from course_lib.data import SHARED_DATA_PATH
    from course_lib.data.integrity import load_manifest

    store = SHARED_DATA_PATH
    assert store.name in load_manifest(), "the manifest must cover the shared demonstration set"
    return store


def _known_copy(shared_store, tmp_path):
    import shutil

    return Path(shutil.copytree(shared_store, tmp_path / shared_store.name))


def _small_store(tmp_path, name="mine.zarr", **changes):
    """A zarr v2 store of two episodes with chunks of 64 frames, ``changes`` replacing arrays."""
    import zarr

    from course_lib.data import load_pusht

    demos = load_pusht().subset([0, 1])
    arrays = {
        "data/state": demos.states,
        "data/action": demos.actions,
        "data/keypoint": demos.keypoints,
        "data/n_contacts": demos.n_contacts[:, None],
        "meta/episode_ends": demos.episode_ends,
    }
    arrays.update({k.replace("__", "/"): v for k, v in changes.items()})
    group = zarr.open_group(str(tmp_path / name), mode="w", zarr_format=2)
    for key, value in arrays.items():
        value = np.asarray(value)
        group.create_array(key, data=value, chunks=(64, *value.shape[1:]))
    return tmp_path / name


def _read(store):
    from course_lib.data import read_pusht_store

    return read_pusht_store(store)


def _damage(path, how):
    raw = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(len(raw)))
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "broken .zarray":
        path.write_text(raw.decode()[:40])


DAMAGES = {
    "delete": ("data/state/5.0", "is missing|are missing"),
    "random bytes": ("data/action/3.0", "is damaged"),
    "truncated": ("meta/episode_ends/0", "is damaged"),
    "broken .zarray": ("data/keypoint/.zarray", "is broken"),
}


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_a_damaged_known_store_is_refused_naming_file_and_array(shared_store, tmp_path, how):
    from course_lib.data import DataIntegrityError

    store = _known_copy(shared_store, tmp_path)
    relative = DAMAGES[how][0]
    _damage(store / relative, how)
    message = "is missing" if how == "delete" else "is damaged: .* differs from the known"
    with pytest.raises(DataIntegrityError, match=message) as info:
        _read(store)
    array = relative.rsplit("/", 1)[0]
    assert str(store / relative) in str(info.value) or f"{store / array}:" in str(info.value)
    assert repr(array) in str(info.value)


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_a_damaged_unknown_store_is_refused_naming_file_and_array(tmp_path, how):
    from course_lib.data import DataIntegrityError

    store = _small_store(tmp_path)
    relative = {
        "delete": "data/state/2.0",
        "random bytes": "data/action/1.0",
        "truncated": "data/n_contacts/0.0",
        "broken .zarray": "meta/episode_ends/.zarray",
    }[how]
    _damage(store / relative, how)
    array = relative.rsplit("/", 1)[0]
    with pytest.raises(DataIntegrityError, match=DAMAGES[how][1]) as info:
        _read(store)
    assert repr(array) in str(info.value)
    if how != "delete":
        assert str(store / relative) in str(info.value)


def test_the_intact_known_store_and_a_sound_store_load(shared_store, tmp_path):
    assert _read(shared_store).n_episodes == 206
    assert _read(_small_store(tmp_path)).n_episodes == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"meta__episode_ends": np.array([161, 100])}, "strictly increasing"),
        ({"meta__episode_ends": np.array([50, 161])}, "ends at 161, but the arrays hold"),
        ({"meta__episode_ends": np.array([0, 100])}, "positive and strictly increasing"),
        ({"meta__episode_ends": np.array([50.0, 100.0])}, "integer array"),
    ],
)
def test_inconsistent_episode_ends_are_named(tmp_path, changes, message):
    from course_lib.data import DataIntegrityError, load_pusht

    ends = load_pusht().subset([0, 1]).episode_ends
    if message.startswith("ends at"):
        changes = {"meta__episode_ends": np.array([ends[0], ends[1] - 1])}
        message = f"ends at {ends[1] - 1}, but the arrays hold N={ends[1]}"
    with pytest.raises(DataIntegrityError, match=message):
        _read(_small_store(tmp_path, **changes))


def test_nan_in_the_demonstrations_is_named(tmp_path):
    from course_lib.data import DataIntegrityError, load_pusht

    states = load_pusht().subset([0, 1]).states.copy()
    states[70, 3] = np.nan
    with pytest.raises(
        DataIntegrityError, match=r"data/state: 1 NaN or inf values \(first at index \[70, 3\]\)"
    ):
        _read(_small_store(tmp_path, data__state=states))


def test_train_on_a_store_with_a_deleted_chunk_exits_2_before_training(
    shared_store, tmp_path, monkeypatch, capsys
):
    store = _known_copy(shared_store, tmp_path)
    (store / "data/state/5.0").unlink()
    monkeypatch.setenv("COURSE_LIB_DATA", str(store))
    code, err = _cli(capsys, "train", "--steps", "2", "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "data/state/5.0 is missing" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_stale_image_cache_is_rebuilt(tmp_path, monkeypatch):
    from course_lib import data

    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path))
    demos = data.load_pusht().subset([0])
    fresh = data.render_dataset_images(demos, size=16, progress=False)
    path = data.images._images_cache_path(demos.states, 16)
    for stale in (fresh[:-3], fresh.astype(np.float32), None):
        if stale is None:  # torn: the last bytes never reached the disk
            path.write_bytes(path.read_bytes()[:-100])
        else:
            np.save(path, stale)
        with pytest.warns(UserWarning, match="stale or damaged"):
            again = data.render_dataset_images(demos, size=16, progress=False)
        np.testing.assert_array_equal(again, fresh)
        assert data.render_dataset_images(demos, size=16, progress=False).shape == fresh.shape
