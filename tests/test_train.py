"""`python -m ppo.train`'s command line: every bad value is one line, exit 2, before anything is
created or compiled."""
import pytest

from ppo import train


@pytest.mark.parametrize("argv, message", [
    (["--iterations", "0"], "iterations must be >= 1, got 0"),
    (["--alpha", "inf"], "alpha must be finite, got inf"),
    (["--alpha", "nan"], "alpha must be finite, got nan"),
    (["--alpha", "-0.5"], "alpha >= 0"),
    (["--impl", "cuda"], "unknown MJX impl 'cuda'"),
    (["--base", "nonsense"], "unknown base 'nonsense'"),
    (["--base", "torch:missing.module:w"], "cannot import module 'missing.module'"),
    (["--base", "torch:tests.gr00t_standin:missing.safetensors"], "no build"),
    (["--base", "gr00t:/no/such/dir"], "GR00T checkpoint directory /no/such/dir not found"),
    (["--base", "gr00t-server:localhost:99999"], "port 1..65535"),
    (["--base", "scripted:-1"], "noise std >= 0"),
    (["--learning-rate=-1e-3"], "learning_rate must be > 0"),
    (["--learning-rate", "fast"], "argument --learning-rate: invalid float value: 'fast'"),
    (["--gamma", "1.5"], "gamma must be in (0, 1]"),
    (["--num-envs", "0"], "num_envs must be >= 1"),
    (["--num-minibatches", "0"], "num_minibatches must be in 1..num_envs x unroll_length"),
    (["--checkpoint-every", "0"], "checkpoint_every must be >= 1"),
    (["--keep", "0"], "keep must be >= 1"),
    (["--base-refresh", "always"], "base_refresh must be one of"),
    (["--layout", "nope"], "unknown layout 'nope'"),
])
def test_bad_values_exit_2_in_one_line_creating_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith("ppo.train: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_good_values_parse(tmp_path):
    run, ppo, bridge, args = train.parse(["--base", "scripted:0.05", "--alpha", "1", "--keep", "5",
                                          "--out", str(tmp_path / "run")])
    assert (run.base, run.alpha, run.keep) == ("scripted:0.05", 1.0, 5) and not args.resume
    assert not (tmp_path / "run").exists()
