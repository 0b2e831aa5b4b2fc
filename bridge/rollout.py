"""The one rollout: a base through its chunk cache, plus a residual, stepping a batch of envs,
each episode's outcome tallied until its first `done` (`mjx_env.outcome`). The evaluation
(`ppo.evaluate`), the video (`ppo.video`) and the demonstrations (`bc.demos`) all run it.

Pure functions to jit: `start(env, base, keys) -> Carry` resets a batch, `step(...)` is one
control step, `segment(...)` a `jax.lax.scan` of `steps` of them.

    residual(state, base_action (B, 6) rad) -> (B, 6) in [-1, 1]   (None: zeros; `state` is the
        env state with this step's base target set: a learned residual reads `state.obs`)
    observe(before, base_action, after) -> any pytree of (B, ...) arrays, stacked per step
        (`before`: the state the step started from, as a base sees it; `after`: its result)
    filtered: 1 = the base target through the residual layer's setpoint filter (the env's
        `base_filter`), 0 = as the base sent it; default 1 with a residual, 0 without (the base
        alone is never filtered); the evaluation passes its residual's on/off factor
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jp

from bridge import chunk_cache
from bridge.base import BasePolicy
from mjx_env import outcome
from mjx_env.env_base import State
from mjx_env.paper_return import set_base

Residual = Callable[[State, jax.Array], jax.Array]
Observe = Callable[[State, jax.Array, State], Any]


def round_keys(seed: int, episodes: int, batch: int) -> jax.Array:
    """(rounds x batch, 2): key i of `jax.random.split(PRNGKey(seed), episodes)` for episode i,
    padded with the last key to whole rounds of `batch` (whatever the batch, the same episodes)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    rounds = -(-episodes // batch)
    return jp.concatenate([keys, jp.repeat(keys[-1:], rounds * batch - episodes, axis=0)])


class Carry(NamedTuple):
    """A batch mid-rollout: env state, the base's chunk cache, each episode's tally."""

    state: State
    cache: chunk_cache.ChunkCache
    tally: outcome.Tally


def start(env, base: BasePolicy, keys: jax.Array) -> Carry:
    """A fresh batch of `keys.shape[0]` episodes (`keys` (B, 2)); every env asks the base for a
    chunk at its first step."""
    state = env.reset(keys)
    return Carry(state, chunk_cache.init(keys.shape[0], base.horizon), outcome.start(state))


def step(env, base: BasePolicy, residual: Residual | None, carry: Carry,
         observe: Observe | None = None, filtered=None) -> tuple[Carry, dict]:
    """One control step of every env: the base's action from the cache, the residual on top.
    Returns the carry and {"trace": this step's plausibility trace (B,) per key, NaN once an
    episode has ended; "observed": `observe`'s output (absent without one)}."""
    cache, base_action = chunk_cache.next_action(carry.cache, base, carry.state)
    if filtered is None:
        filtered = 0.0 if residual is None else 1.0
    state = set_base(carry.state, base_action, base.active, filtered)
    act = jp.zeros_like(base_action) if residual is None else residual(state, base_action)
    state = env.step(state, act)
    tally, trace = outcome.count(carry.tally, state)
    out = {"trace": trace}
    if observe is not None:
        out["observed"] = observe(carry.state, base_action, state)
    return Carry(state, cache, tally), out


def segment(env, base: BasePolicy, residual: Residual | None, carry: Carry, steps: int,
            observe: Observe | None = None, filtered=None) -> tuple[Carry, dict]:
    """`steps` control steps in one scan: `step`'s outputs stacked, (steps, B, ...)."""
    return jax.lax.scan(lambda c, _: step(env, base, residual, c, observe, filtered), carry, None,
                        steps)
