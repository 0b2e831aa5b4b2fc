"""Brax's own PPO trains on the env through our wrappers (a few iterations, CPU).

One evaluation, at the end (num_evals=1): Brax compiles its evaluation unroll again for the
evaluation before training (another ~100 s of compiling on the jax impl, measured), which tests
Brax, not the env."""
import jax
import numpy as np

from ppo.config import PPOConfig
from ppo.brax_baseline import from_ppo_config, train


def test_brax_ppo_runs_on_paper_return():
    ppo = PPOConfig(num_envs=4, unroll_length=5, num_minibatches=2, hidden=(64, 64))
    # impl="warp", the GPU default, where Brax's PPO is compared: it compiles faster (tests/tiny.py)
    make_policy, params, history = train(from_ppo_config(ppo), timesteps=400, episode_length=20,
                                         num_evals=1, impl="warp")
    steps = [s for s, _ in history]
    assert len(steps) == 1 and steps[0] >= 400  # evaluated once, after the training
    last = history[-1][1]
    assert np.isfinite(last["eval/episode_reward"])
    assert "eval/episode_success" in last and "eval/episode_reward/progress" in last
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
    policy = make_policy(params, deterministic=True)
    action, _ = policy(np.zeros((1, 25), np.float32), jax.random.PRNGKey(0))
    assert action.shape == (1, 6) and np.abs(np.asarray(action)).max() <= 1.0
