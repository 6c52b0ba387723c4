# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The PushT environment
#
# The policies of this course act in **PushT** (Diffusion Policy, Chi et al.): a disc, the *agent*,
# pushes a T-shaped block on a table until the block covers a green goal T. The policy never sees
# forces; it chooses where the agent should go next. Contact makes the task hard: the same small
# push can slide the block, turn it one way, or turn it the other.
#
# The 206 human demonstrations we train on were recorded in one particular simulator, quirks
# included. `course_lib.pusht` rebuilds that simulator on pymunk 7 and reproduces every recorded
# state to a hundred-thousandth of a pixel. This notebook takes it apart:
#
# 1. the world and its physics (the PD-controlled agent, the block, the quirks);
# 2. the coverage metric that defines reward and success;
# 3. the demonstrations: replaying them, their statistics;
# 4. what a policy observes, and the evaluation protocol;
# 5. a pushing game, to feel how hard the task is.

# %%
import math
import time

import numpy as np
import torch

from course_lib import config
from course_lib.data import (
    episode_start_state,
    episode_statistics,
    load_pusht,
    make_windows,
    random_crop,
)
from course_lib.exercises import check
from course_lib.plots import pusht as pplots
from course_lib.plots import save_figure
from course_lib.pusht import (
    TEST_SEEDS,
    EnvBatch,
    PushTEnv,
    coverage,
    legacy_landing_state,
    legacy_raw_state,
    legacy_reset_state,
    observe,
    render_scene,
    replay,
)
from course_lib.pusht import constants as C
from course_lib.widgets import pusht as pwidgets

print("fast mode:", config.FAST)

# %% [markdown]
# ## 1 · The world
#
# Everything lives in a $512 \times 512$ pixel world with the $y$ axis pointing **down** (image
# convention). Four static walls of radius 2 fence it in. The state of the whole system is five
# numbers,
#
# $$ s = (x_{\text{agent}},\ y_{\text{agent}},\ x_{\text{block}},\ y_{\text{block}},\ \theta_{\text{block}} \bmod 2\pi), $$
#
# where the block position is the origin of the block's own frame: the middle of the top edge of
# the T's bar. In the block frame the bar covers $x \in [-60, 60],\ y \in [0, 30]$ and the stem
# $x \in [-15, 15],\ y \in [30, 120]$; a point $\ell$ of the block sits in the world at
# $p + R(\theta)\,\ell$. The goal is the same T at pose $(256, 256, \pi/4)$.
#
# Every constant below comes from one module, `course_lib.pusht.constants`.

# %%
for name in (
    "WORLD_SIZE",
    "AGENT_RADIUS",
    "K_P",
    "K_V",
    "DT",
    "N_SUBSTEPS",
    "BLOCK_MASS",
    "BLOCK_MOMENT",
    "BLOCK_CENTER_OF_GRAVITY",
    "GOAL_AREA",
    "SUCCESS_COVERAGE",
    "MAX_STEPS",
    "N_OBS_STEPS",
    "N_ACTION_STEPS",
):
    print(f"{name:>24} = {getattr(C, name)}")
print(f"{'GOAL_POSE':>24} = {np.round(C.GOAL_POSE, 4)}")

# %% [markdown]
# ### Exercise `06.block-to-world` · from the block's frame to the world
#
# Write `to_world(pose, local)`: the world coordinates, shape $(k, 2)$, of block-frame points
# `local` $(k, 2)$ for a block at `pose` $= (x, y, \theta)$, that is $p + R(\theta)\,\ell$ with the
# counter-clockwise rotation $R(\theta)$. The check compares it with the environment's own
# geometry. A wrong answer gets a hint; `hint(id, 1)` from `course_lib.exercises` prints the next
# one.


# %% tags=["solution"]
def to_world(pose, local):
    """(x, y) + R(theta) local for each row of local."""
    x, y, angle = pose
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.array([x, y]) + np.asarray(local, dtype=np.float64) @ rotation.T


# %%
verdict = check("06.block-to-world", to_world)

# %%
demos = load_pusht()
print(f"{demos.n_episodes} demonstrations, {demos.n_frames} frames, read from {demos.source}")
frame = demos.episode_slices()[0].start + 90
fig = pplots.scene_figure(demos.states[frame].astype(np.float64), demos.actions[frame])
save_figure(fig, "pusht_scene.png")
fig

# %% [markdown]
# ### The agent: a kinematic body under PD control
#
# The agent is *kinematic*: nothing pushes it back, it moves exactly with the velocity it is
# given. An action is a **target position** $a = (x^*, y^*)$; for one action (0.1 s) the simulator
# runs 10 sub-steps of $\Delta t = 0.01$ s, each
#
# $$ \ddot p = K_P\,(a - p) - K_V\,\dot p,\qquad
#    \dot p \leftarrow \dot p + \ddot p\,\Delta t,\qquad \text{then one physics step.} $$
#
# With $K_P = \omega^2 = 100$ and $K_V = 2\omega = 20$ the controller is **critically damped**:
# the gap to a fixed target closes as $e(t) = e_0\,(1+\omega t)\,e^{-\omega t}$, with no overshoot.
# A policy thus commands *where to be*, and the agent lags its targets by a few tenths of a second.

# %%
fig = pplots.pd_response_figure()
save_figure(fig, "pusht_pd_response.png")
fig

# %% [markdown]
# ### The block, and three quirks the data depend on
#
# The T is one dynamic body of mass 1 made of two boxes, with friction 0 and elasticity 0 on every
# shape and **damping 0** in the space: pymunk's damping is the fraction of velocity a body *keeps*
# per second, so the block stops dead the moment nothing pushes it. There is no table friction to
# model; the block only moves while the agent is in contact.
#
# Two modelling choices of the reference are not physical, and must be kept:
#
# * **Moment of inertia.** The reference adds the bar's moment twice (a copy-paste slip), each
#   taken about the block origin: $2\,\big(\tfrac{120^2+30^2}{12} + 15^2\big) = 3000$. A uniform T
#   of mass 1 would have about $1950$ about its centre of gravity: the recorded block is about
#   1.5 times harder to turn.
# * **Centre of gravity** at the plain mean of the two boxes' centroids, $(0, 45)$, rather than the
#   area-weighted $(0, 40.7)$.
#
# Replaying a demonstration's actions with the "correct" moment shows why the quirk must stay:

# %%
k = 2
ep = demos.episode(k)
start = episode_start_state(demos, k)
replayed, _ = replay(start, ep["actions"])
physical, _ = replay(start, ep["actions"], block_moment=C.PHYSICAL_BLOCK_MOMENT)
stored = ep["states"].astype(np.float64)
gap_ref = np.abs(replayed[:-1, 2:4] - stored[:, 2:4]).max()
gap_phys = np.abs(physical[:-1, 2:4] - stored[:, 2:4]).max()
print(
    f"episode {k}: max block error {gap_ref:.2e} px with moment 3000, {gap_phys:.1f} px with 1950"
)
assert gap_ref < 0.01 < gap_phys
fig = pplots.moment_quirk_figure(stored, replayed[:-1], physical[:-1], title=f"episode {k}")
save_figure(fig, "pusht_moment_quirk.png")
fig

# %% [markdown]
# ### Setting a state: the legacy order
#
# A reset writes the agent position, then the block position, then the block angle. pymunk turns a
# body **about its centre of gravity** $c = (0, 45)$, so writing the angle after the position moves
# the block origin:
#
# $$ p_{\text{landed}} = p + (I - R(\theta))\,c. $$
#
# The demonstrations were recorded this way, and Diffusion Policy's start state for seed $k$ is
# `RandomState(k)`: two `randint(50, 450)` for the agent, two `randint(100, 400)` for the block,
# `randn() * 2π - π` for the angle, written in this order. Episode $k$ of the data starts exactly
# there. The trap: feeding a *stored* state back through the same setter lands somewhere else.

# %%
first = stored[0]
env = PushTEnv()
env.reset(options={"reset_to_state": first})
print("stored first state          ", np.round(first, 3))
print(
    "set again in the legacy order",
    np.round(env.state, 3),
    "<- the block moved",
    f"{np.linalg.norm(env.state[2:4] - first[2:4]):.1f} px",
)
env.reset(options={"reset_to_state": legacy_raw_state(first)})
print("inverse map, then the setter ", np.round(env.state, 3))
print(
    "Diffusion Policy's seed", k, "    ", np.round(legacy_landing_state(legacy_reset_state(k)), 3)
)
assert np.allclose(env.state[:4], first[:4], atol=1e-3)

# %% [markdown]
# ## 2 · Coverage: reward and success
#
# With $B(s)$ the block's T and $G$ the goal T (both of area $6300\ \text{px}^2$),
#
# $$ \text{coverage}(s) = \frac{|B(s) \cap G|}{|G|},\qquad
#    r(s) = \min\!\Big(\frac{\text{coverage}(s)}{0.95},\ 1\Big), $$
#
# and an episode ends in success as soon as coverage exceeds $0.95$. An episode's **score** is its
# best reward. Coverage is unforgiving: sliding the T by $d < 30$ px along either of its axes
# uncovers a strip of $120\,d$ px², so one pixel already costs $1.9\,\%$.

# %%
theta = C.GOAL_POSE[2]
for d in (1.0, 5.0):
    slid = np.array([60, 60, 256 + d * math.cos(theta), 256 + d * math.sin(theta), theta])
    print(
        f"slide {d:.0f} px along the bar: coverage {coverage(slid):.4f}, closed form {1 - 120 * d / 6300:.4f}"
    )
    assert abs(coverage(slid) - (1 - 120 * d / 6300)) < 1e-9

last = demos.episode_ends - 1
examples = np.stack(
    [
        pwidgets.goal_offset_state(6, -4, 5),
        demos.states[last[32]].astype(np.float64),
        demos.states[demos.episode_slices()[3].start + 140].astype(np.float64),
    ]
)
fig = pplots.coverage_figure(
    examples, titles=["6 px and 5° off", "end of episode 32", "episode 3, mid-push"]
)
save_figure(fig, "pusht_coverage.png")
fig

# %% [markdown]
# ### Exercise `06.coverage-two-poses` · coverage of one T by another
#
# Write `coverage_between(pose_a, pose_b)`: the area of the T at `pose_a` intersected with the T at
# `pose_b`, divided by the area of the T. `pusht.geometry.block_polygons(pose)` gives the bar and
# the stem as $(2, 4, 2)$ vertices; shapely does the rest.

# %% tags=["solution"]
import shapely

from course_lib.pusht import geometry

# ---- solution ----


def block_shape(pose):
    bar, stem = geometry.block_polygons(np.asarray(pose, dtype=np.float64))
    return shapely.union(shapely.Polygon(bar), shapely.Polygon(stem))


def coverage_between(pose_a, pose_b):
    """area(T(pose_a) ∩ T(pose_b)) / area(T)."""
    overlap = shapely.intersection(block_shape(pose_a), block_shape(pose_b))
    return shapely.area(overlap) / C.GOAL_AREA


# %%
verdict = check("06.coverage-two-poses", coverage_between)

# %% [markdown]
# ### Exercise `06.coverage-for-half-reward` · reading the reward
#
# Which coverage earns a reward of exactly $0.5$?

# %% tags=["solution"]
half_reward_coverage = 0.5 * C.SUCCESS_COVERAGE

# %%
verdict = check("06.coverage-for-half-reward", half_reward_coverage)

# %% [markdown]
# Move the block around the goal and watch the hatched intersection:

# %%
pwidgets.coverage_app()

# %% [markdown]
# ## 3 · The demonstrations
#
# Each demonstration is a sequence of frames $(s_t, a_t)$: the state, and the target the human
# commanded while in it; $a_t$ leads from $s_t$ to $s_{t+1}$. Replaying every episode's actions from
# its legacy start through our simulator reproduces all 25,650 stored states:

# %%
t0 = time.perf_counter()
worst = 0.0
for i in range(demos.n_episodes):
    e = demos.episode(i)
    states, _ = replay(episode_start_state(demos, i), e["actions"])
    worst = max(worst, float(np.abs(states[:-1, :4] - e["states"][:, :4]).max()))
print(
    f"replayed {demos.n_episodes} episodes in {time.perf_counter() - t0:.1f} s; "
    f"largest position error {worst:.1e} px"
)
assert worst < 0.01

# %% [markdown]
# Scrub through any demonstration: the blue line is the agent's path so far, the red dots the next
# 16 commanded targets (the chunk a policy would predict here), and on the right the coverage.

# %%
pwidgets.replay_app(demos)

# %%
fig = pwidgets.demo_frame(demos, 3, 140)
save_figure(fig, "pusht_replay.png")
fig

# %% [markdown]
# ### How good are the demonstrations?
#
# The stored frames of an episode end one action early: the state after the last commanded
# target is not in the data. The statistics below replay that last action too (and match the
# figures of the data's README).

# %%
stats = episode_statistics(demos)
fig = pplots.demo_statistics_figure(stats)
save_figure(fig, "demo_statistics.png")
print(
    f"final coverage: min {stats['final_coverage'].min():.3f}, median "
    f"{np.median(stats['final_coverage']):.3f}, max {stats['final_coverage'].max():.3f}"
)
print(f"mean best reward (the demonstrators' score): {stats['max_reward'].mean():.3f}")
print(f"episode length: {stats['length'].min()} to {stats['length'].max()} frames")
fig

# %% [markdown]
# Only 7 of 206 demonstrations pass the 0.95 success threshold, yet their mean score is about
# 0.95: most end between 0.86 and 0.93 coverage, close to the goal but not on it. A policy that
# imitated them perfectly would score about the same and rarely "succeed"; the best policies of
# the literature score about 0.95 on the test starts.
#
# ## 4 · What a policy sees, and how it is scored
#
# * **keypoints**: 9 fixed points of the block frame (fitted to the dataset's `keypoint` array,
#   residual below 2.5 px) plus the agent position: 20 numbers;
# * **pixels**: the scene rendered at $96 \times 96$, randomly cropped to $84 \times 84$ during
#   training (centre crop at test time), with the agent position beside it. The paper at hand
#   uses the last two frames.
#
# Training samples are *windows*: the last $n_{\text{obs}} = 2$ observations and the next
# $H = 16$ targets, padded at the episode edges by repeating the edge frame.

# %%
s = demos.states[frame].astype(np.float64)
pixels = render_scene(s, 96)
crop = random_crop(torch.from_numpy(pixels)[None], 84, generator=torch.Generator().manual_seed(0))[
    0
]
fig = pplots.observations_figure(s, pixels, crop.numpy())
save_figure(fig, "pusht_observations.png")
print("keypoint observation:", np.round(observe(s, "keypoints"), 1))
windows = make_windows(demos, obs_type="keypoints", n_obs=C.N_OBS_STEPS, horizon=16)
print(
    f"{len(windows)} windows: obs {tuple(windows.obs.shape)}, actions {tuple(windows.action.shape)}"
)
fig

# %% [markdown]
# **Evaluation protocol.** 50 episodes from the seeds 100000-100049 with the legacy reset, at most
# 300 steps each. The policy sees 2 observations, predicts a chunk of 16 targets and executes the
# first 6 (`cfg.n_action_steps`) before it is asked again. The task score is the mean over
# episodes of the best reward; we also report the success rate and the mean final coverage.
# `EnvBatch` steps all 50 episodes together and freezes those that have finished. A do-nothing policy sets the floor: the agent holds still, the block
# is never pushed, and the score is the reward of the start state.

# %%
batch = EnvBatch(len(TEST_SEEDS), obs_type="state")
obs = batch.reset(TEST_SEEDS)
t0 = time.perf_counter()
n_steps = 20 if config.FAST else C.MAX_STEPS
for _ in range(n_steps):
    obs, reward, terminated, truncated, info = batch.step(batch.states()[:, :2])
elapsed = time.perf_counter() - t0
print(
    f"do-nothing policy: score {batch.max_reward.mean():.3f}, success {info['is_success'].mean():.0%}"
)
print(
    f"{n_steps} steps of 50 environments in {elapsed:.2f} s "
    f"({50 * n_steps / elapsed:.0f} env steps/s)"
)

# %% [markdown]
# ## 5 · Your turn: push the T with the mouse
#
# Press **play** and move the pointer over the scene: the agent's target is the pointer, read every
# 0.1 s, which is how the 206 demonstrations were recorded (a mouse, 10 Hz). The status line shows
# the coverage live; an episode ends at coverage 0.95 or after 300 steps. **save episode** adds the
# episode to your own store, in the demonstrations' zarr layout; **replay last saved** plays it
# back. Notice how often a push turns the block the wrong way.

# %%
game = pwidgets.push_game(seed=TEST_SEEDS[0])
game

# %% [markdown]
# Your saved episodes join the demonstrations as a training set: the same windows the policies of
# notebook 07 learn from.

# %%
from course_lib.data import read_pusht_store
from course_lib.recording import concat_demos

if game.store.exists():
    mine = read_pusht_store(game.store)
    train_set = concat_demos(demos, mine)
    print(
        f"{mine.n_episodes} episodes of yours ({mine.n_frames} frames) + {demos.n_episodes} "
        f"demonstrations: {len(make_windows(train_set))} training windows"
    )
else:
    print(f"no episode saved yet; they will go to {game.store}")
