"""JAX <-> torch hand-off without copies (bridge.dlpack)."""
import jax
import jax.numpy as jp
import numpy as np
import torch

from bridge.dlpack import same_memory, to_jax, to_torch, torch_call


def test_jax_to_torch_shares_memory():
    frames = jp.arange(2 * 8 * 8 * 3, dtype=jp.uint8).reshape(2, 8, 8, 3)
    t = to_torch(frames)
    assert same_memory(frames, t) and t.dtype == torch.uint8 and tuple(t.shape) == (2, 8, 8, 3)
    np.testing.assert_array_equal(t.numpy(), np.asarray(frames))


def test_torch_to_jax_shares_memory():
    chunk = torch.randn(4, 16, 6)
    x = to_jax(chunk)
    assert same_memory(x, chunk) and x.dtype == jp.float32 and x.shape == (4, 16, 6)
    np.testing.assert_array_equal(np.asarray(x), chunk.numpy())
    strided = chunk[:, ::2]  # not contiguous: one copy, still correct
    np.testing.assert_array_equal(np.asarray(to_jax(strided)), strided.numpy())


def test_torch_call_inside_jit_runs_only_when_the_condition_holds():
    seen = []

    def model(frames, state):
        seen.append((frames.dtype, tuple(frames.shape)))
        return state[:, None, :].repeat(1, 16, 1) + frames.float().mean(dim=(1, 2, 3))[:, None, None]

    call = torch_call(model, jax.ShapeDtypeStruct((3, 16, 6), jp.float32))

    @jax.jit
    def rollout(frames, state):
        def step(total, t):
            chunk = jax.lax.cond(t % 4 == 0, lambda: call(frames, state + t), lambda: jp.zeros((3, 16, 6)))
            return total + chunk[:, 0, 0].sum(), None
        return jax.lax.scan(step, jp.float32(0), jp.arange(10))[0]

    frames = jp.full((3, 8, 8, 3), 2, jp.uint8)
    total = rollout(frames, jp.zeros((3, 6)))
    assert len(seen) == 3 and seen[0] == (torch.uint8, (3, 8, 8, 3))  # t = 0, 4, 8
    assert float(total) == 3 * ((0 + 2) + (4 + 2) + (8 + 2))
