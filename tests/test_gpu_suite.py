"""benchmarks.gpu_suite: every item at toy size on the CPU (--smoke) writes a well-formed JSON;
the budget skips what cannot fit and a run stopped at the budget keeps its summary; the full
GR00T N1.5 config builds on torch's meta device with a parameter count near the published 3B."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ("a", "b", "c", "d", "e", "f")


def load_suite():
    """The module benchmarks.gpu_suite (imported as `python -m benchmarks.gpu_suite` runs it)."""
    return importlib.import_module("benchmarks.gpu_suite")


def run_suite(tmp_path: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_LEROBOT_HOME": str(tmp_path / "lerobot"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_suite", "--out-dir", str(tmp_path / "out"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


# make test runs the cheap items (a, b, f: ~1.5 min on 2 cores); c, d and e compile whole
# training programs and Brax (~10 min together on 2 cores with a cold cache): they run with
# GPU_SUITE_SMOKE_ALL=1, as `python -m benchmarks.gpu_suite --smoke` does.
SMOKE_ALL = os.environ.get("GPU_SUITE_SMOKE_ALL") == "1"
SMOKE_ITEMS = ITEMS if SMOKE_ALL else ("a", "b", "f")


def _check_common(out: Path, item: str) -> None:
    record = json.loads((out / f"gpu_suite_{item}_cpu.json").read_text())
    assert "error" not in record, (item, record.get("error"), record.get("traceback"))
    assert record["item"] == item and record["smoke"] is True
    assert record["device"]["device_kind"] == "cpu" and record["command"].startswith("python -m benchmarks.gpu_suite")
    for pkg in ("jax", "jaxlib", "mujoco", "mujoco-mjx", "warp-lang", "flax", "optax", "python"):
        assert record["versions"][pkg], (item, pkg)
    assert record["env"]["solver"]["iterations"] >= 1 and record["env"]["impl"] == "warp"
    assert record["settings"] and record["wall_s"] > 0 and record["result"]


def test_smoke_items_write_a_well_formed_json(tmp_path):
    args = ("--smoke",) if SMOKE_ALL else ("--smoke", "--only", ",".join(SMOKE_ITEMS))
    proc = run_suite(tmp_path, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    for item in SMOKE_ITEMS:
        _check_common(out, item)
    a = json.loads((out / "gpu_suite_a_cpu.json").read_text())["result"]
    row = a["per_chunk"][0]
    for key in ("render_s", "handoff_s", "preprocess_s", "model_s", "bridged_chunk_s"):
        assert row[key] >= 0, key
    assert row["bridge_share_of_model"] > 0 and a["gr00t"]["parameters"] > 0
    b = json.loads((out / "gpu_suite_b_cpu.json").read_text())["result"]["rows"][0]
    assert b["env_steps_per_s"] > 0 and b["model_calls_per_iteration"] >= 1
    assert set(b["shares"]) == {"env", "render", "model", "rest"}
    f = json.loads((out / "gpu_suite_f_cpu.json").read_text())["result"]
    assert f["env_alone"][0]["env_steps_per_s"] > 0 and f["training"][0]["env_steps_per_s"] > 0
    if SMOKE_ALL:
        for item in ("c", "d"):
            result = json.loads((out / f"gpu_suite_{item}_cpu.json").read_text())["result"]
            result = result if item == "c" else result["scripted"]
            assert len(result["runs"]) == 1 and result["settings"]["base"] == ("zero" if item == "c" else "scripted:0.05")
        e = json.loads((out / "gpu_suite_e_cpu.json").read_text())["result"]
        assert set(e["results"]) == {"ours", "brax"} and "env_steps_per_s_ours_over_brax" in e["ratios"]
    summary = json.loads((out / "gpu_suite_summary_cpu.json").read_text())
    assert [r["item"] for r in summary["items"]] == [i for i in ("a", "c", "d", "b", "e", "f") if i in SMOKE_ITEMS]
    assert all(r["status"] == "done" for r in summary["items"]), summary["items"]
    assert "item" in proc.stdout and "summary" in proc.stdout  # the table


def test_items_that_cannot_fit_are_skipped_and_said(tmp_path):
    proc = run_suite(tmp_path, "--smoke", "--only", "f,a", "--budget-min", "0.01", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "gpu_suite_summary_cpu.json").read_text())
    assert [(r["item"], r["status"]) for r in summary["items"]] == [("a", "skipped"), ("f", "skipped")]
    assert all("estimated" in r["reason"] for r in summary["items"])
    assert not list((tmp_path / "out").glob("gpu_suite_[a-f]_*.json"))


def test_the_budget_stops_a_running_item_and_keeps_the_summary(tmp_path, monkeypatch):
    gs = load_suite()
    suite = gs.Suite.__new__(gs.Suite)
    args = type("Args", (), {"budget_min": 0.0, "items": ["a", "c"], "cache_dir": None, "smoke": True})()
    suite.args, suite.sizes, suite.smoke, suite.gpu = args, gs.SMOKE, True, False
    suite.device, suite.slug, suite.command = {"device_kind": "cpu"}, "cpu", "python -m benchmarks.gpu_suite"
    suite.out_dir, suite.workdir, suite.memo = tmp_path, tmp_path / "work", {}
    suite.rows = [{"item": "a", "title": gs.TITLES["a"], "status": "done", "wall_s": 1.0, "estimate_s": 1.0,
                   "file": "gpu_suite_a_cpu.json"}]
    suite.lock, suite.done, suite.deadline = threading.Lock(), False, time.monotonic() - 1
    suite.running = ("c", time.monotonic() - 5)
    monkeypatch.setattr(gs.os, "_exit", lambda code: (_ for _ in ()).throw(SystemExit(code)))
    with pytest.raises(SystemExit) as stop:
        gs._watchdog(suite)
    assert stop.value.code == 3
    summary = json.loads((tmp_path / "gpu_suite_summary_cpu.json").read_text())
    assert summary["stopped_at_budget"] is True
    assert [(r["item"], r["status"]) for r in summary["items"]] == [("a", "done"), ("c", "stopped at the budget")]


def test_sizes_are_overridden_and_estimated():
    gs = load_suite()
    sizes = gs._parse_sets(["c.iterations=150", "a.batches=64,256", "d.bc=false"], gs.SIZES)
    assert sizes["c"]["iterations"] == 150 and sizes["a"]["batches"] == [64, 256] and sizes["d"]["bc"] is False
    assert gs.SIZES["c"]["iterations"] == 100  # the defaults are untouched
    with pytest.raises(SystemExit):
        gs._parse_sets(["c.nope=1"], gs.SIZES)
    state, total = {}, 0.0
    for item in ("a", "c", "d", "b"):  # the valuable items fit ~8 minutes of one H100 by the cost model
        total += gs.estimate(item, gs.SIZES[item], True, state)
        state = {"gr00t": True, "warp": True}
    assert 300 < total < 8.5 * 60
    assert gs.estimate("c", {**gs.SIZES["c"], "iterations": 150}, True) > gs.estimate("c", gs.SIZES["c"], True)


def test_full_gr00t_config_on_the_meta_device_is_near_the_published_3b(monkeypatch, tmp_path):
    pytest.importorskip("lerobot")
    monkeypatch.setenv("HF_LEROBOT_HOME", str(tmp_path / "lerobot"))
    count = load_suite().gr00t_param_count()
    assert count["device"] == "meta" and count["llm_layers_kept"] == 12
    assert 2.2e9 < count["parameters"] < 3.2e9, count["parameters"]  # N1.5-3B: "3B" published
    assert abs(count["ratio_to_published"] - count["parameters"] / 3e9) < 1e-12
    assert count["published"]["source"].startswith("https://huggingface.co/nvidia/GR00T-N1.5-3B")
    assert sum(count["by_part"].values()) == count["parameters"]
