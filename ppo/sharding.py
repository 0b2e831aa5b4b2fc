"""Data-parallel training over devices with `jax.sharding`: envs split, the update replicated.

A 1-D `Mesh` named "envs" over the first `devices` devices (all processes' devices after
`jax.distributed.initialize`). The training state's per-env leaves (env state, chunk cache:
leading axis = num_envs) are split over it; params, optimiser state, normaliser, RNG and
counters are replicated. The jitted iteration is the same program as on one device: XLA
partitions it (GSPMD), so each device steps its envs, the loss is a mean over the global batch
(its gradient is all-reduced across devices), and the random numbers are those of one device
(`jax_threefry_partitionable`: each shard draws its own part of the global stream without
communication). So 1, 2 or 4 devices give the same parameters for the same global batch and
seed, up to the float order of the cross-device sums. Model bases (a torch callback) run per
shard on their device's envs (`shard_map`).
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from bridge import chunk_cache
from mjx_env.env_base import per_env

AXIS = "envs"


def make_mesh(devices: int | None = None) -> Mesh:
    """A mesh over the first `devices` of `jax.devices()` (None: all of them, every process's)."""
    avail = jax.devices()
    n = len(avail) if devices is None else devices
    if not 1 <= n <= len(avail):
        raise ValueError(f"--devices must be in 1..{len(avail)} (the {jax.default_backend()} "
                         f"devices here), got {n}")
    return Mesh(np.array(avail[:n]), (AXIS,))


def check_batch(num_envs: int, devices: int) -> None:
    """ValueError unless the envs split evenly over the devices (before anything compiles);
    minibatches are drawn from the global batch, so they need no such rule."""
    if num_envs % devices:
        raise ValueError(f"num_envs ({num_envs}) must be a multiple of the device count "
                         f"({devices}): each device steps num_envs / devices envs")


def unsplit_physics(impl: str, devices: int, num_envs: int) -> str | None:
    """What to tell the user of a run whose physics XLA cannot split over its devices (None
    where it can): MuJoCo Warp's step is one FFI call without a partitioning rule, so GSPMD
    gathers every env onto each device for it (measured on 2 forced CPU devices: the call's
    operands carry the global batch), while the jax impl's XLA code is split."""
    if impl != "warp" or devices == 1:
        return None
    return (f"note: impl=warp on {devices} devices: XLA cannot split MuJoCo Warp's physics call, "
            f"so every device steps all {num_envs} envs (more devices add no physics throughput; "
            "--impl jax is split; docs/scaling.md)")


def _specs(per_env_leaves):
    """P("envs") where a tree of bools says a leaf has the env axis first, P() (replicated)
    elsewhere."""
    return jax.tree.map(lambda split: P(AXIS) if split else P(), per_env_leaves)


def state_sharding(state_shape, mesh: Mesh):
    """NamedShardings of a `ppo.agent.TrainState` (from `jax.eval_shape`): the env state's
    per-env leaves (as the env declares them: `mjx_env.env_base.per_env`) and the chunk cache's
    (`bridge.chunk_cache.PER_ENV`) split over the envs, everything else replicated."""
    named = lambda spec: NamedSharding(mesh, spec)  # noqa: E731
    rep = named(P())
    return jax.tree.map(lambda _: rep, state_shape).replace(
        env_state=jax.tree.map(named, _specs(per_env(state_shape.env_state))),
        cache=jax.tree.map(named, _specs(chunk_cache.PER_ENV)))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def split_envs(mesh: Mesh) -> NamedSharding:
    """An array with the env axis first, split over the mesh."""
    return NamedSharding(mesh, P(AXIS))


def per_shard_base(base, mesh: Mesh):
    """`base` whose `chunk(env_state)` runs once per device on that device's envs (a model
    base's torch callback sees its local batch); built-in bases (pure JAX) are returned as
    they are: XLA partitions them with the rest."""
    if base.model is None or mesh.size == 1:
        return base

    def chunk(state):
        spec = _specs(per_env(state))
        return jax.shard_map(base.chunk, mesh=mesh, in_specs=(spec,), out_specs=P(AXIS),
                             check_vma=False)(state)

    return dataclasses.replace(base, chunk=chunk)
