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


def per_env_spec(tree, num_envs: int):
    """P("envs") for leaves with a leading num_envs axis, P() (replicated) for the rest
    (scalars, MuJoCo Warp's shared buffers)."""
    return jax.tree.map(lambda x: P(AXIS) if np.ndim(x) >= 1 and np.shape(x)[0] == num_envs
                        else P(), tree)


def state_sharding(state_shape, mesh: Mesh):
    """NamedShardings of a `ppo.agent.TrainState` (from `jax.eval_shape`): env state and chunk
    cache split over the envs, everything else replicated."""
    num_envs = state_shape.cache.index.shape[0]
    named = lambda spec: NamedSharding(mesh, spec)  # noqa: E731
    rep = named(P())
    split = lambda t: jax.tree.map(named, per_env_spec(t, num_envs))  # noqa: E731
    return jax.tree.map(lambda _: rep, state_shape).replace(
        env_state=split(state_shape.env_state), cache=split(state_shape.cache))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def per_shard_base(base, mesh: Mesh):
    """`base` whose `chunk(env_state)` runs once per device on that device's envs (a model
    base's torch callback sees its local batch); built-in bases (pure JAX) are returned as
    they are: XLA partitions them with the rest."""
    if base.model is None or mesh.size == 1:
        return base

    def chunk(state):
        spec = per_env_spec(state, state.obs.shape[0])
        return jax.shard_map(base.chunk, mesh=mesh, in_specs=(spec,), out_specs=P(AXIS),
                             check_vma=False)(state)

    return dataclasses.replace(base, chunk=chunk)
