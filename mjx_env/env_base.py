"""The env interface: `State` and `Env` (what the trainer, the wrappers and Brax's PPO use).

`reset(rng) -> State` and `step(state, action) -> State`, pure functions over pytrees. The
fields and their order are those of MuJoCo Playground's `MjxEnv` state (and so of checkpoints
written before this module replaced it), which Brax's training wrappers also accept.
"""
from __future__ import annotations

import abc
from typing import Any

import jax
from flax import struct
from mujoco import mjx
from mujoco.mjx.warp.types import DATA_NON_VMAP


@struct.dataclass
class State:
    """One env's or a batch's state; batched fields carry a leading (num_envs,) axis."""

    data: mjx.Data  # MJX physics state
    obs: jax.Array  # (..., obs size) float32 (mjx_env.task.OBS_SLICES)
    reward: jax.Array  # (...) float32, this step's
    done: jax.Array  # (...) float32, 1.0 where the episode ended at this step
    metrics: dict[str, jax.Array]  # (...) float32 each (mjx_env.paper_return.METRIC_KEYS)
    info: dict[str, Any]  # per-env bookkeeping (wrappers add their own keys)


def per_env(state):
    """A tree like `state` (an env `State`, or any tree holding one) with True at each leaf that
    has the batch's env axis first and False at the leaves the batch shares: MuJoCo Warp's
    shared buffers (`DATA_NON_VMAP`: the contact buffer of `naconmax` rows for all worlds, the
    contact counts, fields that only `mjx.Data._impl` of impl="warp" has), declared by MJX,
    whose vmap rule leaves them unbatched. Sharding splits the True leaves over devices;
    auto-reset selects them per env."""
    def leaf(path, _):
        names = [getattr(k, "name", None) for k in path[-2:]]
        return not (names[0] == "_impl" and names[-1] in DATA_NON_VMAP)

    return jax.tree_util.tree_map_with_path(leaf, state)


class Env(abc.ABC):
    """An MJX env with a control step of `config.ctrl_dt` s made of `config.n_substeps` physics
    steps; subclasses set `config` and implement `reset`, `step`, `action_size`."""

    config: Any

    @abc.abstractmethod
    def reset(self, rng: jax.Array) -> State:
        """A fresh state: one env for a key (2,), a batch for keys (B, 2)."""

    @abc.abstractmethod
    def step(self, state: State, action: jax.Array) -> State:
        """The next state after one control step."""

    @property
    @abc.abstractmethod
    def action_size(self) -> int:
        """Actions per env and step."""

    @property
    def dt(self) -> float:
        """Control step, s."""
        return self.config.ctrl_dt

    @property
    def n_substeps(self) -> int:
        """Physics steps per control step."""
        return self.config.n_substeps

    @property
    def observation_size(self) -> int:
        """Observation floats per env (Brax's PPO reads it)."""
        return jax.eval_shape(self.reset, jax.random.PRNGKey(0)).obs.shape[-1]

    @property
    def unwrapped(self) -> "Env":
        return self
