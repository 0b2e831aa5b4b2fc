"""A stand-in for Isaac-GR00T's `Gr00tPolicy` (N1.5): same constructor and `get_action`, the same
inner steps (`apply_transforms` on the host, `model.get_action` -> normalised `action_pred`
padded to 32 dims, un-normalisation after `.cpu()`), and outputs known in closed form:

    action_pred[b, k, j] = state_norm[b, j] + 0.01 k + 0.001 pixel_mean[b] + 0.001 text_mean

so chunk step k = unnormalise(...) of the state the policy was given. It reads its statistics
from `<model_path>/experiment_cfg/metadata.json` as the real one does (`write_checkpoint`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bridge.gr00t import crop_resize

MAX_STATE_DIM, MAX_ACTION_DIM, HORIZON = 64, 32, 16


def write_checkpoint(path: Path, layout, embodiment: str = "new_embodiment", span: float = 4.0) -> Path:
    """A checkpoint dir with metadata.json min/max statistics for `layout`'s keys."""
    stats = {kind: {key.split(".", 1)[1]: {"min": [-span / 2 - 0.1 * j for j in range(b - a)],
                                           "max": [span / 2 + 0.2 * j for j in range(b - a)]}
                    for key, a, b in getattr(layout, kind)} for kind in ("state", "action")}
    (path / "experiment_cfg").mkdir(parents=True, exist_ok=True)
    (path / "experiment_cfg" / "metadata.json").write_text(json.dumps({embodiment: {"statistics": stats}}))
    return path


class ModalityConfig:
    def __init__(self, keys):
        self.delta_indices, self.modality_keys = [0], list(keys)


class DataConfig:
    """Stands in for gr00t.experiment.data_config.DATA_CONFIG_MAP[...]: `modality_config()` in
    Isaac-GR00T's form ({modality: ModalityConfig(modality_keys)}), the layout as transform."""

    def __init__(self, layout):
        self.layout = layout

    def modality_config(self):
        lay = self.layout
        return {"video": ModalityConfig(k for k, _ in lay.video),
                "state": ModalityConfig(k for k, _, _ in lay.state),
                "action": ModalityConfig(k for k, _, _ in lay.action),
                "language": ModalityConfig([lay.task_key])}

    def transform(self):
        return self.layout


class _Model(torch.nn.Module):
    def get_action(self, inputs: dict) -> dict:
        state = inputs["state"][:, 0, :MAX_ACTION_DIM].float()
        pixel = inputs["pixel_values"].float().mean(dim=(1, 2, 3, 4))
        text = inputs["input_ids"].float().mean(-1) / 255.0
        k = torch.arange(HORIZON, dtype=torch.float32, device=state.device)
        pred = state[:, None, :] + 0.01 * k[None, :, None] + 0.001 * (pixel + text)[:, None, None]
        return {"action_pred": pred}


class Gr00tPolicy:
    def __init__(self, model_path, embodiment_tag, modality_config, modality_transform,
                 denoising_steps=4, device="cpu"):
        meta = json.loads((Path(model_path) / "experiment_cfg" / "metadata.json").read_text())
        self.stats = meta[embodiment_tag]["statistics"]
        self.layout, self.device, self.denoising_steps = modality_transform, device, denoising_steps
        self.model = _Model()
        self.calls = self.transform_calls = 0

    def _range(self, kind, key):
        s = self.stats[kind][key.split(".", 1)[1]]
        return np.asarray(s["min"], np.float32), np.asarray(s["max"], np.float32)

    def apply_transforms(self, obs: dict) -> dict:
        """Host-side numpy transforms, as the real modality transform does."""
        self.transform_calls += 1
        lay = self.layout
        pixels = [(crop_resize(torch.as_tensor(obs[k][:, 0]), lay.crop, lay.size).numpy() - 0.5) / 0.5
                  for k, _ in lay.video]
        states = []
        for key, _, _ in lay.state:
            lo, hi = self._range("state", key)
            states.append(2 * (obs[key][:, 0].astype(np.float32) - lo) / (hi - lo) - 1)
        state = np.concatenate(states, -1)
        state = np.pad(state, ((0, 0), (0, MAX_STATE_DIM - state.shape[-1])))[:, None]
        texts = obs[lay.task_key]
        ids = np.stack([np.frombuffer(t.encode()[:32].ljust(32), np.uint8).astype(np.int64) for t in texts])
        return {"pixel_values": np.stack(pixels, 1), "state": state, "input_ids": ids,
                "embodiment_id": np.full((len(texts),), 31, np.int64)}

    def get_action(self, observations: dict) -> dict:
        self.calls += 1
        batched = next(v for k, v in observations.items() if k.startswith("state.")).ndim == 3
        if not batched:
            observations = {k: (v[None] if isinstance(v, np.ndarray) else v) for k, v in observations.items()}
        inputs = {k: torch.as_tensor(v, device=self.device) for k, v in self.apply_transforms(observations).items()}
        with torch.inference_mode():
            pred = self.model.get_action(inputs)["action_pred"].float().cpu().numpy()
        out, start = {}, 0
        for key, a, b in sorted(self.layout.action, key=lambda k: k[1]):
            lo, hi = self._range("action", key)
            out[key] = (pred[..., start:start + b - a] + 1) / 2 * (hi - lo) + lo
            start += b - a
        return out if batched else {k: v[0] for k, v in out.items()}
