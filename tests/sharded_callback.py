"""Run by tests/test_sharding.py in a fresh process with 2 forced CPU devices: a model-like base
(a host callback, as a torch model base is) wrapped by `ppo.sharding.per_shard_base` and called
under jit on 8 envs split over the 2 devices; prints the batch sizes the host saw and the chunk."""
import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import json  # noqa: E402
from typing import NamedTuple  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from bridge.base import BasePolicy  # noqa: E402
from ppo import sharding  # noqa: E402

seen = []


class State(NamedTuple):  # the part of an env state a model base reads here
    obs: jax.Array


def host(obs):
    seen.append(int(obs.shape[0]))
    return np.repeat(np.asarray(obs)[:, None, :6], 16, axis=1).astype(np.float32)


def chunk(state):
    out = jax.ShapeDtypeStruct((state.obs.shape[0], 16, 6), jp.float32)
    return jax.pure_callback(host, out, state.obs, vmap_method="expand_dims")


base = BasePolicy("model", 16, 1.0, chunk, "sync", model=object())
mesh = sharding.make_mesh(2)
wrapped = sharding.per_shard_base(base, mesh)
obs = jax.device_put(jp.arange(8 * 25, dtype=jp.float32).reshape(8, 25), NamedSharding(mesh, P("envs")))
out = jax.block_until_ready(jax.jit(lambda o: wrapped.chunk(State(o)))(obs))  # both shards ran
calls = sorted(seen)
want = np.repeat(np.asarray(obs)[:, None, :6], 16, axis=1)
print(json.dumps({"seen": calls, "equal": bool(np.array_equal(np.asarray(out), want)),
                  "out_devices": len(out.sharding.device_set)}))
