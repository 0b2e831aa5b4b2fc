"""Fixed-seed evaluation episodes of a base policy on a batch of envs (one jitted scan)."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jp
import numpy as np

from mjx_env.paper_return import PLAUSIBILITY_FLAGS, PLAUSIBILITY_UNITS, PaperReturn, set_base


def evaluate(env: PaperReturn, base: Callable | None, num_episodes: int, seed: int = 0,
             action: Callable | None = None) -> dict[str, np.ndarray]:
    """Run `num_episodes` episodes side by side for `env.config.episode_length` steps.

    `base(state) -> (6,)` absolute joint targets (None = hold pose); `action(state) -> (6,)` in
    [-1, 1] (None = zeros). Each episode counts until its first `done`. Returns numpy arrays of
    shape (num_episodes,): success (bool), plausible_success (bool: succeeded and no step was
    implausible), steps (control steps until done or the limit), final_goal_distance (m),
    episode_return; and `trace`: per-step plausibility metrics (num_episodes, T), NaN after
    the episode ended (`plausibility_summary` turns them into max / p95).
    """
    length = env.config.episode_length
    keys = jax.random.split(jax.random.PRNGKey(seed), num_episodes)

    def one_step(carry, _):
        state, alive, steps, ret, success, final_dist = carry
        if base is not None:
            state = set_base(state, jax.vmap(base)(state))
        act = jax.vmap(action)(state) if action is not None else jp.zeros((num_episodes, 6))
        state = env.step(state, act)
        ret = ret + alive * state.reward
        success = success | (alive & (state.metrics["success"] > 0))
        final_dist = jp.where(alive, state.metrics["goal_distance"], final_dist)
        steps = steps + alive.astype(jp.int32)
        trace = {k: jp.where(alive, state.metrics[k], jp.nan) for k in TRACE_KEYS}
        alive = alive & (state.done == 0)
        return (state, alive, steps, ret, success, final_dist), trace

    def run(keys):  # the episodes as one batch (MuJoCo Warp's buffers sized for all of them)
        state = env.reset(keys)
        n = keys.shape[0]
        init = (state, jp.ones(n, bool), jp.zeros(n, jp.int32), jp.zeros(n), jp.zeros(n, bool),
                state.metrics["goal_distance"])
        (_, _, steps, ret, success, final_dist), trace = jax.lax.scan(one_step, init, None, length)
        return success, steps, final_dist, ret, {k: v.T for k, v in trace.items()}

    success, steps, final_dist, ret, trace = jax.jit(run)(keys)
    trace = {k: np.asarray(v) for k, v in trace.items()}
    return {"success": np.asarray(success), "steps": np.asarray(steps),
            "plausible_success": np.asarray(success) & ~episode_implausible(trace),
            "final_goal_distance": np.asarray(final_dist), "episode_return": np.asarray(ret),
            "trace": trace}


TRACE_KEYS = (*PLAUSIBILITY_UNITS, *PLAUSIBILITY_FLAGS)  # per step, (episodes, T)


def episode_implausible(trace: dict[str, np.ndarray]) -> np.ndarray:
    """(episodes,) bool: any step of the episode implausible (trace arrays (episodes, T))."""
    return np.nan_to_num(trace["implausible"]).max(axis=1) > 0


def plausibility_summary(trace: dict[str, np.ndarray]) -> dict[str, float]:
    """Max and 95th percentile over all steps of all episodes (NaN steps skipped): arm_depth
    and paper_lift in m, arm_table_force in N, paper_speed in m/s, target_gap in rad (the sent
    target's distance from the measured joints), and the fractions of implausible episodes and
    of episodes ended by deploy's safety stop (those are implausible too)."""
    out = {}
    for k in PLAUSIBILITY_UNITS:
        v = trace[k][np.isfinite(trace[k])]
        out[f"{k}_max"] = float(v.max()) if v.size else float("nan")
        out[f"{k}_p95"] = float(np.percentile(v, 95)) if v.size else float("nan")
    out["implausible_episodes"] = float(episode_implausible(trace).mean())
    out["deploy_stop_episodes"] = float((np.nan_to_num(trace["deploy_stop"]).max(axis=1) > 0).mean())
    return out


def rate_with_ci(flags: np.ndarray) -> dict:
    """{"rate", "ci95": (low, high) Wilson, "count", "episodes"} of a boolean array."""
    n, k = int(flags.size), int(np.sum(flags))
    return {"rate": k / max(n, 1), "ci95": wilson_interval(k, n), "count": k, "episodes": n}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
