"""What a kind of base must say about itself (`BaseKind`); what a base is: `BasePolicy`.

A base spec is `<kind>[:<argument>]`; `bridge.base` parses it (the one place) and hands the
argument to the kind registered under that name. A kind is one small class in one file:
its validation, its builder for training and evaluation, whether and how the deploy loop can run
it, and the flags it accepts. Model kinds (`model = True`) only load a GR00T-layout callable;
rendering, hand-off and the chunk cache are `bridge.torch_base`'s.
"""
from __future__ import annotations

from typing import Callable

from bridge.base_policy import BasePolicy

__all__ = ["BaseKind", "BasePolicy"]


class BaseKind:
    """One kind of base. Subclasses set `name` and `usage` and override what applies."""

    name: str = ""  # the spec's prefix
    usage: str = ""  # how the spec is written, for messages: "scripted:<noise>"
    model: bool = False  # runs a torch model once per chunk on rendered frames + state
    flags: tuple[str, ...] = ()  # BridgeConfig switches only this kind takes (random_weights, ...)

    def validate(self, spec: str, arg: str) -> None:
        """ValueError unless `arg` is a valid argument; nothing is built or loaded."""
        if arg:
            raise ValueError(f"--base {spec}: {self.name} takes no argument")

    def check(self, spec: str, arg: str, config) -> None:
        """ValueError unless `config` (bridge.units.BridgeConfig) fits this base; before compiling."""

    def build(self, spec: str, arg: str, env, horizon: int | None, refresh: str | None,
              config) -> BasePolicy:
        """The base for a batched `env`. Model kinds: `load_model` behind bridge.torch_base."""
        if not self.model:
            raise NotImplementedError(f"{type(self).__name__}.build")
        from bridge import torch_base  # torch only from here on
        return torch_base.model_base(spec, env, self.load_model(arg, config), config, horizon,
                                     refresh or "sync")

    def load_model(self, arg: str, config, check_frames: bool = True) -> Callable:
        """Model kinds: the GR00T-layout callable (bridge.torch_base). `check_frames` False: the
        caller resizes frames to `frame_sizes` (deploy)."""
        raise NotImplementedError(f"{type(self).__name__}.load_model")

    def frame_sizes(self, model, layout, size: int) -> dict[str, tuple[int, int]]:
        """Model kinds: {camera: (width, height)} the model takes its frames at."""
        return {cam: (size, size) for cam in layout.cameras}

    def deploy_runtime(self, spec: str, arg: str) -> str | None:
        """How the deploy loop runs this base: "hold", "expert", "chunk" (model kinds), or None
        where it cannot; ValueError for an argument only deploy refuses. Nothing is loaded."""
        return "chunk" if self.model else None
