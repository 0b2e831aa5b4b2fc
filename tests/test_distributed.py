"""ppo.distributed: two processes joined by jax.distributed on localhost (CPU) train, checkpoint
and resume; where the cluster description comes from, and its checks."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ppo.distributed import Cluster, resolve

ROOT = Path(__file__).resolve().parents[1]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _processes(out: Path, iterations: int, count: int = 2, extra=()):
    port = _free_port()
    # The tiny run's network and evaluation (tests/tiny.py): its evaluation programs are theirs.
    cmd = [sys.executable, "-m", "ppo.train", "--num-envs", "4", "--num-minibatches", "2",
           "--unroll-length", "4", "--update-epochs", "2", "--hidden", "32", "32",
           "--iterations", str(iterations), "--episode-length", "20", "--eval-episodes", "4",
           "--video", "0", "--checkpoint-every", "1", "--out", str(out), *extra]
    if count > 1:
        cmd += ["--coordinator", f"localhost:{port}", "--num-processes", str(count)]
    procs = [subprocess.Popen(cmd + (["--process-id", str(i)] if count > 1 else []), cwd=ROOT,
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(count)]
    return [(p.returncode, text) for p in procs for text in [p.communicate(timeout=1200)[0]]]


def test_two_processes_train_checkpoint_and_resume(tmp_path):
    """Two processes (one CPU device each) joined by jax.distributed train 2 iterations with a
    checkpoint each; process 0 alone writes the logs; a 2-process resume continues to 3; a
    1-process resume is refused."""
    out = tmp_path / "run"
    for rc, text in _processes(out, 2):
        assert rc == 0, text[-3000:]
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]  # one writer: no duplicated rows
    assert json.loads((out / "config.json").read_text())["distributed"] == {"processes": 2}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["1", "2"]
    (rc, text), = _processes(out, 3, count=1, extra=["--resume"])
    assert rc != 0 and "trained by 2 process(es), this run has 1" in text
    results = _processes(out, 3, extra=["--resume"])
    for rc, text in results:
        assert rc == 0, text[-3000:]
    assert "resuming from" in results[0][1] and "(iteration 2)" in results[0][1]
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3]


@pytest.mark.parametrize("flags, env, match", [
    (Cluster("localhost:1234", None, 0), {}, "missing --num-processes"),
    (Cluster("localhost", 2, 0), {}, "HOST:PORT"),
    (Cluster("localhost:99999", 2, 0), {}, "HOST:PORT"),
    (Cluster("localhost:1234", 2, 2), {}, "--process-id must be in 0..1"),
    (Cluster(), {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two"}, "must be an integer"),
    (Cluster(), {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2"}, "missing --process-id"),
])
def test_a_bad_cluster_description_is_refused(flags, env, match):
    with pytest.raises(ValueError, match=match):
        resolve(flags, env)


def test_where_the_cluster_comes_from():
    assert resolve(Cluster(), {}) is None  # one process
    env = {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
    assert resolve(Cluster(), env) == Cluster("h:1", 2, 1)
    assert resolve(Cluster("f:2", 4, 3), env) == Cluster("f:2", 4, 3)  # flags win
    assert resolve(Cluster(), {"SLURM_NTASKS": "8", "SLURM_STEP_ID": "0"}) == Cluster()  # JAX reads SLURM
    assert resolve(Cluster(), {"SLURM_NTASKS": "1", "SLURM_STEP_ID": "0"}) is None


