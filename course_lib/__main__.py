"""Command line: ``python -m course_lib {train,evaluate,reproduce,bench} --help``.

A user error (a bad flag combination, a missing or damaged file, an unwritable output) exits with
status 2 and a one-line message on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from course_lib import sdes


class UsageError(ValueError):
    """Flags that contradict each other or cannot work; reported before any work starts."""


#: Exceptions reported as one line (exit status 2) unless --debug is given.
USER_ERRORS = (ValueError, OSError, RuntimeError)


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 when other jobs share the CPU: oversubscription is far slower)",
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a diffusion policy (resumes when the run directory has a checkpoint)"
    )
    p.add_argument("--sde", choices=sdes.names(), default=sdes.DEFAULT)
    p.add_argument(
        "--sde-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="constructor option of the SDE, repeatable (e.g. time_law=sqrt for cld-hsm)",
    )
    p.add_argument("--obs", choices=("keypoints", "state", "pixels"), default="keypoints")
    p.add_argument(
        "--decoder",
        default=None,
        help="decoder size: course-p4 (recipe), course, tiny, paper, unet, unet-small",
    )
    p.add_argument("--horizon", type=int, default=None, help="predicted chunk length (paper: 8)")
    p.add_argument("--n-action-steps", type=int, default=None, help="targets executed per call")
    p.add_argument("--action-kind", choices=("absolute", "delta"), default=None)
    p.add_argument(
        "--steps", type=int, default=None, help="optimisation steps (default: course recipe)"
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="wall-clock budget: steps, warm-up and cosine decay fitted to it (exclusive with --steps)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up steps (default: min(300, steps/10)); a budget run's steps and warm-up, from "
        "its metadata, reproduce it",
    )
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA; slower on most CPUs)")
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="image encoder in NHWC memory order (faster on GPU tensor cores)",
    )
    p.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="DataLoader worker processes preparing batches ahead (image policy on a GPU: 4)",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="add every training episode's mirror image across the goal T's axis (2x the demos)",
    )
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ..."
    )
    p.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="data-parallel processes on this node, started through torchrun (one per GPU with "
        "--device auto; gloo on CPU): torchrun --nproc-per-node N -m course_lib train ...",
    )
    _add_threads(p)
    p.add_argument("--run-dir", type=Path, default=None, help="default: runs/<sde>-<obs>")
    p.add_argument(
        "--fresh", action="store_true", help="ignore an existing checkpoint in the run directory"
    )
    p.add_argument("--no-progress", action="store_true")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on the PushT test seeds")
    p.add_argument(
        "checkpoint", help="a policy.pt / checkpoint.pt path, or a shipped name (vp, ve, cld, ...)"
    )
    p.add_argument(
        "--solver",
        default=None,
        help="euler, heun, em (plus ddim for vp, ve, vp-edm; sscs for cld-hsm)",
    )
    p.add_argument("--steps", type=int, default=None, help="solver steps N")
    p.add_argument(
        "--n-action-steps",
        type=int,
        default=None,
        help="targets of each chunk executed per policy call (default: the policy's own)",
    )
    p.add_argument(
        "--episodes",
        type=int,
        default=50,
        help="N episodes: seeds 100000.. (the first 50 are the test seeds); up to 10000",
    )
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--gif-dir", type=Path, default=None)
    p.add_argument("--gifs", type=int, default=0, help="number of rollouts saved as GIF")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    _add_threads(p)
    p.add_argument("--no-progress", action="store_true")


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce", help="train VP, VE, CLD (and the corrected processes) and write Table 1"
    )
    p.add_argument(
        "--sdes",
        nargs="+",
        default=None,
        help="subset of SDEs (default: every process of the two tables)",
    )
    p.add_argument(
        "--retrain", action="store_true", help="train again even when a run has finished"
    )
    p.add_argument("--runs", type=Path, default=Path("runs"), help="where training runs live")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--steps", type=int, default=None, help="override the recipe's training steps")
    p.add_argument(
        "--minutes", type=float, default=None, help="train each SDE for this wall-clock budget"
    )
    p.add_argument(
        "--ship", action="store_true", help="copy the trained policies into course_lib/pretrained"
    )
    p.add_argument(
        "--no-train",
        action="store_true",
        help="do not train: use finished runs, or the latest checkpoint of unfinished ones",
    )
    p.add_argument("--device", default="auto")
    _add_threads(p)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="print training samples/s and chunk latency per solver")
    p.add_argument("--seconds", type=float, default=5.0, help="time per training measurement")
    p.add_argument("--device", default="auto")
    _add_threads(p)


def _literal(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_sde_options(sde: str, options: list[str]) -> dict[str, int | float | str]:
    """``["KEY=VALUE", ...]`` -> constructor overrides of ``sde``, checked by building it."""
    overrides = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise UsageError(f"--sde-option takes KEY=VALUE, got {option!r}")
        overrides[key.strip()] = _literal(value.strip())
    try:
        sdes.get(sde, **overrides)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--sde-option for {sde!r}: {err}") from None
    return overrides


def _at_least(value: float | None, low: float, flag: str, hint: str = "") -> None:
    if value is not None and not value >= low:
        raise UsageError(f"{flag} must be at least {low:g}, got {value:g}{hint}")


def check_train_args(args: argparse.Namespace) -> None:
    """Refuse --steps 0 (it is not "the recipe's default") and sizes that cannot work."""
    from course_lib.recipes import course_recipe

    _at_least(args.steps, 1, "--steps", "; omit --steps for the course recipe's")
    if args.minutes is not None:
        if args.steps is not None:
            raise UsageError("give --steps or --minutes, not both (a budget fixes the steps)")
        if not args.minutes > 0:
            raise UsageError(f"--minutes must be positive, got {args.minutes:g}")
    _at_least(args.warmup, 1, "--warmup", "; omit --warmup for min(300, steps/10)")
    _at_least(args.batch_size, 1, "--batch-size")
    _at_least(args.num_workers, 0, "--num-workers")
    _at_least(args.nproc, 1, "--nproc")
    if args.nproc is not None:
        from course_lib.distributed import launched_ranks

        if launched_ranks() is not None:
            raise UsageError("--nproc under torchrun: torchrun starts the processes; drop --nproc")
    _at_least(args.horizon, 1, "--horizon")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr:g}")
    _at_least(args.n_action_steps, 1, "--n-action-steps")
    n_action_steps = args.n_action_steps
    if n_action_steps is None:
        n_action_steps = course_recipe(args.sde)[0].n_action_steps
    if args.horizon is not None and args.horizon < n_action_steps:
        raise UsageError(
            f"--horizon {args.horizon} is below n_action_steps {n_action_steps}: a chunk must "
            f"hold the targets executed per call (pass --n-action-steps <= {args.horizon})"
        )


def check_evaluate_args(args: argparse.Namespace) -> None:
    """Refuse useless GIF flags and bad counts; check every output path is writable."""
    from course_lib.outputs import check_writable_file, ensure_writable_dir
    from course_lib.pusht.constants import MAX_EVAL_EPISODES

    _at_least(args.steps, 1, "--steps", "; omit --steps for the policy's own")
    _at_least(args.n_action_steps, 1, "--n-action-steps", "; omit it for the policy's own")
    if not 1 <= args.episodes <= MAX_EVAL_EPISODES:
        raise UsageError(f"--episodes must be in [1, {MAX_EVAL_EPISODES}], got {args.episodes}")
    _at_least(args.gifs, 0, "--gifs")
    if args.gifs and args.gif_dir is None:
        raise UsageError("--gifs needs --gif-dir (where the GIFs go)")
    if args.gif_dir is not None and not args.gifs:
        raise UsageError("--gif-dir saves nothing without --gifs N (the number of rollouts)")
    if args.gif_dir is not None:
        ensure_writable_dir(args.gif_dir, "--gif-dir")
    if args.json is not None:
        check_writable_file(args.json, "--json")


def check_reproduce_args(args: argparse.Namespace) -> None:
    from course_lib.outputs import ensure_writable_dir
    from course_lib.pusht import TEST_SEEDS

    if args.retrain and args.no_train:
        raise UsageError("--retrain and --no-train contradict each other: choose one")
    _at_least(args.steps, 1, "--steps", "; omit --steps for the course recipe's")
    if not 1 <= args.episodes <= len(TEST_SEEDS):
        raise UsageError(f"--episodes must be in [1, {len(TEST_SEEDS)}], got {args.episodes}")
    ensure_writable_dir(args.runs, "--runs")


def check_bench_args(args: argparse.Namespace) -> None:
    if not args.seconds > 0:
        raise UsageError(f"--seconds must be positive, got {args.seconds:g}")


def without_flag(argv: list[str], flag: str) -> list[str]:
    """``argv`` less ``flag VALUE`` and ``flag=VALUE``."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            kept.append(item)
    return kept


def _launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Run this train command again as ``torchrun --standalone --nproc-per-node N`` (one node, a
    free port) and wait for it; Ctrl-C reaches torchrun and its ranks too, SIGTERM is passed on."""
    import signal
    import subprocess

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(nproc), "-m", "course_lib", *without_flag(argv, "--nproc")]
    proc = subprocess.Popen(command)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # the ranks finish their step and save; wait for them
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_train(args: argparse.Namespace) -> int:
    from course_lib.distributed import launched_ranks
    from course_lib.outputs import ensure_writable_dir
    from course_lib.recipes import course_recipe
    from course_lib.train import train

    if args.nproc is not None:
        return _launch_torchrun(args.nproc, args.argv)

    policy_cfg, train_cfg = course_recipe(args.sde, steps=args.steps, minutes=args.minutes)
    policy_changes = {
        "obs_type": args.obs,
        "decoder": args.decoder,
        "horizon": args.horizon,
        "n_action_steps": args.n_action_steps,
        "action_kind": args.action_kind,
        "sde_overrides": parse_sde_options(args.sde, args.sde_option) or None,
    }
    policy_cfg = dataclasses.replace(
        policy_cfg, **{k: v for k, v in policy_changes.items() if v is not None}
    )
    train_changes = {
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warmup": args.warmup,
        "seed": args.seed,
        "device": args.device,
        "num_threads": args.threads,
        "amp": args.amp or None,
        "channels_last": args.channels_last or None,
        "num_workers": args.num_workers,
        "mirror": args.mirror or None,
    }
    train_cfg = dataclasses.replace(
        train_cfg, **{k: v for k, v in train_changes.items() if v is not None}
    )
    run_dir = ensure_writable_dir(
        args.run_dir or Path("runs") / f"{args.sde}-{args.obs}", "--run-dir"
    )
    command = "python -m course_lib " + shlex.join(sys.argv[1:])
    result = train(
        policy_cfg,
        train_cfg,
        run_dir,
        resume=not args.fresh,
        progress=not args.no_progress,
        metadata={"command": command},
    )
    last = result.history[-1] if result.history else {}
    if (launched_ranks() or (0,))[0] != 0:
        return 0  # rank 0 reports
    print(
        json.dumps({"run_dir": str(run_dir), "seconds": round(result.seconds, 1), **last}, indent=2)
    )
    return 0


def _load_policy(name_or_path: str, device: str):
    from course_lib import shipped
    from course_lib.policy import DiffusionPolicy

    if name_or_path in shipped.names():
        return shipped.load(name_or_path, device=device)
    return DiffusionPolicy.load(name_or_path, device=device)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from course_lib.evaluate import evaluate
    from course_lib.pusht import evaluation_seeds

    policy = _load_policy(args.checkpoint, args.device)
    result = evaluate(
        policy,
        evaluation_seeds(args.episodes),
        args.solver,
        args.steps,
        n_action_steps=args.n_action_steps,
        sample_seed=args.sample_seed,
        gif_dir=args.gif_dir,
        gif_episodes=args.gifs,
        progress=not args.no_progress,
    )
    summary = {k: v for k, v in result.items() if not k.startswith("episode_") and k != "seeds"}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from course_lib.reproduce import reproduce

    reproduce(
        sdes_to_run=args.sdes,
        runs=args.runs,
        retrain=args.retrain,
        episodes=args.episodes,
        steps=args.steps,
        minutes=args.minutes,
        ship=args.ship,
        train_missing=not args.no_train,
        device=args.device,
    )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from course_lib.bench import run_bench

    run_bench(seconds=args.seconds, device=args.device)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_evaluate, _add_reproduce, _add_bench):
        add(sub)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    for command_parser in sub.choices.values():
        command_parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(parser, args)
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"python -m course_lib {args.command}: error: {message}", file=sys.stderr)
        return 2


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    checks = {
        "train": check_train_args,
        "evaluate": check_evaluate_args,
        "reproduce": check_reproduce_args,
        "bench": check_bench_args,
    }
    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)  # train also keeps it in TrainConfig.num_threads
    checks[args.command](args)
    handlers = {
        "train": _cmd_train,
        "evaluate": _cmd_evaluate,
        "reproduce": _cmd_reproduce,
        "bench": _cmd_bench,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
