"""Residual PPO trainer: alpha = 0, resume, NaN guard (tiny networks, a few iterations)."""
import dataclasses
import json

import jax
import jax.numpy as jp
import numpy as np
import pytest

from mjx_env.paper_return import make, set_base
from bridge.base import BasePolicy
from ppo import checkpoint
from ppo import train as train_mod
from ppo.agent import Agent, PPOConfig, hparams
from ppo.checkpoint import latest_checkpoint
from ppo.train import NonFiniteError, RunConfig, make_train, train

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


def interrupt_after(monkeypatch, iteration: int):
    """Make training stop (KeyboardInterrupt, as Ctrl-C) right after checkpoint `iteration`."""
    save = checkpoint.save

    def save_then_interrupt(out, ts, config):
        path = save(out, ts, config)
        if int(ts.iteration) == iteration:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(checkpoint, "save", save_then_interrupt)


def test_resume_is_bit_identical_and_skips_a_damaged_checkpoint(tmp_path, monkeypatch, capsys):
    """Interrupted after iteration 2, checkpoint 2 then damaged (a file cut in half): --resume
    names it, continues from 1, and ends bit-identical to the uninterrupted run."""
    _, straight, _ = train(tiny_run(tmp_path / "a"), TINY, progress=False)
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_run(tmp_path / "b"), TINY, progress=False)
    assert latest_checkpoint(tmp_path / "b").name == "2"
    files = sorted((p for p in latest_checkpoint(tmp_path / "b").rglob("*") if p.is_file()),
                   key=lambda p: p.stat().st_size)
    files[-1].write_bytes(files[-1].read_bytes()[: files[-1].stat().st_size // 2])
    capsys.readouterr()
    _, resumed, history = train(tiny_run(tmp_path / "b"), TINY, resume=True)
    printed = capsys.readouterr()
    assert "checkpoints/2 does not load, skipped: " in printed.out
    assert "resuming from " in printed.out and "checkpoints/1 (iteration 1" in printed.out
    assert "Traceback" not in printed.err
    assert int(resumed.iteration) == 3 and [h["iteration"] for h in history] == [1, 2, 3]
    for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    np.testing.assert_array_equal(np.array(straight.env_state.obs), np.array(resumed.env_state.obs))


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    iteration = Agent.iteration

    def corrupt_at_2(self, ts):  # NaN params after iteration 2, as a diverged update would give
        ts, metrics = iteration(self, ts)
        nan = jp.where(ts.iteration == 2, jp.nan, 1.0)
        return ts.replace(params=jax.tree.map(lambda x: x * nan, ts.params)), metrics

    monkeypatch.setattr(Agent, "iteration", corrupt_at_2)
    with pytest.raises(NonFiniteError, match="params at iteration 2"):
        train(tiny_run(tmp_path), TINY, progress=False)
    assert latest_checkpoint(tmp_path).name == "1"  # iteration 2 was never saved


def test_a_nan_base_is_named_as_the_cause(tmp_path, monkeypatch):
    def nan_base(spec, env, *args):
        return BasePolicy("broken-model", 1, 1.0, lambda s: jp.full((s.obs.shape[0], 1, 6), jp.nan))

    monkeypatch.setattr(train_mod, "make_base", nan_base)
    with pytest.raises(NonFiniteError, match=r"base policy 'broken-model' returned non-finite joint "
                                             r"targets in 16 env steps of iteration 1"):
        train(tiny_run(tmp_path), TINY, progress=False)
    assert latest_checkpoint(tmp_path) is None


def stopped_after_one(tmp_path, monkeypatch, **kw):
    """A 3-iteration run interrupted after its first checkpoint."""
    with monkeypatch.context() as m:
        interrupt_after(m, 1)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_run(tmp_path, **kw), TINY, progress=False)


def test_resume_with_other_settings_is_refused(tmp_path, monkeypatch):
    stopped_after_one(tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="ppo.learning_rate"):
        train(tiny_run(tmp_path), dataclasses.replace(TINY, learning_rate=1.0),
              resume=True, progress=False)


def test_fresh_run_never_overwrites_an_existing_one(tmp_path, monkeypatch):
    stopped_after_one(tmp_path, monkeypatch)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_run(tmp_path), TINY, progress=False)
    assert (tmp_path / "metrics.jsonl").read_text() == before


def test_a_larger_budget_keeps_the_learning_rate_schedule(tmp_path, monkeypatch):
    """--resume --iterations 4 on a 3-iteration run: iterations 2-3 follow the run's schedule,
    iteration 4 runs at its final rate; a run at its budget already is refused."""
    stopped_after_one(tmp_path, monkeypatch)
    _, ts, history = train(tiny_run(tmp_path, iterations=4), TINY, resume=True, progress=False)
    lr = TINY.learning_rate * (1 - (1 - TINY.lr_final_fraction) * np.array([0, 1, 2, 3]) / 3)
    np.testing.assert_allclose([h["learning_rate"] for h in history], np.minimum(lr, lr[0]), rtol=1e-6)
    np.testing.assert_allclose(history[-1]["learning_rate"], TINY.learning_rate * TINY.lr_final_fraction, rtol=1e-6)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["schedule"] == {"lr_decay_iterations": 3} and config["run"]["iterations"] == 4
    with pytest.raises(ValueError, match="at iteration 4 already; pass --iterations > 4"):
        train(tiny_run(tmp_path, iterations=4), TINY, resume=True, progress=False)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_run(tmp_path), TINY, resume=True, progress=False)


def test_vmapped_seeds_equal_separate_runs(tmp_path):
    """make_train: seeds 0 and 1 side by side in one jit = the two runs one at a time (to float
    rounding: batched matmuls sum in another order and Adam's normalisation amplifies it, so
    ~1e-3 after 12 updates, against > 0.05 between the seeds); a learning rate given through
    `hp` changes the run."""
    run = tiny_run(tmp_path, impl="jax")
    agent, train_fn = make_train(run, TINY, copies=2)
    keys = jax.random.split(jax.random.PRNGKey(7), 2)
    both, both_metrics = jax.jit(jax.vmap(train_fn))(keys)
    one = jax.jit(train_fn)
    for i in range(2):
        alone, metrics = one(keys[i])
        for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(both.params)):
            np.testing.assert_allclose(np.array(a), np.array(b[i]), rtol=0, atol=5e-3)
        np.testing.assert_allclose(np.array(metrics["reward_mean"]),
                                   np.array(both_metrics["reward_mean"][i]), rtol=1e-3, atol=1e-5)
    gap = np.abs(np.array(both.params["params"]["Dense_0"]["kernel"][0])
                 - np.array(both.params["params"]["Dense_0"]["kernel"][1])).max()
    assert gap > 0.05  # seeds differ far beyond the tolerance
    # the learning rate is read from `hp` (traced): another value through hp, another run
    lr_hp, _ = one(keys[0], hparams(TINY, learning_rate=3e-3))
    assert np.abs(np.array(lr_hp.params["params"]["Dense_0"]["kernel"])
                  - np.array(both.params["params"]["Dense_0"]["kernel"][0])).max() > 1e-3
