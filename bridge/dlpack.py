"""JAX <-> PyTorch without copies (DLPack), eagerly and from inside jitted code.

Eager: `to_torch(jax_array)` / `to_jax(tensor)` share memory on the same device (CPU or CUDA);
DLPack's stream handshake orders the producer's pending work before the consumer reads.

Inside `jit`/`scan`: `torch_call(fn, out_shape)` is a JAX function whose body runs
`fn(*torch_tensors) -> torch.Tensor` on XLA's own device buffers (`buffer_callback`): the inputs
are viewed as torch tensors without a copy and the result is written in place into the output
buffer JAX hands over (on a GPU, on XLA's stream), so nothing round-trips through the host.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import jax
import torch
from jax.experimental.buffer_callback import buffer_callback


def to_torch(x: jax.Array) -> torch.Tensor:
    """A torch view of a JAX array (same memory); keep `x` alive while the view is used."""
    return torch.from_dlpack(x)


def to_jax(t: torch.Tensor) -> jax.Array:
    """A JAX view of a contiguous torch tensor (same memory). A non-contiguous tensor is made
    contiguous first (one copy); JAX arrays are immutable, so do not write `t` afterwards."""
    return jax.dlpack.from_dlpack(t if t.is_contiguous() else t.contiguous())


def same_memory(x: jax.Array, t: torch.Tensor) -> bool:
    return x.unsafe_buffer_pointer() == t.data_ptr()


def _stream(ctx, on_gpu: bool):
    """XLA's CUDA stream as torch's current stream (GPU); nothing to do on a CPU."""
    if on_gpu:
        return torch.cuda.stream(torch.cuda.ExternalStream(ctx.stream))
    return contextlib.nullcontext()


def torch_call(fn: Callable, out: jax.ShapeDtypeStruct) -> Callable:
    """Wrap `fn(*tensors) -> tensor` (shape/dtype `out`) as a jittable JAX function of arrays.
    Inputs are zero-copy torch views of XLA's buffers; the result is copied once, on the
    device, into XLA's output buffer. Not vmappable: call it on the whole batch."""

    def callback(ctx, out_buffer, *inputs):
        target = torch.from_dlpack(out_buffer)
        with _stream(ctx, target.is_cuda), torch.inference_mode():
            result = fn(*[torch.from_dlpack(b) for b in inputs])
            if tuple(result.shape) != tuple(target.shape):
                raise ValueError(f"torch base returned shape {tuple(result.shape)}, "
                                 f"expected {tuple(target.shape)}")
            target.copy_(result.to(device=target.device, dtype=target.dtype))

    return buffer_callback(callback, out, has_side_effect=False)
