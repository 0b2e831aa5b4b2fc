"""Training wrappers: time limit and auto-reset to a freshly randomised state.

Playground's `BraxAutoResetWrapper(full_reset=True)` replaces the whole `info` of a finished env
with the reset's, which zeroes Brax's `info["truncation"]` exactly on the steps where it matters
(PPO must bootstrap the value on a time-out, not on success). This wrapper resets the same way
but keeps the episode bookkeeping of Brax's `EpisodeWrapper`.
"""
from __future__ import annotations

import jax
import jax.numpy as jp
from brax.envs.wrappers import training as brax_training

from mjx_env.env_base import State, per_env

EPISODE_KEYS = ("steps", "truncation", "episode_done", "episode_metrics")
RNG_KEY = "auto_reset_rng"
FINAL_OBS = "final_obs"


class FreshAutoReset(brax_training.Wrapper):
    """On `done`, the env's data, obs and info come from a new `reset` (new paper pose and
    randomisation); `truncation`, `steps` and episode metrics of the finished step are kept, and
    `info["final_obs"]` holds the observation reached before any reset (to bootstrap the value
    of a time-out)."""

    def reset(self, rng: jax.Array) -> State:
        keys = jax.vmap(jax.random.split)(rng)
        state = self.env.reset(keys[:, 1])
        state.info[RNG_KEY] = keys[:, 0]
        state.info[FINAL_OBS] = state.obs
        return state

    def step(self, state: State, action: jax.Array) -> State:
        info = dict(state.info)
        info["steps"] = jp.where(state.done, jp.zeros_like(info["steps"]), info["steps"])
        state = self.env.step(state.replace(info=info, done=jp.zeros_like(state.done)), action)
        keys = jax.vmap(jax.random.split)(state.info[RNG_KEY])
        fresh = self.env.reset(keys[:, 1])

        def where_done(per_env_leaf, new, old):
            if not per_env_leaf:
                return old  # shared by the batch (MuJoCo Warp's buffers): rebuilt each step
            done = jp.reshape(state.done, state.done.shape + (1,) * (old.ndim - state.done.ndim))
            return jp.where(done, new, old)

        kept = {k: state.info[k] for k in EPISODE_KEYS}
        kept[FINAL_OBS] = state.obs
        mask = per_env(state)
        reset_keys = [k for k in fresh.info if k not in kept]
        info = jax.tree.map(where_done, {k: mask.info[k] for k in reset_keys},
                            {k: fresh.info[k] for k in reset_keys},
                            {k: state.info[k] for k in reset_keys})
        info.update(kept)
        info[RNG_KEY] = keys[:, 0]
        return state.replace(data=jax.tree.map(where_done, mask.data, fresh.data, state.data),
                             obs=where_done(True, fresh.obs, state.obs), info=info)


def wrap_for_training(env, episode_length: int | None = None):
    """Truncation after `episode_length` steps (default: the env config's) + auto-reset to a
    freshly randomised state, for a batch (`reset(keys (B, 2))`: the env batches itself, sized
    by the keys). The result runs under Brax's PPO unchanged."""
    length = episode_length or env.config.episode_length
    wrapped = brax_training.EpisodeWrapper(env, length, 1)
    return FreshAutoReset(wrapped)
