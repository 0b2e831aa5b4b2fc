"""The chunk cache: one batched base call per chunk, refreshed on exhaustion or reset."""
import math

import jax
import jax.numpy as jp
import numpy as np
import pytest
import torch

from bridge import chunk_cache
from bridge.base import BasePolicy
from bridge.torch_base import model_base
from bridge.units import BridgeConfig
from mjx_env.paper_return import make, set_base
from mjx_env.wrappers import wrap_for_training

H, L, T, N = 4, 10, 25, 3  # chunk horizon, episode length (time-out resets), rollout steps, envs


@pytest.fixture(scope="module")
def env():
    return make(impl="warp", episode_length=L)  # either impl; Warp compiles faster (tests/tiny.py)


def ramp_base(refresh):
    """Chunk k = current joint positions + 0.01 k rad: which refresh made an action is visible."""
    return BasePolicy("ramp", H, 1.0, lambda s: s.obs[:, None, :6] + 0.01 * jp.arange(H)[None, :, None],
                      refresh)


def rollout(env, base):
    wrapped = wrap_for_training(env)

    def step(carry, _):
        state, cache = carry
        cache, action = chunk_cache.next_action(cache, base, state)
        nxt = wrapped.step(set_base(state, action, base.active), jp.zeros((N, 6)))
        cache = chunk_cache.after_step(cache, nxt.done, base.refresh)
        return (nxt, cache), (action, nxt.done, state.info["last_target"], state.obs[:, :6])

    @jax.jit
    def run(key):
        state = wrapped.reset(jax.random.split(key, N))
        (_, cache), trace = jax.lax.scan(step, (state, chunk_cache.init(N, H)), None, T)
        return cache.calls, trace

    calls, trace = run(jax.random.PRNGKey(0))
    return int(calls), [np.asarray(x) for x in trace]


def test_sync_refresh_calls_every_horizon_and_holds_after_reset(env):
    calls, (action, _, last_target, qpos) = rollout(env, ramp_base("sync"))
    assert calls == math.ceil(T / H)
    for t in (L, L + 1):  # reset at L, next boundary at 12: hold the reset pose
        np.testing.assert_array_equal(action[t], last_target[t])
    np.testing.assert_allclose(action[12], qpos[12], atol=1e-6)


def test_torch_model_called_once_per_chunk_and_on_reset(env):
    """The real path (render -> DLPack -> torch -> DLPack) under the per-env rule."""

    def model(obs):  # GR00T layout in and out: chunk k = current state + 0.01 k
        state = obs["state.arm_0"][:, 0]
        return {"action.arm_0": state[:, None, :] + 0.01 * torch.arange(16.0)[None, :, None]}

    config = BridgeConfig(units="sim", render_size=16)
    base = model_base("torch:test", env, model, config, horizon=H, refresh="per_env")
    calls, (action, done, _, qpos) = rollout(env, base)
    assert done[:, 0].nonzero()[0].tolist() == [L - 1, 2 * L - 1]  # time-outs, all envs together
    episodes = [L, L, T - 2 * L]
    assert base.model.calls == calls == sum(math.ceil(n / H) for n in episodes)  # 3 + 3 + 2
    # Each action is entry k of the chunk made at its refresh step from that step's qpos.
    for start in (0, L, 2 * L):
        for t in range(start, min(start + L, T)):
            k = (t - start) % H
            np.testing.assert_allclose(action[t], qpos[t - k] + 0.01 * k, atol=1e-6)
    with pytest.raises(ValueError, match="exceeds the model's chunk"):
        model_base("torch:test", env, model, config, horizon=17)


def test_unknown_refresh_rule_is_refused():
    cache = chunk_cache.init(2, H)
    with pytest.raises(ValueError, match="unknown refresh rule"):
        chunk_cache.after_step(cache, jp.zeros(2), "sometimes")
