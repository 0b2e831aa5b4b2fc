"""Behaviour cloning of the vision chunk policy (bridge.bc_policy) on recorded demonstrations.

    python -m bc.train --demos data/demos --out bases/bc [--steps 4000] [--units paper_return]

Reads bc.demos' layout (sim radians), converts state and chunks to the robot `--units`
(bridge.units presets; the units a GR00T fine-tune sees), fits the normalisation, and trains
with MSE on normalised chunk offsets, random-shift image augmentation and AdamW + cosine decay.
A held-out 10% of the episodes gives the validation loss. Writes, atomically, into `--out`:
  policy.safetensors   the state dict (weights + normalisation buffers)
  policy.json          build(**config) arguments (layout, units, size, horizon, widths)
  train.json           losses per logged step, data/optimiser settings, demo meta, seconds
Then: `--base torch:bridge.bc_policy:<out>/policy.safetensors --render-size <size>`.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from bc.demos import load_episode
from bridge.atomic import atomic_directory
from bridge.bc_policy import BCPolicy
from bridge.units import UNITS


@dataclass(frozen=True)
class BCConfig:
    steps: int = 3000  # optimiser steps
    batch: int = 128
    lr: float = 1e-3  # peak, cosine-decayed to 0
    weight_decay: float = 1e-4
    shift: int = 4  # px, random-shift augmentation (pad + random crop), 0 = off
    val_fraction: float = 0.1  # of episodes, held out
    seed: int = 0
    units: str = "paper_return"  # bridge.units preset the policy sees
    hidden: int = 256
    only_success: bool = True  # clone the expert's plausibly successful episodes only


def load_demos(path: str | Path, units: str, only_success: bool = False) -> dict:
    """The episodes of a bc.demos directory (all, or the plausibly successful ones: the
    meta's `plausible_success`, or `success` in demos recorded before it) as stacked arrays:
    top/wrist (N, S, S, 3) uint8, state (N, 6) and chunk (N, 16, 6) in `units`, episode (N,)."""
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{path} is not a demos directory (no meta.json); make it with "
                                "`python -m bc.demos --episodes N --out {path}`")
    meta = json.loads(meta_path.read_text())
    if units not in UNITS:
        raise ValueError(f"unknown units {units!r}: expected one of {sorted(UNITS)}")
    convert = UNITS[units]()
    parts = {k: [] for k in ("top", "wrist", "state", "chunk", "episode")}
    for i in range(meta["episodes"]):
        if only_success and not meta.get("plausible_success", meta["success"])[i]:
            continue
        ep = load_episode(path / f"episode_{i:05d}.npz")
        for k in ("top", "wrist"):
            parts[k].append(ep[k])
        parts["state"].append(convert.to_robot(ep["state"]).astype(np.float32))
        parts["chunk"].append(convert.to_robot(ep["chunk"]).astype(np.float32))
        parts["episode"].append(np.full(len(ep["state"]), i))
    data = {k: np.concatenate(v) for k, v in parts.items()}
    data["meta"] = meta
    return data


def random_shift(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """(B, C, S, S): each image shifted by up to `pad` px (edge padding, then a random crop)."""
    if pad == 0:
        return x
    b, _, s, _ = x.shape
    x = F.pad(x, (pad,) * 4, mode="replicate")
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (oy[:, None] + torch.arange(s))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(s))[:, None, None, :]
    return x[torch.arange(b)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
             rows, cols]


def _pixels(data: dict, idx: np.ndarray, cameras: tuple[str, ...]) -> torch.Tensor:
    """(B, 3 * cameras, S, S) in [0, 1]: the cameras stacked in the policy layout's order."""
    frames = np.concatenate([data[cam][idx] for cam in cameras], axis=-1)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def fit(data: dict, config: BCConfig = BCConfig(), progress: bool = True,
        log_every: int = 100) -> tuple[BCPolicy, dict]:
    """Train a BCPolicy on `load_demos` output; returns (policy in eval mode, history)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    size = data["top"].shape[1]
    horizon = data["chunk"].shape[1]
    episodes = np.unique(data["episode"])
    n_val = int(round(config.val_fraction * len(episodes))) if len(episodes) > 1 else 0
    val_eps = rng.choice(episodes, n_val, replace=False)
    is_val = np.isin(data["episode"], val_eps)
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)

    policy = BCPolicy("paper_return", config.units, size, horizon, hidden=config.hidden)
    state = data["state"][train_idx]
    delta = data["chunk"][train_idx] - state[:, None]
    stats = {"state_mean": state.mean(0), "state_std": state.std(0) + 1e-3,
             "delta_mean": delta.mean(0), "delta_std": delta.std(0) + 1e-3}
    for k, v in stats.items():
        getattr(policy, k).copy_(torch.from_numpy(v.astype(np.float32)))

    def loss_on(idx, augment):
        pixels = _pixels(data, idx, policy.layout.cameras)
        if augment:
            pixels = random_shift(pixels, config.shift, gen)
        s = torch.from_numpy(data["state"][idx])
        target = (torch.from_numpy(data["chunk"][idx]) - s[:, None] - policy.delta_mean) \
            / policy.delta_std
        return F.mse_loss(policy.predict(pixels, s), target)

    opt = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, config.steps) / config.steps)))
    history = {"step": [], "train_loss": [], "val_loss": []}
    running, start = [], time.perf_counter()
    bar = tqdm(range(1, config.steps + 1), desc="bc", disable=not progress)
    for step in bar:
        policy.train()
        loss = loss_on(rng.choice(train_idx, config.batch), augment=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % log_every == 0 or step == config.steps:
            policy.eval()
            with torch.no_grad():
                val = [loss_on(val_idx[i:i + 512], False).item() * len(val_idx[i:i + 512])
                       for i in range(0, len(val_idx), 512)]
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(running)))
            history["val_loss"].append(float(np.sum(val) / len(val_idx)) if len(val_idx) else None)
            running = []
            bar.set_postfix(train=f"{history['train_loss'][-1]:.4f}",
                            val=f"{history['val_loss'][-1] or float('nan'):.4f}")
    history.update(seconds=round(time.perf_counter() - start, 1), train_samples=len(train_idx),
                   val_samples=len(val_idx), val_episodes=sorted(int(e) for e in val_eps))
    return policy.eval(), history


def save(policy: BCPolicy, out: str | Path, info: dict, force: bool = False) -> Path:
    """policy.safetensors + policy.json + train.json into `out`, atomically."""
    from safetensors.torch import save_file

    with atomic_directory(out, force) as tmp:
        save_file({k: v.contiguous() for k, v in policy.state_dict().items()},
                  str(tmp / "policy.safetensors"))
        (tmp / "policy.json").write_text(json.dumps(policy.config, indent=1))
        (tmp / "train.json").write_text(json.dumps(info, indent=1))
    return Path(out) / "policy.safetensors"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bc.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--demos", required=True, help="a bc.demos directory")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    for f in BCConfig.__dataclass_fields__.values():
        kind = type(f.default)
        p.add_argument(f"--{f.name.replace('_', '-')}", default=f.default,
                       type=(lambda v: v.lower() in ("1", "true", "yes")) if kind is bool else kind)
    a = p.parse_args(argv)
    config = BCConfig(**{f: getattr(a, f) for f in BCConfig.__dataclass_fields__})
    if Path(a.out).exists() and not a.force:
        p.error(f"{a.out} exists; pass --force to replace it")
    data = load_demos(a.demos, config.units, config.only_success)
    print(f"{len(data['state'])} frames from {len(np.unique(data['episode']))} episodes "
          f"({data['top'].shape[1]} px, units {config.units})")
    policy, history = fit(data, config)
    info = {"config": asdict(config), "demos": str(a.demos), "history": history,
            "demo_meta": {k: v for k, v in data["meta"].items() if k not in ("lengths", "success", "plausible_success")}}
    path = save(policy, a.out, info, force=a.force)
    print(f"val loss {history['val_loss'][-1]}, {history['seconds']} s -> {path}\n"
          f"use: --base torch:bridge.bc_policy:{path} --render-size {policy.size} "
          f"--units {config.units}")


if __name__ == "__main__":
    main()
