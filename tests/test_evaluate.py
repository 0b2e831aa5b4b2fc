"""Training-curve arithmetic of ppo.evaluate: windowed rates and the first 80% crossing."""
import numpy as np

from ppo.evaluate import first_reach, windowed_rate


def test_windowed_rate_weights_episodes_over_the_window():
    # iteration: 4 successes of 4, none ended, 0 of 6 (a time-out wave), 3 of 3
    rates = np.array([1.0, np.nan, 0.0, 1.0])
    episodes = np.array([4, 0, 6, 3])
    got = windowed_rate(rates, episodes, window=2)
    np.testing.assert_allclose(got, [np.nan, 1.0, 0.0, 3 / 9])  # NaN: no whole window yet
    np.testing.assert_allclose(windowed_rate(rates, episodes, window=4)[-1], 7 / 13)
    assert np.isnan(windowed_rate(rates, episodes, window=10)).all()
    assert windowed_rate(np.array([np.nan, np.nan]), np.array([0, 0]), 1).tolist() == [0.0, 0.0]


def test_first_reach_needs_the_window_not_one_lucky_iteration():
    history = [{"iteration": i + 1, "env_steps": 100 * (i + 1), "wall_s": 2.0 * (i + 1),
                "plausible_success_rate": r, "episodes": n}
               for i, (r, n) in enumerate([(1.0, 1), (0.0, 9), (0.9, 10), (0.9, 10), (None, 0)])]
    # one iteration at a time, the first (one quick success) already counts as 100%
    assert first_reach(history, window=1) == {"iteration": 1, "env_steps": 100, "wall_s": 2.0,
                                              "target": 0.8}
    reach = first_reach(history, window=3)  # from iteration 3: 10/20, 18/29, 18/20
    assert reach == {"iteration": 5, "env_steps": 500, "wall_s": 10.0, "target": 0.8}
    assert first_reach(history[:4], window=3) is None


def test_the_base_alone_is_never_filtered_a_residual_is(jax_batch):
    """`bridge.rollout` asks for the setpoint filter exactly where a residual runs; the
    evaluation's base-alone episodes (`on` = 0, the same program) and a rollout without a
    residual send the base unfiltered."""
    import jax.numpy as jp

    from bridge import chunk_cache, rollout
    from bridge.base_policy import BasePolicy
    from mjx_env import outcome
    from ppo.evaluate import _programs

    class Still:  # the env's state passes through: the flag the step was asked for is kept
        config = jax_batch.env.config

        def step(self, state, action):
            return state

    n = jax_batch.num_envs
    base = BasePolicy("const", 1, 1.0, lambda s: jp.full((n, 1, 6), 0.1))
    state = jax_batch.place(jp.array([0.2, 0.1, 0.0005, 1.0, 0.0, 0.0, 0.0]))
    carry = rollout.Carry(state, chunk_cache.init(n, 1), outcome.start(state))
    flag = lambda c: np.asarray(c.state.info["base_filtered"])  # noqa: E731
    zero = lambda params, s, a: jp.zeros_like(a)  # noqa: E731
    assert (flag(rollout.step(Still(), base, None, carry)[0]) == 0).all()
    assert (flag(rollout.step(Still(), base, lambda s, a: zero(None, s, a), carry)[0]) == 1).all()
    _, segment, _ = _programs(Still(), base, n, zero)
    assert (flag(segment(None, jp.float32(0.0), carry)[0]) == 0).all()
    assert (flag(segment(None, jp.float32(1.0), carry)[0]) == 1).all()
    _, segment, _ = _programs(Still(), base, n, None)
    assert (flag(segment(None, jp.float32(1.0), carry)[0]) == 0).all()
