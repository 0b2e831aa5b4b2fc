"""Base policies behind one interface: `chunk(env_state) -> (num_envs, horizon, 6)` absolute
joint targets in sim radians, computed for the whole batch at once. The trainer holds the chunk
in a `bridge.chunk_cache.ChunkCache` and consumes one entry per control step.

A base is named by a spec `<kind>[:<argument>]`, parsed here and nowhere else. Each kind is
one class in one file (`bridge.kinds`): the built-in ones are

  zero                       no base: the env holds the previous target (`active` 0)
  scripted[:<noise>]         the privileged JAX expert (mjx_env.expert), closed loop, horizon 1;
                             with <noise>, plus Gaussian noise of that std in rad per joint and step
  torch:<module>:<weights>   any torch chunk policy (bridge.kinds.torch_module)
  gr00t:<hub id | dir>       a GR00T N1.5 checkpoint in its own format, by hub id or directory;
                             `gr00t` alone with --random-weights (bridge.kinds.gr00t)
  gr00t-server:<host>:<port> a GR00T inference server in another process (bridge.server)

and `register(kind)` adds another (a `bridge.kinds.kind.BaseKind`) from its own file. Model
bases (torch, gr00t*) render frames and call torch only inside the chunk refresh, so the model
runs once per chunk; torch is imported only when one is asked for.
"""
from __future__ import annotations

from bridge.kinds import BUILTIN
from bridge.kinds.kind import BaseKind, BasePolicy

__all__ = ["BaseKind", "BasePolicy", "UnknownBase", "register", "kind_of", "usage", "is_model_base",
           "make_base", "check_spec", "check_bridge", "deploy_runtime"]

_KINDS: dict[str, BaseKind] = {k.name: k for k in BUILTIN}
_FLAG_NAMES = {"random_weights": "--random-weights", "gr00t_fast": "--gr00t-fast"}


class UnknownBase(ValueError):
    """A spec whose kind no registered kind has."""


def register(kind: BaseKind) -> BaseKind:
    """Make `kind` nameable in every --base (train, evaluate, export, deploy); returns it."""
    if not kind.name or ":" in kind.name:
        raise ValueError(f"a base kind needs a name without ':', got {kind.name!r}")
    _KINDS[kind.name] = kind
    return kind


def usage() -> str:
    """Every kind's spec, for messages: "zero, scripted[:<noise>], ..."."""
    return ", ".join(k.usage for k in _KINDS.values())


def kind_of(spec: str) -> tuple[BaseKind, str]:
    """(kind, argument) of `spec`, validated (ValueError naming the problem); nothing loaded."""
    name, _, arg = spec.partition(":")
    if name == "lerobot-groot":
        from pathlib import Path

        from bridge.lerobot_groot import LEGACY_SPEC
        missing = "" if Path(arg).is_dir() else f"model directory {arg} not found, and "
        raise ValueError(f"--base {spec}: {missing}{LEGACY_SPEC}")
    kind = _KINDS.get(name)
    if kind is None:
        raise UnknownBase(f"unknown base {spec!r}: expected one of {usage()}")
    kind.validate(spec, arg)
    return kind, arg


def is_model_base(spec: str) -> bool:
    """True for a base that runs a model per chunk (torch, gr00t, gr00t-server); not scripted:<noise>."""
    kind = _KINDS.get(spec.partition(":")[0])
    return bool(kind and kind.model)


def check_spec(spec: str) -> str:
    """`spec` if `make_base` can build it, else ValueError naming the problem: the kind is known
    and its argument valid (a torch module imports and has `build`, a weights file exists; a
    GR00T checkpoint is `check_bridge`'s, which knows --random-weights). Nothing is built."""
    kind_of(spec)
    return spec


def check_bridge(spec: str, config):
    """`config` (bridge.units.BridgeConfig) if it fits the base `spec`, else ValueError naming the problem; run it with
    `check_spec` before anything is built or compiled: the bridge fields' own ranges
    (`BridgeConfig.validate`), switches only some kinds take (--random-weights, --gr00t-fast),
    and the kind's own check (gr00t: the checkpoint and its Eagle assets)."""
    config.validate()
    kind, arg = kind_of(spec)
    for field, flag in _FLAG_NAMES.items():
        if getattr(config, field) and field not in kind.flags:
            takers = " or ".join(f"--base {k.usage}" for k in _KINDS.values() if field in k.flags)
            raise ValueError(f"{flag} is for {takers}, not {spec}")
    kind.check(spec, arg, config)
    return config


def make_base(spec: str, env, horizon: int | None = None, refresh: str | None = None,
              config=None) -> BasePolicy:
    """The base named by `spec` (see the module docstring) for a batched `env`; `config`: the
    bridge.units.BridgeConfig (default: its defaults)."""
    from bridge.units import BridgeConfig
    config = config or BridgeConfig()
    kind, arg = kind_of(spec)
    if kind.model:
        check_bridge(spec, config)
    return kind.build(spec, arg, env, horizon, refresh, config)


def deploy_runtime(spec: str) -> str:
    """How the deploy loop runs `spec`: "hold", "expert" or "chunk" (deploy.bases), else
    ValueError naming the problem; nothing is loaded."""
    try:
        kind, arg = kind_of(spec)
    except UnknownBase:
        raise ValueError(f"--base {spec!r}: expected {usage()}") from None
    runtime = kind.deploy_runtime(spec, arg)
    if runtime is None:
        raise ValueError(f"--base {spec!r}: the deploy loop cannot run this base")
    return runtime


def _import_other_kinds() -> None:
    """Import every other module in bridge/kinds/: a kind's own file registers itself there, so
    adding a base is adding one file."""
    import importlib
    import pkgutil

    import bridge.kinds
    known = {type(k).__module__ for k in BUILTIN} | {"bridge.kinds.kind"}
    for module in pkgutil.iter_modules(bridge.kinds.__path__, "bridge.kinds."):
        if module.name not in known:
            importlib.import_module(module.name)


_import_other_kinds()
