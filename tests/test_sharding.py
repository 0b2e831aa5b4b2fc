"""ppo.sharding: the same training on 1, 2 and 4 (forced CPU) devices; the batch checks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppo import sharding
from ppo.train import parse

ROOT = Path(__file__).resolve().parents[1]
PARAMS_ATOL = 1e-5  # float32: the cross-device sums change the order of additions (~3e-7 seen)


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def test_one_two_and_four_devices_train_the_same_parameters(tmp_path):
    """Same global batch (4 envs) and seed: the envs are split 4/1, 2/2 and 1/1/1/1 over forced
    CPU devices; after 2 iterations the parameters agree within PARAMS_ATOL."""
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "sharded_runs.py"), str(tmp_path), "1", "2", "4"],
                         env=_env(), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = {r["devices"]: r for r in map(json.loads, (l for l in out.stdout.splitlines() if l.startswith("{")))}
    assert sorted(runs) == [1, 2, 4]
    for n, r in runs.items():
        assert r["env_state_devices"] == [n]  # every per-env array is spread over n devices
        assert r["params_replicated"] and r["env_steps"] == 2 * 4 * 4
    one = [np.asarray(p) for p in runs[1]["params"]]
    for n in (2, 4):
        diff = max(float(np.abs(a - np.asarray(b)).max()) for a, b in zip(one, runs[n]["params"]))
        assert diff < PARAMS_ATOL, (n, diff)
    assert not np.allclose(one[0], 0)  # trained, not an untouched initialisation


def test_a_model_base_runs_once_per_device_on_its_envs():
    """A host-callback base (as torch model bases are) under per_shard_base, 8 envs on 2 forced
    devices: the host sees two batches of 4 (not one of 8), and the chunk is the same."""
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "sharded_callback.py")], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["seen"] == [4, 4] and result["equal"] and result["out_devices"] == 2


def test_a_warp_run_on_several_devices_is_told_its_physics_is_not_split():
    assert sharding.unsplit_physics("jax", 4, 16) is None
    assert sharding.unsplit_physics("warp", 1, 16) is None
    assert "every device steps all 16 envs" in sharding.unsplit_physics("warp", 2, 16)


def test_envs_must_split_evenly_and_devices_exist():
    with pytest.raises(ValueError, match="multiple of the device count"):
        sharding.check_batch(6, 4)
    with pytest.raises(ValueError, match="--devices must be in 1..1"):
        sharding.make_mesh(2)
    with pytest.raises(SystemExit):
        parse(["--devices", "2"])
