"""What an episode came to: each env's outcome tallied step by step until its first `done`
(`Tally`), the per-step plausibility trace, and the summaries every report uses (rates with
Wilson CIs, plausibility max / p95). The rollout that steps the envs is `bridge.rollout`."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jp
import numpy as np

from mjx_env.env_base import State
from mjx_env.paper_return import PLAUSIBILITY_FLAGS, PLAUSIBILITY_UNITS

TRACE_KEYS = (*PLAUSIBILITY_UNITS, *PLAUSIBILITY_FLAGS)  # per step, (episodes, T)


class Tally(NamedTuple):
    """Each env's episode so far, (B,) arrays: an episode counts until its first `done`."""

    alive: jax.Array  # bool: no `done` yet
    steps: jax.Array  # int32: control steps counted
    ret: jax.Array  # float32: summed reward
    success: jax.Array  # bool: succeeded at some counted step
    final_goal_distance: jax.Array  # float32 m: the sheet's goal distance at the last counted step


def start(state: State) -> Tally:
    """The tally of a freshly reset batch (`state` batched, (B,) leaves)."""
    n = state.done.shape[0]
    return Tally(jp.ones(n, bool), jp.zeros(n, jp.int32), jp.zeros(n), jp.zeros(n, bool),
                 state.metrics["goal_distance"])


def count(tally: Tally, state: State) -> tuple[Tally, dict[str, jax.Array]]:
    """The tally after the step that produced `state`, and that step's trace {TRACE_KEYS:
    (B,)} (NaN for envs whose episode had already ended)."""
    alive = tally.alive
    trace = {k: jp.where(alive, state.metrics[k], jp.nan) for k in TRACE_KEYS}
    return Tally(alive & (state.done == 0), tally.steps + alive.astype(jp.int32),
                 tally.ret + alive * state.reward,
                 tally.success | (alive & (state.metrics["success"] > 0)),
                 jp.where(alive, state.metrics["goal_distance"], tally.final_goal_distance)), trace


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
