"""Base-policy specs (bridge.base): zero, scripted, scripted with noise, clear errors, a kind
registered from one file."""
import json
import shutil
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from bridge.base import check_bridge, deploy_runtime, is_model_base, make_base, usage
from bridge.units import BridgeConfig


def test_zero_base_holds(jax_batch):
    base = make_base("zero", jax_batch.env)
    assert base.active == 0.0 and base.horizon == 16
    assert not np.asarray(base.chunk(jax_batch.reset(jax_batch.keys()))).any()


def test_noisy_scripted_base_adds_per_step_noise_of_the_given_std(jax_batch):
    state = jax_batch.reset(jax_batch.keys())
    clean = jax.jit(make_base("scripted", jax_batch.env).chunk)
    noisy = jax.jit(make_base("scripted:0.1", jax_batch.env).chunk)
    diff = np.asarray(noisy(state) - clean(state))[:, 0]
    later = state.replace(data=state.data.replace(time=state.data.time + 1 / 30))
    diff_later = np.asarray(noisy(later) - clean(later))[:, 0]
    assert 0.04 < diff.std() < 0.2 and abs(diff.mean()) < 0.08
    assert not np.allclose(diff, diff_later)  # fresh noise every control step
    np.testing.assert_array_equal(np.asarray(noisy(state)), np.asarray(noisy(state)))  # reproducible


@pytest.mark.parametrize("spec", ["scripted:-1", "scripted:abc", "random", "torch", "gr00t-server:host"])
def test_bad_specs_are_clear_errors(jax_batch, spec):
    with pytest.raises(ValueError, match="scripted:<noise>|unknown base|gr00t-server:<host>:<port>|expected torch:<module>:<weights>"):
        make_base(spec, jax_batch.env)


def test_a_base_kind_from_one_file_trains_and_is_named_everywhere(tmp_path, monkeypatch):
    """tests/still_kind.py, put in bridge/kinds/ (here: a directory added to its path), registers
    `still` when bridge.base looks there; the trainer's command line then takes it as --base, the
    trainer builds it and trains with it (the tiny run: its program is the zero base's, so it
    comes from JAX's cache), the run records it, the messages list it, and the deploy loop refuses
    it in one line (it declares no runtime)."""
    import bridge.kinds
    from bridge import base as base_mod
    from ppo.train import parse, train
    from tiny import tiny_run

    shutil.copy(Path(__file__).with_name("still_kind.py"), tmp_path / "still.py")
    monkeypatch.setattr(bridge.kinds, "__path__", [*bridge.kinds.__path__, str(tmp_path)])
    monkeypatch.setattr(base_mod, "_KINDS", dict(base_mod._KINDS))
    assert "still" not in usage()
    try:
        base_mod._import_other_kinds()
        still = sys.modules["bridge.kinds.still"].Still
        out = tmp_path / "run"
        assert parse(["--base", "still", "--out", str(out)])[0].run.base == "still"
        _, ts, history = train(tiny_run(out, base="still", video=0), progress=False)
        assert still.built >= 1 and len(history) == 3 and int(ts.env_steps) == 3 * 4 * 4
        assert json.loads((out / "config.json").read_text())["run"]["base"] == "still"
        assert usage().endswith(", still") and not is_model_base("still")
        with pytest.raises(ValueError, match="still takes no argument"):
            make_base("still:1", None)
        with pytest.raises(ValueError, match="--gr00t-fast is for --base gr00t:<hub id | dir>, not still"):
            check_bridge("still", BridgeConfig(gr00t_fast=True))
        with pytest.raises(ValueError, match="the deploy loop cannot run this base"):
            deploy_runtime("still")
    finally:
        sys.modules.pop("bridge.kinds.still", None)
