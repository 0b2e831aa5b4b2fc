"""Residual PPO: alpha = 0 adds nothing; make_train vmaps seeds (tiny networks, a few iterations)."""
import jax
import jax.numpy as jp
import numpy as np

from mjx_env.paper_return import make, set_base
from ppo.agent import hparams
from ppo.train import make_train
from tiny import TINY, tiny_run

def test_residual_is_exactly_zero_at_alpha_zero():
    env = make(impl="jax", alpha=0.0)
    state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2))
    # a base within one control step of the servo's speed cap (0.157 rad) of the reset setpoint
    base = state.info["last_target"] + jp.array([0.1, -0.1, 0.12, -0.05, 0.08, 0.1])
    action = jax.random.uniform(jax.random.PRNGKey(1), (2, 6), minval=-1, maxval=1)
    nxt = jax.jit(env.step)(set_base(state, base), action)
    np.testing.assert_array_equal(np.array(nxt.info["last_target"]), np.array(base))


def test_vmapped_seeds_equal_separate_runs(tmp_path):
    """make_train: seeds 0 and 1 side by side in one jit = the two runs one at a time (to float
    rounding: batched matmuls sum in another order and Adam's normalisation amplifies it, so
    ~1e-3 after 12 updates, against > 0.05 between the seeds); a learning rate given through
    `hp` changes the run."""
    agent, train_fn = make_train(tiny_run(tmp_path, impl="jax"), copies=2)
    keys = jax.random.split(jax.random.PRNGKey(7), 2)
    both, both_metrics = jax.jit(jax.vmap(train_fn))(keys)
    one = jax.jit(train_fn)
    for i in range(2):  # hp given explicitly (the config's values): one compilation for all calls
        alone, metrics = one(keys[i], hparams(TINY))
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
