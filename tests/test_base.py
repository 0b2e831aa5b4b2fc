"""Base-policy specs (bridge.base): zero, scripted, scripted with noise, clear errors."""
import jax
import numpy as np
import pytest

from bridge.base import make_base


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
    with pytest.raises(ValueError, match="scripted:<noise>|unknown base|gr00t-server:<host>:<port>"):
        make_base(spec, jax_batch.env)
