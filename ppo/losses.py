"""Generalised advantage estimation and the clipped PPO loss, as pure functions.

Time-major arrays: (T, num_envs). `done` marks the last step of an episode (success, failure or
time limit); `truncation` marks the time-limit ends among them. On a truncation the episode did
not end in the task, so the value of the state reached is bootstrapped (`next_value` holds
V(s_{t+1}) of the state before the auto-reset); on a true termination it is not.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jp


def gae(reward: jax.Array, value: jax.Array, next_value: jax.Array, done: jax.Array,
        truncation: jax.Array, gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets, both (T, N).

    reward, value, done, truncation: (T, N); next_value: (T, N) V of the state after each step
    (before any reset)."""
    terminal = done * (1.0 - truncation)  # success/failure: no future value
    delta = reward + gamma * next_value * (1.0 - terminal) - value

    def back(carry, xs):
        delta_t, done_t = xs
        adv = delta_t + gamma * lam * (1.0 - done_t) * carry  # no credit across episodes
        return adv, adv

    _, adv = jax.lax.scan(back, jp.zeros_like(delta[0]), (delta, done), reverse=True)
    return adv, adv + value


class LossParts(NamedTuple):
    total: jax.Array
    policy: jax.Array
    value: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array


def ppo_loss(log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array,
             value: jax.Array, target: jax.Array, entropy: jax.Array, clip_eps: float,
             vf_coef: float, ent_coef: float, normalize_advantage: bool = True,
             actor_weight: jax.Array | float = 1.0) -> LossParts:
    """Clipped surrogate + value MSE (x0.5) - entropy bonus, averaged over the batch.
    `actor_weight` scales the actor's terms (surrogate and entropy): 0 trains the critic alone
    (the critic warm-up, `PPOConfig.critic_warmup`)."""
    if normalize_advantage:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    log_ratio = log_prob - old_log_prob
    ratio = jp.exp(log_ratio)
    surrogate = jp.minimum(ratio * advantage, jp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantage)
    policy = -surrogate.mean()
    value_loss = 0.5 * jp.mean(jp.square(value - target))
    ent = entropy.mean()
    total = actor_weight * (policy - ent_coef * ent) + vf_coef * value_loss
    approx_kl = jp.mean((ratio - 1.0) - log_ratio)
    clip_fraction = jp.mean(jp.abs(ratio - 1.0) > clip_eps)
    return LossParts(total, policy, value_loss, ent, approx_kl, clip_fraction)
