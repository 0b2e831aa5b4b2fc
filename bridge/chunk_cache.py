"""The one chunk cache: each env's current base chunk, its position in it, and the call count.

A base returns `(num_envs, horizon, 6)` absolute joint targets (sim radians) for the whole batch
in one call. The cache hands out one entry per control step and calls the base (a batch-level
`lax.cond`, so never per env and never per step) only when needed. Two refresh rules:

  per_env  call when any env's chunk is exhausted or any env reset; only those envs take the
           new chunk. Exact per-env semantics, but with many envs resetting at different steps
           the calls drift towards one per step.
  sync     one clock for the batch: call exactly every `horizon` steps. An env that resets
           mid-chunk holds its reset pose (its last target) until the next boundary (at most
           horizon - 1 steps, 0.5 s at 30 Hz), as a robot waits for its first inference.
           Model calls per env step: exactly 1 / horizon.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jp

REFRESH = ("per_env", "sync")


class ChunkCache(NamedTuple):
    chunk: jax.Array  # (num_envs, horizon, 6) float32 rad
    index: jax.Array  # (num_envs,) int32, next entry; >= horizon means "refresh"
    waiting: jax.Array  # (num_envs,) bool: reset mid-chunk, holding until the boundary (sync)
    calls: jax.Array  # int32 scalar: batched base calls so far


# Which fields carry the env axis first (sharding splits them over devices); `calls` is shared.
PER_ENV = ChunkCache(chunk=True, index=True, waiting=True, calls=False)


def init(num_envs: int, horizon: int) -> ChunkCache:
    """Empty cache: every env refreshes on its first step."""
    return ChunkCache(jp.zeros((num_envs, horizon, 6)), jp.full((num_envs,), horizon, jp.int32),
                      jp.zeros((num_envs,), bool), jp.int32(0))


def next_action(cache: ChunkCache, base, env_state) -> tuple[ChunkCache, jax.Array]:
    """(cache, base action (num_envs, 6) rad) for this step; `base` is a bridge.base.BasePolicy.
    A waiting env's base action is its last target (for a hold base, `active` 0: zeros)."""
    horizon = cache.chunk.shape[1]
    stale = cache.index >= horizon
    need = jp.any(stale)
    fresh = jax.lax.cond(need, base.chunk, lambda s: cache.chunk, env_state)
    chunk = jp.where(stale[:, None, None], fresh, cache.chunk)
    index = jp.where(stale, 0, cache.index)
    waiting = cache.waiting & ~stale
    action = jp.take_along_axis(chunk, index[:, None, None], axis=1)[:, 0]
    hold = env_state.info["last_target"] * base.active
    action = jp.where(waiting[:, None], hold, action)
    cache = ChunkCache(chunk, index + 1, waiting, cache.calls + need.astype(jp.int32))
    return cache, action


def after_step(cache: ChunkCache, done: jax.Array, refresh: str = "per_env") -> ChunkCache:
    """Mark envs whose episode ended (`done` (num_envs,)): `per_env` refreshes them on the next
    step; `sync` makes them hold until the batch's next chunk boundary."""
    done = done > 0
    if refresh == "per_env":
        return cache._replace(index=jp.where(done, cache.chunk.shape[1], cache.index))
    if refresh == "sync":
        return cache._replace(waiting=cache.waiting | done)
    raise ValueError(f"unknown refresh rule {refresh!r}: expected one of {REFRESH}")
