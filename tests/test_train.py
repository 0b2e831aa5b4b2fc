"""ppo.train: the command line (every bad value is one line, exit 2, before anything is created
or compiled), resume (bit-identical, past a damaged checkpoint, the learning-rate schedule),
the NaN guards (the base named as the cause), never overwriting a run."""
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jp
import numpy as np
import pytest

from bridge.base import BasePolicy
from ppo import checkpoint
from ppo import train as train_mod
from ppo.checkpoint import latest_checkpoint
from ppo.train import NonFiniteError, check_finite, train
from tiny import TINY, tiny_run

@pytest.mark.parametrize("argv, message", [
    (["--iterations", "0"], "iterations must be >= 1, got 0"),
    (["--alpha", "inf"], "alpha must be finite, got inf"),
    (["--alpha", "nan"], "alpha must be finite, got nan"),
    (["--alpha", "-0.5"], "alpha >= 0"),
    (["--impl", "cuda"], "unknown MJX impl 'cuda'"),
    (["--base", "nonsense"], "unknown base 'nonsense'"),
    (["--base", "torch:missing.module:w"], "cannot import module 'missing.module'"),
    (["--base", "torch:gr00t_standin:missing.safetensors"], "no build"),
    (["--base", "gr00t:/no/such/dir"], "GR00T checkpoint directory /no/such/dir not found"),
    (["--base", "gr00t-server:localhost:99999"], "port 1..65535"),
    (["--base", "scripted:-1"], "finite noise std >= 0"),
    (["--base", "scripted:inf"], "finite noise std >= 0"),
    (["--learning-rate=-1e-3"], "learning_rate must be > 0"),
    (["--learning-rate", "fast"], "argument --learning-rate: invalid float value: 'fast'"),
    (["--gamma", "1.5"], "gamma must be in (0, 1]"),
    (["--num-envs", "0"], "num_envs must be >= 1"),
    (["--num-minibatches", "0"], "num_minibatches must be in 1..num_envs x unroll_length"),
    (["--num-minibatches", "7"], "and divide it (no sample dropped)"),
    (["--checkpoint-every", "0"], "checkpoint_every must be >= 1"),
    (["--keep", "0"], "keep must be >= 1"),
    (["--select-every", "-1"], "select_every must be >= 0 (0: no selection)"),
    (["--select-episodes", "0"], "select_episodes must be >= 1"),
    (["--base-refresh", "always"], "base_refresh must be one of"),
    (["--layout", "nope"], "unknown layout 'nope'"),
])
def test_bad_values_exit_2_in_one_line_creating_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train_mod.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith("python -m ppo.train: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_good_values_parse(tmp_path):
    cfg, args = train_mod.parse(["--base", "scripted:0.05", "--alpha", "1", "--keep", "5",
                                          "--out", str(tmp_path / "run")])
    assert (cfg.run.base, cfg.env.alpha, cfg.run.keep) == ("scripted:0.05", 1.0, 5) and not args.resume
    assert not (tmp_path / "run").exists()


def test_every_config_field_has_a_flag():
    """The CLI is generated from TrainConfig: env and nested randomisation fields, tuples and
    booleans included; with no flags it is the config's defaults (CPU counts on a CPU)."""
    from ppo.config import CPU_DEFAULTS, TrainConfig, with_values
    cfg, _ = train_mod.parse(["--paper-yaw-noise", "0.2", "--hidden", "64", "64", "--no-randomization-enabled",
                              "--randomization-kp-scale", "0.9", "1.1", "--terminate-implausible",
                              "--units", "lerobot_degrees"])
    assert cfg.env.paper_yaw_noise == 0.2 and cfg.ppo.hidden == (64, 64) and cfg.env.terminate_implausible
    assert not cfg.env.randomization.enabled and cfg.env.randomization.kp_scale == (0.9, 1.1)
    assert cfg.bridge.units == "lerobot_degrees"
    default, _ = train_mod.parse([])
    assert default == with_values(TrainConfig(), **CPU_DEFAULTS, iterations=train_mod.CPU_ITERATIONS)


def interrupt_after(monkeypatch, iteration: int):
    """Make training stop (KeyboardInterrupt, as Ctrl-C) right after checkpoint `iteration`."""
    save = checkpoint.save

    def save_then_interrupt(out, ts, config):
        path = save(out, ts, config)
        if int(ts.iteration) == iteration:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(checkpoint, "save", save_then_interrupt)


# The tiny run (tests/tiny.py) as flags, none of them at its default: the run that the
# resume test interrupts and continues with the command the interruption prints.
TINY_FLAGS = ["--num-envs", "4", "--unroll-length", "4", "--num-minibatches", "2",
              "--update-epochs", "2", "--hidden", "32", "32", "--iterations", "3",
              "--episode-length", "20", "--checkpoint-every", "1", "--eval-episodes", "4",
              "--video", "0", "--select-every", "2", "--select-episodes", "4", "--impl", "warp"]
SELECT = dict(select_every=2, select_episodes=4)  # evaluated at iterations 2 and 3


def test_resume_with_the_printed_command_is_bit_identical_past_a_damaged_checkpoint(
        tmp_path, monkeypatch, capsys):
    """`python -m ppo.train` with non-default flags, interrupted (Ctrl-C) after iteration 2;
    checkpoint 2 then damaged (its data files cut in half); the command the interruption printed
    (`--resume --out <dir>`, no other flag) names the damaged checkpoint, continues from 1 with
    every setting from config.json, and ends bit-identical to the uninterrupted run, its
    selection record (selection.json: the base alone, evaluated once before the interruption,
    and the evaluations) identical too."""
    _, straight, _ = train(tiny_run(tmp_path / "a", video=0, **SELECT), progress=False)
    out = tmp_path / "b"
    assert train_mod.parse([*TINY_FLAGS, "--out", str(out)])[0] == tiny_run(out, video=0, **SELECT)
    finished = []
    monkeypatch.setattr(train_mod, "report", lambda agent, ts, history, cfg: finished.append(
        (ts, history, cfg)))
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        with pytest.raises(SystemExit) as stop:
            train_mod.main([*TINY_FLAGS, "--out", str(out)])
    assert latest_checkpoint(out).name == "2" and not finished
    hint = str(stop.value.code)
    assert hint.startswith("python -m ppo.train: interrupted; the last checkpoint is ")
    command = shlex.split(hint.split("continue with: ")[1])
    assert command == ["python", "-m", "ppo.train", "--resume", "--out", str(out)]
    # every OCDBT data file cut in half (which of them holds the arrays, and which file is the
    # largest, differs between machines; metadata files orbax does not need may be cut unnoticed)
    data = [p for p in latest_checkpoint(out).rglob("*") if p.is_file() and p.parent.name == "d"]
    assert data
    for p in data:
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    capsys.readouterr()
    train_mod.main(command[3:])
    printed = capsys.readouterr()
    assert "checkpoints/2 does not load, skipped: " in printed.out
    assert "resuming from " in printed.out and "checkpoints/1 (iteration 1" in printed.out
    assert "Traceback" not in printed.err
    assert "selection: the base alone" not in printed.out  # kept from before the interruption
    (resumed, history, cfg), = finished
    assert cfg == tiny_run(out, video=0, **SELECT)  # every setting from config.json
    want, got = (json.loads((d / "selection.json").read_text()) for d in (tmp_path / "a", out))
    assert [e["iteration"] for e in got["evaluations"]] == [2, 3] and got == want
    assert int(resumed.iteration) == 3 and [h["iteration"] for h in history] == [1, 2, 3]
    for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    np.testing.assert_array_equal(np.array(straight.env_state.obs), np.array(resumed.env_state.obs))


def test_nan_guard_names_what_is_not_finite():
    """check_finite runs before each checkpoint (the NaN-base run below shows that nothing is
    saved after it fires); here: NaN params and a NaN loss are named, episode metrics are not."""
    ts = SimpleNamespace(iteration=jp.int32(2), params={"w": jp.array([1.0, jp.nan])})
    with pytest.raises(NonFiniteError, match="non-finite loss, params at iteration 2"):
        check_finite(ts, {"loss": np.float32(np.nan), "episode_return": np.nan, "nan_base": 0})
    check_finite(SimpleNamespace(iteration=jp.int32(2), params={"w": jp.ones(2)}),
                 {"loss": np.float32(1.0), "success_rate": np.nan, "nan_base": 0})


def test_a_nan_base_is_named_as_the_cause(tmp_path, monkeypatch):
    def nan_base(spec, env, *args):
        return BasePolicy("broken-model", 1, 1.0, lambda s: jp.full((s.obs.shape[0], 1, 6), jp.nan))

    monkeypatch.setattr(train_mod, "make_base", nan_base)
    with pytest.raises(NonFiniteError, match=r"base policy 'broken-model' returned non-finite joint "
                                             r"targets in 16 env steps of iteration 1"):
        train(tiny_run(tmp_path), progress=False)
    assert latest_checkpoint(tmp_path) is None


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A 3-iteration run interrupted after its first checkpoint; tests copy it."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    with pytest.MonkeyPatch.context() as m:
        interrupt_after(m, 1)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_run(out), progress=False)
    return out


def copy_of(run_dir, tmp_path):
    return shutil.copytree(run_dir, tmp_path / "run")


def test_resume_with_other_settings_is_refused_before_compiling(stopped_run, tmp_path, monkeypatch):
    out = copy_of(stopped_run, tmp_path)
    monkeypatch.setattr(train_mod, "build", None)  # refused before the env or agent is built
    with pytest.raises(ValueError, match="ppo.learning_rate"):
        train(tiny_run(out, learning_rate=1.0), resume=True, progress=False)


def test_fresh_run_never_overwrites_an_existing_one(stopped_run, tmp_path):
    out = copy_of(stopped_run, tmp_path)
    before = (out / "metrics.jsonl").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_run(out), progress=False)
    assert (out / "metrics.jsonl").read_text() == before


def test_a_larger_budget_keeps_the_learning_rate_schedule(stopped_run, tmp_path):
    """--resume --iterations 4 on a 3-iteration run: iterations 2-3 follow the run's schedule,
    iteration 4 runs at its final rate; a run at its budget already is refused."""
    out = copy_of(stopped_run, tmp_path)
    _, ts, history = train(tiny_run(out, iterations=4), resume=True, progress=False)
    lr = TINY.learning_rate * (1 - (1 - TINY.lr_final_fraction) * np.array([0, 1, 2, 3]) / 3)
    np.testing.assert_allclose([h["learning_rate"] for h in history], np.minimum(lr, lr[0]), rtol=1e-6)
    np.testing.assert_allclose(history[-1]["learning_rate"], TINY.learning_rate * TINY.lr_final_fraction, rtol=1e-6)
    config = json.loads((out / "config.json").read_text())
    assert config["schedule"] == {"lr_decay_iterations": 3} and config["run"]["iterations"] == 4
    assert [p.name for p in checkpoint.checkpoints(out)] == ["4", "3", "2"]  # --keep 3
    with pytest.raises(ValueError, match="at iteration 4 already; pass --iterations > 4"):
        train(tiny_run(out, iterations=4), resume=True, progress=False)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_run(tmp_path), resume=True, progress=False)
    for out in (tmp_path, tmp_path / "missing"):  # the CLI: one line, exit 2
        with pytest.raises(SystemExit) as stop:
            train_mod.main(["--resume", "--out", str(out)])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1
        assert err.startswith(f"python -m ppo.train: error: --resume: {out} holds no run to resume")


def test_resume_takes_every_setting_from_the_run_and_checks_only_given_flags(
        stopped_run, tmp_path, capsys, monkeypatch):
    """Flags not given come from config.json (not this device's defaults); given ones may
    change the budget and outputs; any other change is refused in one line, exit 2, before
    anything is built. A missing config.json falls back to the checkpoint's copy."""
    out = copy_of(stopped_run, tmp_path)
    assert train_mod.resume_config(["--resume", "--out", str(out)]) == tiny_run(out)
    cfg = train_mod.resume_config(["--resume", "--out", str(out), "--iterations", "5", "--keep", "1",
                                   "--num-envs", "4", "--hidden", "32", "32"])  # same values: fine
    assert cfg == tiny_run(out, iterations=5, keep=1)
    monkeypatch.setattr(train_mod, "build", None)
    for flags, named in ((["--num-envs", "32"], "--num-envs 32 (the run has 4)"),
                         (["--hidden", "64", "--alpha", "0.5"], "--alpha 0.5 (the run has 0.7); "
                                                                "--hidden (64,) (the run has (32, 32))"),
                         (["--no-randomization-enabled"], "--randomization-enabled False")):
        with pytest.raises(SystemExit) as stop:
            train_mod.main(["--resume", "--out", str(out), *flags])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1 and named in err, err
    (out / "config.json").unlink()
    assert train_mod.resume_config(["--resume", "--out", str(out)]) == tiny_run(out)


def test_the_trainer_imports_no_export_evaluation_cli_or_video():
    """The trainer core: `ppo.train` imports none of the export, `python -m ppo.evaluate`'s
    command line or the video writer (the end-of-run report loads the video writer when asked)."""
    code = ("import sys, ppo.train; print(sorted(m for m in ('ppo.export', 'ppo.evaluate_cli', "
            "'ppo.video') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "[]", r.stdout + r.stderr
