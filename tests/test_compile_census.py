"""tools/compile_census.py: the plugin records the compilations of a pytest run; the summary."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tools.compile_census import summary

ROOT = Path(__file__).resolve().parents[1]


def test_summary_counts_seconds_per_test_and_programs_compiled_again():
    events = [dict(ev="write", module="jit_step", key="a", compile_s=30.0, test="t1"),
              dict(ev="read", module="jit_step", key="a", hit=True, test="t2"),
              dict(ev="write", module="jit_step", key="a", compile_s=28.0, test="t3"),
              dict(ev="write", module="jit_reset", key="b", compile_s=2.0, test="t1")]
    text = summary(events)
    assert text.splitlines()[0] == "60 s compiling, 3 programs, 2 tests; 28 s on programs compiled more than once"
    assert "   32.0  t1" in text and "   28.0  t3" in text
    assert "   58.0         2  jit_step" in text


def test_the_plugin_records_a_compilation_and_a_cache_hit(tmp_path):
    (tmp_path / "test_one.py").write_text(
        "import jax, jax.numpy as jp\n"
        "def test_a():\n    jax.jit(lambda x: jp.sin(x) * 3)(jp.ones(3)).block_until_ready()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}  # names the file
    env = {**env, "PYTHONPATH": str(ROOT), "COMPILE_CENSUS": str(tmp_path / "census"),
           "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    for _ in range(2):  # compiled, then loaded from the cache
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tools.compile_census",
                              "-p", "no:cacheprovider", str(tmp_path / "test_one.py")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    events = [json.loads(l) for l in (tmp_path / "census" / "main.jsonl").read_text().splitlines()]
    mine = [e for e in events if e["module"] == "jit__lambda"]
    assert [e["ev"] for e in mine] == ["read", "write", "read"] and mine[-1]["hit"]
    assert all(e["test"].endswith("test_one.py::test_a") for e in mine)
