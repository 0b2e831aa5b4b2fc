"""Residual PPO trainer: alpha = 0, resume, NaN guard (tiny networks, a few iterations)."""
import dataclasses

import jax
import jax.numpy as jp
import numpy as np
import pytest

from mjx_env.paper_return import make, set_base
from ppo.agent import PPOConfig
from ppo.train import NonFiniteError, RunConfig, latest_checkpoint, train

TINY = PPOConfig(num_envs=4, unroll_length=4, num_minibatches=2, update_epochs=2, hidden=(32, 32))


def tiny_run(tmp_path, **kw):
    """Every run has the same budget (3 iterations; the LR schedule depends on it), so all
    compile the same program once and later ones hit JAX's compilation cache."""
    return RunConfig(**{"iterations": 3, "episode_length": 20, "checkpoint_every": 1,
                        "eval_episodes": 4, "out": str(tmp_path), **kw})


def test_residual_is_exactly_zero_at_alpha_zero():
    env = make(num_envs=2, impl="jax", alpha=0.0)
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 2))
    # a base within one control step of the servo's speed cap (0.157 rad) of the reset setpoint
    base = state.info["last_target"] + jp.array([0.1, -0.1, 0.12, -0.05, 0.08, 0.1])
    action = jax.random.uniform(jax.random.PRNGKey(1), (2, 6), minval=-1, maxval=1)
    nxt = jax.jit(jax.vmap(env.step))(set_base(state, base), action)
    np.testing.assert_array_equal(np.array(nxt.info["last_target"]), np.array(base))


def test_resume_is_bit_identical(tmp_path):
    _, straight, _ = train(tiny_run(tmp_path / "a"), TINY, progress=False)
    train(tiny_run(tmp_path / "b"), TINY, progress=False, stop_at=2)  # interrupted
    assert latest_checkpoint(tmp_path / "b").name == "2"
    _, resumed, history = train(tiny_run(tmp_path / "b"), TINY, resume=True, progress=False)
    assert int(resumed.iteration) == 3 and [h["iteration"] for h in history] == [1, 2, 3]
    for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    np.testing.assert_array_equal(np.array(straight.env_state.obs), np.array(resumed.env_state.obs))


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    run = tiny_run(tmp_path)
    with pytest.raises(NonFiniteError, match="params at iteration 2"):
        train(run, TINY, progress=False, corrupt_at=2)
    assert latest_checkpoint(tmp_path).name == "1"  # iteration 2 was never saved


def test_resume_with_other_settings_is_refused(tmp_path):
    train(tiny_run(tmp_path), TINY, progress=False, stop_at=1)
    with pytest.raises(ValueError, match="ppo.learning_rate"):
        train(tiny_run(tmp_path), dataclasses.replace(TINY, learning_rate=1.0),
              resume=True, progress=False)


def test_fresh_run_never_overwrites_an_existing_one(tmp_path):
    train(tiny_run(tmp_path), TINY, progress=False, stop_at=1)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_run(tmp_path), TINY, progress=False)
    assert (tmp_path / "metrics.jsonl").read_text() == before


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_run(tmp_path), TINY, resume=True, progress=False)
