"""Actor-critic networks (Flax) and a running observation normaliser, as pure functions.

The policy input is [obs (25), base action (6)]: the policy sees the base joint target it
corrects. The actor outputs the mean (6,) and log-std (6,) of a Gaussian over a pre-squash
variable u; the residual is tanh(u) in (-1, 1) (a tanh-squashed Gaussian, as Brax's
NormalTanhDistribution), so the action is bounded by construction: no mean can drift far past
a clip, and the entropy of the squashed distribution is bounded, so an entropy bonus cannot
blow the std up either. The deterministic residual is tanh(mean). The actor's last layer
starts near zero, so training starts from the base policy's behaviour. The critic is a
separate MLP.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jp

from mjx_env.task import OBS_SIZE

ACTION_SIZE = 6  # joint targets, order mjx_env.scene.ARM_JOINTS
POLICY_INPUT = OBS_SIZE + ACTION_SIZE  # observation + base action: the network's input


class RunningStats(NamedTuple):
    """Welford mean/variance of policy inputs, (D,) each; saved with the checkpoint."""

    count: jax.Array
    mean: jax.Array
    m2: jax.Array


def init_stats(dim: int) -> RunningStats:
    return RunningStats(jp.float32(1e-4), jp.zeros(dim), jp.ones(dim) * 1e-4)


def update_stats(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch (B, D) into the running statistics (Chan et al. parallel update)."""
    n = batch.shape[0]
    b_mean = batch.mean(0)
    b_m2 = ((batch - b_mean) ** 2).sum(0)
    total = stats.count + n
    delta = b_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.m2 + b_m2 + delta**2 * stats.count * n / total
    return RunningStats(total, mean, m2)


def normalize(stats: RunningStats, x: jax.Array, clip: float = 10.0) -> jax.Array:
    std = jp.sqrt(stats.m2 / stats.count + 1e-8)
    return jp.clip((x - stats.mean) / std, -clip, clip)


class ActorCritic(nn.Module):
    action_dim: int = 6
    hidden: Sequence[int] = (256, 256)
    init_log_std: float = -1.0
    head_scale: float = 0.01  # actor output layer init scale: residual mean ~ 0 at start

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """x (..., 31) normalised -> (mean (..., 6), log_std (6,), value (...))."""
        a = x
        for width in self.hidden:
            a = nn.swish(nn.Dense(width, kernel_init=nn.initializers.orthogonal(jp.sqrt(2)))(a))
        mean = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(self.head_scale),
                        bias_init=nn.initializers.zeros)(a)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        c = x
        for width in self.hidden:
            c = nn.swish(nn.Dense(width, kernel_init=nn.initializers.orthogonal(jp.sqrt(2)))(c))
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(c)[..., 0]
        return mean, log_std, value


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Sum over the last axis of the diagonal Gaussian log-density."""
    z = (action - mean) * jp.exp(-log_std)
    return jp.sum(-0.5 * z**2 - log_std - 0.5 * jp.log(2 * jp.pi), axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    return jp.sum(log_std + 0.5 * jp.log(2 * jp.pi * jp.e), axis=-1)


def squash(u: jax.Array) -> jax.Array:
    """Pre-squash variable (..., 6) -> residual action (..., 6) in (-1, 1)."""
    return jp.tanh(u)


def tanh_log_det_jacobian(u: jax.Array) -> jax.Array:
    """sum over the last axis of log |d tanh(u) / du| = log(1 - tanh(u)^2), in the stable form
    2 (log 2 - u - softplus(-2u))."""
    return jp.sum(2.0 * (jp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def squashed_log_prob(mean: jax.Array, log_std: jax.Array, u: jax.Array) -> jax.Array:
    """log-density of the action tanh(u) (..., ) under the tanh-squashed Gaussian; taking u
    (not the action) avoids atanh of a saturated action."""
    return gaussian_log_prob(mean, log_std, u) - tanh_log_det_jacobian(u)


def squashed_entropy(log_std: jax.Array, u: jax.Array) -> jax.Array:
    """One-sample estimate of the squashed distribution's entropy, u drawn from N(mean, std):
    H[tanh(U)] = H[U] + E[log |d tanh / du|] (the estimator Brax uses)."""
    return gaussian_entropy(log_std) + tanh_log_det_jacobian(u)
