"""Fixed-seed success of a base policy, alone and with a residual, through the chunk cache.

Episodes run in rounds of `env.num_envs` side by side (the renderer of a model base is built for
that batch); episode i uses key i of `jax.random.split(PRNGKey(seed), episodes)`, as
`mjx_env.rollout.evaluate` does, so both give the same episodes.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jp
import numpy as np

from bridge import chunk_cache
from bridge.base import BasePolicy
from mjx_env.paper_return import set_base
from mjx_env.rollout import TRACE_KEYS, episode_implausible, plausibility_summary, rate_with_ci


def evaluate_base(env, base: BasePolicy, episodes: int, seed: int = 0,
                  residual: Callable | None = None) -> dict[str, np.ndarray]:
    """`residual(obs (B, 25), base_action (B, 6)) -> (B, 6)` in [-1, 1], None = zeros. Returns
    (episodes,) arrays: success (bool), plausible_success (bool), steps, episode_return; `trace`
    (per-step plausibility metrics, (episodes, T), NaN after the episode ended) and
    `base_calls` (batched)."""
    b, length = env.num_envs, env.config.episode_length
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    rounds = -(-episodes // b)
    keys = jp.concatenate([keys, jp.repeat(keys[-1:], rounds * b - episodes, axis=0)])

    def one_step(carry, _):
        state, cache, alive, steps, ret, success = carry
        cache, base_action = chunk_cache.next_action(cache, base, state)
        state = set_base(state, base_action, base.active)
        act = jp.zeros((b, 6)) if residual is None else residual(state.obs, base_action)
        state = jax.vmap(env.step)(state, act)
        ret = ret + alive * state.reward
        success = success | (alive & (state.metrics["success"] > 0))
        steps = steps + alive.astype(jp.int32)
        trace = {k: jp.where(alive, state.metrics[k], jp.nan) for k in TRACE_KEYS}
        alive = alive & (state.done == 0)
        return (state, cache, alive, steps, ret, success), trace

    @jax.jit
    def run(round_keys):
        state = jax.vmap(env.reset)(round_keys)
        init = (state, chunk_cache.init(b, base.horizon), jp.ones(b, bool), jp.zeros(b, jp.int32),
                jp.zeros(b), jp.zeros(b, bool))
        (_, cache, _, steps, ret, success), trace = jax.lax.scan(one_step, init, None, length)
        return success, steps, ret, cache.calls, {k: v.T for k, v in trace.items()}

    results = [run(keys[i * b:(i + 1) * b]) for i in range(rounds)]
    cat = lambda j: np.concatenate([np.asarray(r[j]) for r in results])[:episodes]  # noqa: E731
    trace = {k: np.concatenate([np.asarray(r[4][k]) for r in results])[:episodes] for k in TRACE_KEYS}
    success = cat(0)
    return {"success": success, "plausible_success": success & ~episode_implausible(trace),
            "steps": cat(1), "episode_return": cat(2), "trace": trace,
            "base_calls": sum(int(r[3]) for r in results)}


def summary(result: dict) -> dict:
    """Success and plausible success with 95% Wilson CIs, mean return, plausibility max / p95."""
    success, plausible = rate_with_ci(result["success"]), rate_with_ci(result["plausible_success"])
    return {"success_rate": success["rate"], "ci95": success["ci95"],
            "plausible_success_rate": plausible["rate"], "plausible_ci95": plausible["ci95"],
            "episodes": success["episodes"], "mean_return": float(result["episode_return"].mean()),
            **plausibility_summary(result["trace"])}


def episode_window(episode_length: int, unroll_length: int) -> int:
    """Iterations per episode length: the window of `windowed_rate`."""
    return -(-episode_length // unroll_length)


def windowed_rate(rates: np.ndarray, episodes: np.ndarray, window: int) -> np.ndarray:
    """(..., iterations) per-iteration rates over the episodes that ended in each iteration (NaN
    where none did) -> the rate over all episodes that ended in the last `window` iterations
    (one episode length: time-outs end in waves, so one iteration alone swings between 0 and
    1). NaN until a whole window has passed: before that only the episodes that ended early
    (successes, mostly) are counted, which flatters the start; 0 where none ended."""
    rates, episodes = np.asarray(rates, float), np.asarray(episodes, float)
    hits = np.cumsum(np.nan_to_num(rates) * episodes, axis=-1)
    count = np.cumsum(episodes, axis=-1)

    def lag(a):  # a shifted right by `window` along the last axis, zeros in front
        return np.concatenate([np.zeros_like(a[..., :window]), a], axis=-1)[..., :a.shape[-1]]

    n = count - lag(count)
    out = np.where(n > 0, (hits - lag(hits)) / np.maximum(n, 1), 0.0)
    out[..., :window - 1] = np.nan
    return out


TARGET = 0.8  # the plausible success rate whose first crossing the reports time


def first_crossing(rate, target: float = TARGET) -> int | None:
    """Index of the first entry of `rate` (..., NaN counts as below) that is >= target, or None."""
    hit = np.flatnonzero(np.nan_to_num(np.asarray(rate, float), nan=0.0) >= target)
    return int(hit[0]) if len(hit) else None


def first_reach(history: list[dict], window: int, target: float = TARGET) -> dict | None:
    """The first logged iteration whose windowed training plausible success is >= target:
    {iteration, env_steps, wall_s} (wall_s: training seconds, compilation excluded), or None."""
    if not history:
        return None
    rate = windowed_rate([h["plausible_success_rate"] if h["plausible_success_rate"] is not None
                          else np.nan for h in history], [h["episodes"] for h in history], window)
    i = first_crossing(rate, target)
    if i is None:
        return None
    h = history[i]
    return {"iteration": h["iteration"], "env_steps": h["env_steps"], "wall_s": h.get("wall_s"),
            "target": target}


def evaluate_policy(agent, ts, episodes: int, seed: int = 1234) -> dict:
    """Success of the base alone (zero residual) and base + the deterministic residual."""

    def residual(obs, base_action):
        return agent.deterministic_residual(ts.params, ts.stats, obs, base_action)

    return {name: summary(evaluate_base(agent.env, agent.base, episodes, seed, fn))
            for name, fn in (("base_alone", None), ("base_plus_residual", residual))}
