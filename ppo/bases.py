"""Base policies behind one interface: `chunk(env_state) -> (num_envs, horizon, 6)` absolute
joint targets in radians, computed for the whole batch at once. The trainer holds the chunk in
its carry and consumes one entry per control step, refreshing when it is exhausted or the env
resets, so a model is called once per `horizon` steps.

  zero      no base: the env holds the previous target (`active` = 0); the residual does it all
  scripted  the privileged JAX expert (mjx_env.expert); closed loop, so horizon 1 by default
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jp

from mjx_env.expert import ScriptedExpert

BASES = ("zero", "scripted")


@dataclass(frozen=True)
class BasePolicy:
    name: str
    horizon: int  # control steps per chunk
    active: float  # 1: the env follows the chunk; 0: it holds the previous target
    chunk: Callable  # batched env state -> (num_envs, horizon, 6) rad


def make_base(name: str, env, horizon: int | None = None) -> BasePolicy:
    if name == "zero":
        h = horizon or 16
        return BasePolicy("zero", h, 0.0, lambda s: jp.zeros((s.obs.shape[0], h, 6)))
    if name == "scripted":
        h = horizon or 1
        expert = jax.vmap(ScriptedExpert(env))
        return BasePolicy("scripted", h, 1.0,
                          lambda s: jp.repeat(expert(s)[:, None, :], h, axis=1))
    raise ValueError(f"unknown base {name!r}: expected one of {BASES}")
