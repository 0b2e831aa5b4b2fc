"""A base kind from one file, as a user adds one: `still`, the arm holds its previous target
(like `zero`, written here independently). In bridge/kinds/ it is imported and registered
with bridge.base; tests/test_base.py puts it there for one test."""
from bridge.base import register
from bridge.kinds.kind import BaseKind, BasePolicy


class Still(BaseKind):
    name, usage = "still", "still"
    built = 0  # how often the trainer built it

    def build(self, spec, arg, env, horizon, refresh, config) -> BasePolicy:
        import jax.numpy as jp
        Still.built += 1
        h = horizon or 16
        return BasePolicy(spec, h, 0.0, lambda s: jp.zeros((s.obs.shape[0], h, 6)), refresh or "per_env")


register(Still())
