"""Residual PPO: alpha = 0 adds nothing; make_train vmaps seeds (tiny networks, a few iterations)."""
import jax
import jax.numpy as jp
import numpy as np

from mjx_env.paper_return import make, set_base
from ppo.agent import hparams
from ppo.train import make_train, train
from tiny import TINY, tiny_run

def test_residual_is_exactly_zero_at_alpha_zero():
    env = make(impl="warp", alpha=0.0)  # the control law is both impls': Warp compiles faster
    state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2))
    # a base within one control step of the servo's speed cap (0.157 rad) of the reset setpoint
    base = state.info["last_target"] + jp.array([0.1, -0.1, 0.12, -0.05, 0.08, 0.1])
    action = jax.random.uniform(jax.random.PRNGKey(1), (2, 6), minval=-1, maxval=1)
    nxt = jax.jit(env.step)(set_base(state, base), action)
    np.testing.assert_array_equal(np.array(nxt.info["last_target"]), np.array(base))


def test_vmapped_seeds_equal_separate_runs(tmp_path):
    """make_train: seeds 0 and 1 side by side in one jit = the two runs of `ppo.train.train` one
    at a time (the tiny run's own programs, shared with the other tests), to float rounding:
    batched matmuls sum in another order and Adam's normalisation amplifies it, so ~1e-3 after
    12 updates, against > 0.05 between the seeds; a learning rate given through `hp` changes
    the run (hp is traced: the same program). The vmapped runs come first: `train` clears JAX's
    caches, and the vmapped function traced again afterwards would be compiled again."""
    _, train_fn = make_train(tiny_run(tmp_path), copies=2)
    keys = jp.stack([jax.random.PRNGKey(seed) for seed in (0, 1)])  # train() starts from PRNGKey(seed)
    both_fn = jax.jit(jax.vmap(train_fn))

    def hp(learning_rates):  # every hyperparameter with the copies' axis, the config's values
        return {k: jp.full(2, v) for k, v in hparams(TINY, learning_rate=learning_rates).items()}
    lr = TINY.learning_rate
    both, both_metrics = both_fn(keys, hp([lr, lr]))
    other, _ = both_fn(keys, hp([3e-3, lr]))
    kernel = lambda ts: np.array(ts.params["params"]["Dense_0"]["kernel"])  # noqa: E731
    assert np.abs(kernel(both)[0] - kernel(both)[1]).max() > 0.05  # seeds differ far beyond the tolerance
    # the learning rate is read from `hp` (traced): another value through hp, another run
    assert np.abs(kernel(other)[0] - kernel(both)[0]).max() > 1e-3
    np.testing.assert_array_equal(kernel(other)[1], kernel(both)[1])  # the other copy: unchanged
    for seed in (0, 1):
        _, alone, history = train(tiny_run(tmp_path / str(seed), seed=seed, video=0),
                                  progress=False)
        for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(both.params)):
            np.testing.assert_allclose(np.array(a), np.array(b[seed]), rtol=0, atol=5e-3)
        np.testing.assert_allclose([h["reward_mean"] for h in history],
                                   np.array(both_metrics["reward_mean"][seed]), rtol=1e-3, atol=1e-5)
