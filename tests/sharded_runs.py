"""Run by tests/test_sharding.py in a fresh process with 4 forced CPU devices: the tiny run for
2 iterations (no video) on 1, 2 and 4 of them; prints one JSON line per device count. (Its
programs cannot come from the other tests' compilation cache: JAX keys a program with the
process's device count, measured.)"""
import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
sys.path.insert(0, os.path.dirname(__file__))

import json  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from tiny import tiny_run  # noqa: E402
from ppo.train import train  # noqa: E402

out = sys.argv[1]
for n in map(int, sys.argv[2:]):
    run = tiny_run(f"{out}/{n}", iterations=2, checkpoint_every=2, devices=n, video=0, impl="jax")
    _, ts, history = train(run, progress=False)
    shards = {len(x.sharding.device_set) for x in jax.tree.leaves(ts.env_state) if np.ndim(x)}
    print(json.dumps({"devices": n, "params": [np.asarray(p).tolist() for p in jax.tree.leaves(ts.params)],
                      "env_state_devices": sorted(shards),
                      "params_replicated": all(p.sharding.is_fully_replicated for p in jax.tree.leaves(ts.params)),
                      "env_steps": int(ts.env_steps), "loss": [h["loss"] for h in history]}), flush=True)
