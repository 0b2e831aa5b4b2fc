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

from bridge.dlpack import torch_call
from bridge.base_policy import BasePolicy
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
               refresh: str = "sync", renderer: Renderer | None = None, probe: bool = True
               ) -> BasePolicy:
    """A BasePolicy calling `model` (GR00T-layout callable) once per refresh for all envs. The
    batch size comes from the traced state (`state.obs.shape[0]`), so one base serves any batch.
    `probe`: call the model once now, eagerly, on a 2-env synthetic batch, so a key, shape or
    fast-path mismatch is an error here, before anything is compiled."""
    layout, units = config.key_layout(), config.joint_units()
    h = horizon or layout.horizon
    if h > layout.horizon:
        raise ValueError(f"base horizon {h} exceeds the model's chunk of {layout.horizon} steps")
    cams = tuple(dict.fromkeys(layout.cameras))
    renderer = renderer or Renderer(env, cams, config.render_size)
    host = ChunkModel(model, layout, units, config.task)
    if probe:
        probe_model(host, cams, config.render_size)

    def call(*args):
        return host(dict(zip(cams, args[:-1])), args[-1])[:, :h]

    def chunk(state):
        frames = renderer(state)
        out = jax.ShapeDtypeStruct((state.obs.shape[0], h, 6), jp.float32)
        return torch_call(call, out)(*[frames[c] for c in cams], state.obs[:, :6])

    return BasePolicy(name, h, 1.0, chunk, refresh, model=host)


def probe_model(host: "ChunkModel", cams: tuple[str, ...], size: int, batch: int = 2) -> None:
    """One eager call of `host` on a synthetic batch (random frames, joints inside their
    ranges): the model's output keys and shapes checked against the layout (and a fast path
    against its stock path) before compiling. The call is not counted in `host.calls`."""
    from bridge.units import sim_range
    from mjx_env.scene import ARM_JOINTS
    g = torch.Generator().manual_seed(0)
    device = _device(host.model)
    frames = {c: torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=g).to(device)
              for c in cams}
    lo, hi = (torch.tensor([sim_range(j)[i] for j in ARM_JOINTS]) for i in (0, 1))
    state = (lo + (hi - lo) * (0.25 + 0.5 * torch.rand(batch, 6, generator=g))).to(device)
    try:
        with torch.inference_mode():
            chunk = host(frames, state)
    except (KeyError, ValueError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise ValueError(f"the base model failed its first (probe) batch, before compiling: {msg}") from e
    if not torch.isfinite(chunk).all():
        raise ValueError("the base model returned non-finite joint targets on its probe batch")
    host.calls = 0
    after = getattr(host.model, "after_probe", None)
    if after is not None:  # a fast path checks itself again on the first real batch
        after()


def _device(model) -> str:
    for obj in (model, getattr(model, "model", None)):
        if isinstance(obj, torch.nn.Module):
            return next(obj.parameters()).device.type
    return "cuda" if torch.cuda.is_available() else "cpu"


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
