"""`zero`: no base; the env holds the previous target (`active` 0)."""
from __future__ import annotations

from bridge.kinds.kind import BaseKind, BasePolicy


class Zero(BaseKind):
    name, usage = "zero", "zero"

    def build(self, spec, arg, env, horizon, refresh, config) -> BasePolicy:
        import jax.numpy as jp

        from bridge.units import CHUNK_HORIZON

        h = horizon or CHUNK_HORIZON
        return BasePolicy("zero", h, 0.0, lambda s: jp.zeros((s.obs.shape[0], h, 6)), refresh or "per_env")

    def deploy_runtime(self, spec: str, arg: str) -> str:
        return "hold"
