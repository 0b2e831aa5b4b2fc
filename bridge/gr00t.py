"""GR00T N1.5 as a chunk model: Isaac-GR00T's stock `Gr00tPolicy`, and a GPU-resident fast path.

Both are callables on GR00T-layout dicts of torch tensors (bridge.torch_base). The stock path
hands numpy to `policy.get_action` (host transforms, re-tokenised text per sample, un-normalised
on the CPU). `FastGr00t` keeps the batch on the device: frames cropped/resized/normalised with
torch ops, state normalised from the checkpoint's `experiment_cfg/metadata.json` statistics,
the task text run through the policy's own transforms once and reused, `policy.model.get_action`
called directly and its `action_pred` un-normalised on the device. It checks itself against the
stock path on its first batch (`verify`) and refuses to run if they differ.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bridge.units import BridgeConfig, KeyLayout

INSTALL_HINT = (
    "the gr00t base needs NVIDIA's Isaac-GR00T package (`import gr00t`), which is not on PyPI: "
    "`git clone https://github.com/NVIDIA/Isaac-GR00T && pip install -e Isaac-GR00T` in this "
    "environment; or keep GR00T in its own environment, serve it there with "
    "`python -m bridge.server --model-path <path>` and train with --base gr00t-server:HOST:PORT")


def load_policy(model_path: str, config: BridgeConfig = BridgeConfig(), device: str | None = None):
    """Isaac-GR00T's `Gr00tPolicy` for a local checkpoint directory (nothing is downloaded)."""
    try:
        from gr00t.experiment.data_config import DATA_CONFIG_MAP
        from gr00t.model.policy import Gr00tPolicy
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    if not Path(model_path).is_dir():
        raise FileNotFoundError(f"GR00T checkpoint directory {model_path} not found (the model hub "
                                "is not reachable here: pass a local path)")
    name = config.data_config_name()
    if name not in DATA_CONFIG_MAP:
        raise ValueError(f"unknown GR00T data config {name!r}"
                         f"{'' if config.data_config else ' (the default: named like --layout)'}"
                         f": expected one of {sorted(DATA_CONFIG_MAP)}; pass --data-config")
    data_config = DATA_CONFIG_MAP[name]
    modality = data_config.modality_config()
    check_modality_keys(modality, config.key_layout(), name, config.layout)
    return Gr00tPolicy(model_path=str(model_path), embodiment_tag=config.embodiment_tag,
                       modality_config=modality,
                       modality_transform=data_config.transform(),
                       denoising_steps=config.denoising_steps,
                       device=device or ("cuda" if torch.cuda.is_available() else "cpu"))


def modality_keys(modality: dict) -> dict[str, tuple[str, ...]]:
    """{"video"|"state"|"action": keys} of an Isaac-GR00T modality config
    ({modality: ModalityConfig(modality_keys=[...])})."""
    return {m: tuple(getattr(modality[m], "modality_keys", ())) for m in ("video", "state", "action")
            if m in modality}


def check_modality_keys(modality: dict, layout: KeyLayout, data_config: str, layout_name: str) -> None:
    """ValueError unless the data config reads and writes exactly the layout's keys."""
    have = modality_keys(modality)
    want = {"video": tuple(k for k, _ in layout.video), "state": tuple(k for k, _, _ in layout.state),
            "action": layout.action_keys()}
    diff = [f"{m}: data config {sorted(have.get(m, ()))} vs layout {sorted(want[m])}"
            for m in want if sorted(have.get(m, ())) != sorted(want[m])]
    if diff:
        raise ValueError(f"GR00T data config {data_config!r} does not match --layout {layout_name}: "
                         f"{'; '.join(diff)} (pass a matching --data-config or --layout)")


def _numpy(obs: dict) -> dict:
    return {k: v.detach().cpu().numpy() if torch.is_tensor(v) else v for k, v in obs.items()}


class StockGr00t:
    """The stock path: `policy.get_action` on host numpy; the chunk goes back to `device`."""

    def __init__(self, policy):
        self.policy = policy

    def __call__(self, obs: dict) -> dict:
        device = next(v.device for v in obs.values() if torch.is_tensor(v))
        out = self.policy.get_action(_numpy(obs))
        return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in out.items()
                if k.startswith("action.")}


@dataclass(frozen=True)
class Gr00tInputs:
    """Where the model's inputs come from. Per batch, on the device: `pixel_key` (B, V, 3, S, S)
    float = (frame / 255 - mean) / std after a centre crop and resize; `state_key` (B, 1, D)
    min-max normalised state, zero padded to D. Every other key of the policy's transformed
    input (text tokens, masks, embodiment id) is computed once from one sample and repeated."""

    pixel_key: str = "pixel_values"
    state_key: str = "state"
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    max_state_dim: int = 64  # the model's padded state width


def read_statistics(model_path: str, embodiment_tag: str) -> dict:
    """{"state": {name: {"min": [...], "max": [...]}}, "action": {...}} from the checkpoint's
    experiment_cfg/metadata.json (names without the "state."/"action." prefix)."""
    path = Path(model_path) / "experiment_cfg" / "metadata.json"
    meta = json.loads(path.read_text())
    if embodiment_tag not in meta:
        raise KeyError(f"{path} has no statistics for embodiment {embodiment_tag!r} "
                       f"(has {sorted(meta)})")
    return meta[embodiment_tag]["statistics"]


def crop_resize(frames: torch.Tensor, crop: float, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float in [0, 1]: centre crop, bilinear resize."""
    x = frames.permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[-2:]
    ch, cw = int(round(h * crop)), int(round(w * crop))
    top, left = (h - ch) // 2, (w - cw) // 2
    x = x[..., top:top + ch, left:left + cw]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class FastGr00t:
    """GPU-resident GR00T call: same inputs and outputs as `StockGr00t`, no host round trip."""

    def __init__(self, policy, layout: KeyLayout, model_path: str, embodiment_tag: str,
                 inputs: Gr00tInputs = Gr00tInputs(), verify: bool = True, atol: float = 1e-4):
        self.policy, self.layout, self.inputs = policy, layout, inputs
        self.stats = read_statistics(model_path, embodiment_tag)
        self.verify, self.atol = verify, atol
        self._constant: dict | None = None

    def _range(self, kind: str, key: str, device) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stats[kind][key.split(".", 1)[1]]
        return (torch.as_tensor(s["min"], dtype=torch.float32, device=device),
                torch.as_tensor(s["max"], dtype=torch.float32, device=device))

    def _constants(self, obs: dict) -> dict:
        """The policy's own transforms on one sample; keep what does not depend on the batch."""
        one = {k: (v[:1] if torch.is_tensor(v) else v[:1]) for k, v in obs.items()}
        transformed = self.policy.apply_transforms(_numpy(one))
        skip = (self.inputs.pixel_key, self.inputs.state_key)
        return {k: torch.as_tensor(np.asarray(v)) for k, v in transformed.items() if k not in skip}

    def __call__(self, obs: dict) -> dict:
        lay = self.layout
        device, batch = obs[lay.state[0][0]].device, obs[lay.state[0][0]].shape[0]
        if self._constant is None:
            self._constant = {k: v.to(device) for k, v in self._constants(obs).items()}
        mean = torch.tensor(self.inputs.image_mean, device=device)[:, None, None]
        std = torch.tensor(self.inputs.image_std, device=device)[:, None, None]
        pixels = torch.stack([(crop_resize(obs[k][:, 0], lay.crop, lay.size) - mean) / std
                              for k, _ in lay.video], dim=1)
        states = []
        for key, _, _ in lay.state:
            lo, hi = self._range("state", key, device)
            states.append(2 * (obs[key][:, 0].float() - lo) / (hi - lo) - 1)
        state = torch.cat(states, -1)[:, None]
        state = F.pad(state, (0, self.inputs.max_state_dim - state.shape[-1]))
        model_in = {k: v.expand(batch, *v.shape[1:]) for k, v in self._constant.items()}
        model_in.update({self.inputs.pixel_key: pixels, self.inputs.state_key: state})
        with torch.inference_mode():
            pred = self.policy.model.get_action(model_in)["action_pred"].float()
        out, start = {}, 0
        for key, a, b in sorted(lay.action, key=lambda k: k[1]):
            lo, hi = self._range("action", key, device)
            out[key] = (pred[..., start:start + b - a] + 1) / 2 * (hi - lo) + lo
            start += b - a
        if self.verify:
            self._check(obs, out)
        return out

    def _check(self, obs: dict, out: dict) -> None:
        stock = StockGr00t(self.policy)(obs)
        worst = max(float((out[k] - stock[k].to(out[k])).abs().max()) for k in out)
        if worst > self.atol:
            raise RuntimeError(f"GR00T fast path differs from the stock path by {worst:.3g} > "
                               f"{self.atol}: check Gr00tInputs for this checkpoint")
        self.verify = False  # checked once, on the first batch
