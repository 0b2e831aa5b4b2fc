"""`python -m ppo.evaluate` on a tiny run's checkpoint and its export, and its bad-input errors.

The run is the tiny run's initial state saved as its checkpoint (no training), evaluated on 2
envs for 2 episodes of its 20 steps. `python -m ppo.evaluate` is `main()`: the
bad inputs are checked in-process (a subprocess costs ~6 s of imports)."""
import json
import re

import numpy as np
import pytest

from ppo.evaluate_cli import main
from ppo.export import export, find_checkpoint
from ppo import checkpoint
from ppo.train import start
from tiny import tiny_run

FAST = ["--episodes", "2", "--num-envs", "2", "--impl", "warp"]  # tiny run's impl (tests/tiny.py)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run dir holding the initial state of the tiny run as checkpoint 0, as `ppo.train` writes
    it (config.json, checkpoints/0): the CLI's mechanics need no trained policy, and skipping
    the training iteration's compilation saves a minute here."""
    out = tmp_path_factory.mktemp("run")
    agent, ts, config, _ = start(tiny_run(out), False, log=print)
    (out / "config.json").write_text(json.dumps(config))
    checkpoint.save(out, ts, config)
    return out


@pytest.fixture(scope="module")
def results(run_dir, tmp_path_factory):
    """The CLI's results on the run dir and on its export (both written with --out)."""
    tmp = tmp_path_factory.mktemp("eval")
    exported = export(find_checkpoint(run_dir), tmp / "export", log=lambda s: None)
    got = {}
    for name, path in (("run", run_dir), ("export", exported)):
        got[name] = main([str(path), *FAST, "--out", str(tmp / f"{name}.json")])
        assert json.loads((tmp / f"{name}.json").read_text()) == json.loads(json.dumps(got[name]))
    return got


def test_reports_rates_with_cis_return_length_and_plausibility(results):
    r = results["run"]
    assert r["kind"] == "checkpoint" and r["episodes"] == 2 and r["num_envs"] == 2
    assert r["base"] == "zero" and r["impl"] == "warp" and r["seed"] == 1234
    for rate, ci in (("success_rate", "ci95"), ("plausible_success_rate", "plausible_ci95")):
        assert 0 <= r[ci][0] <= r[rate] <= r[ci][1] <= 1
    assert 1 <= r["mean_episode_steps"] <= 20
    assert r["mean_episode_s"] == pytest.approx(r["mean_episode_steps"] / 30)
    assert np.isfinite(r["mean_return"])
    for k in ("arm_depth", "paper_lift", "paper_speed"):
        assert 0 <= r[f"{k}_p95"] <= r[f"{k}_max"]


def test_checkpoint_and_its_export_give_the_same_episodes(results):
    """The export holds the checkpoint's actor: the same deterministic episodes, exactly."""
    skip = ("source", "kind", "wall_s")
    assert {k: v for k, v in results["run"].items() if k not in skip} == \
           {k: v for k, v in results["export"].items() if k not in skip}
    assert results["export"]["kind"] == "export"


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "does not exist"),
    (["{empty}"], "is not a run dir"),
    (["{run}", "--episodes", "0"], "--episodes must be >= 1, got 0"),
    (["{run}", "--episodes", "2", "--video", "3"], r"--video must be in 0..--episodes \(2\), got 3"),
    (["{run}", "--num-envs", "0"], "--num-envs must be >= 1"),
    (["{run}", "--impl", "cuda"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "run": run_dir}
    with pytest.raises(SystemExit) as e:
        main([a.format(**paths) for a in args])  # refused in parse: nothing compiled
    out = capsys.readouterr()
    assert e.value.code == 2 and out.out == ""
    assert len(out.err.strip().splitlines()) == 1, out.err
    assert out.err.startswith("python -m ppo.evaluate: error:") and re.search(message, out.err)
