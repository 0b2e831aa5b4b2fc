"""Torch chunk policies as bases: render -> DLPack -> model -> DLPack, inside the jitted rollout.

A chunk model is any callable `model(obs) -> output` on GR00T-layout dicts of torch tensors
(bridge.units.KeyLayout): `video.*` (B, 1, H, W, 3) uint8, `state.*` (B, 1, d) robot units and
the task text list; the output holds `action.*` (B, 16, d) absolute targets in robot units.
`ChunkModel` wraps it with the layout and unit conversion; `model_base` makes it a BasePolicy
whose refresh renders every env and calls the model once for the batch (bridge.dlpack).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jp
import torch

from bridge.base import BasePolicy, server_address
from bridge.dlpack import torch_call
from bridge.render import Renderer
from bridge.units import BridgeConfig, JointUnits, KeyLayout


class ChunkModel:
    """(frames {camera: (B, H, W, 3) uint8}, state (B, 6) sim rad) -> (B, horizon, 6) sim rad,
    all torch tensors on the model's device. Counts its calls."""

    def __init__(self, model: Callable, layout: KeyLayout, units: JointUnits, task: str):
        self.model, self.layout, self.units, self.task = model, layout, units, task
        self.calls = 0

    def __call__(self, frames: dict, state: torch.Tensor) -> torch.Tensor:
        for cam in self.layout.cameras:
            f = frames[cam]
            if f.dtype != torch.uint8 or f.ndim != 4 or f.shape[-1] != 3:
                raise ValueError(f"camera {cam!r}: expected (B, H, W, 3) uint8 frames, got "
                                 f"{tuple(f.shape)} {f.dtype}")
        obs = self.layout.observation(frames, self.units.to_robot(state.float()), self.task)
        output = self.model(obs)
        self.calls += 1
        chunk = self.layout.chunk(output, int(state.shape[0]))
        chunk = torch.as_tensor(chunk, device=state.device).float()
        return self.units.to_sim(chunk)


def model_base(name: str, env, model: Callable, config: BridgeConfig, horizon: int | None = None,
               refresh: str = "sync", renderer: Renderer | None = None) -> BasePolicy:
    """A BasePolicy calling `model` (GR00T-layout callable) once per refresh for all envs."""
    layout, units = config.key_layout(), config.joint_units()
    h = horizon or layout.horizon
    if h > layout.horizon:
        raise ValueError(f"base horizon {h} exceeds the model's chunk of {layout.horizon} steps")
    cams = tuple(dict.fromkeys(layout.cameras))
    renderer = renderer or Renderer(env, cams, config.render_size)
    host = ChunkModel(model, layout, units, config.task)
    call = torch_call(lambda *args: host(dict(zip(cams, args[:-1])), args[-1])[:, :h],
                      jax.ShapeDtypeStruct((env.num_envs, h, 6), jp.float32))

    def chunk(state):
        frames = renderer(state)
        return call(*[frames[c] for c in cams], state.obs[:, :6])

    return BasePolicy(name, h, 1.0, chunk, refresh, model=host)


def load_state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_torch_module(module: str, weights: str | None) -> torch.nn.Module:
    """`importlib.import_module(module).build(**config)` with the state dict at `weights`
    (config: `<weights stem>.json` beside it, if present). Eval mode, CUDA when available."""
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"--base torch:{module}:...: cannot import {module!r} ({e})") from e
    if not hasattr(mod, "build"):
        raise AttributeError(f"module {module!r} has no build(**config) -> torch.nn.Module")
    config = {}
    if weights:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(f"--base torch: weights file {path} does not exist")
        cfg_path = path.with_suffix(".json")
        config = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    net = mod.build(**config)
    if weights:
        net.load_state_dict(load_state_dict(Path(weights)))
    return net.to("cuda" if torch.cuda.is_available() else "cpu").eval()


def load_model(kind: str, rest: str, config: BridgeConfig) -> Callable:
    """The GR00T-layout callable for a base spec `<kind>:<rest>` (see bridge.base)."""
    if kind == "torch":
        module, _, weights = rest.partition(":")
        return load_torch_module(module, weights or None)
    if kind == "gr00t":
        from bridge import gr00t
        return gr00t.StockGr00t(gr00t.load_policy(rest, config))
    from bridge.server import Gr00tClient
    return Gr00tClient(*server_address(rest))
