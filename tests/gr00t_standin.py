"""A stand-in for a GR00T inference server's policy (Isaac-GR00T's `Gr00tPolicy.get_action`
behind `scripts/inference_service.py`, or bridge.server's own): batched numpy dicts in and out,
statistics read from `<model_path>/experiment_cfg/metadata.json`, outputs in closed form:

    action_pred[b, k, j] = state_norm[b, j] + 0.01 k + 0.001 pixel_mean[b]

un-normalised with the action statistics. It has no `build()`: `torch:gr00t_standin:...` is a
module that cannot be a torch base (tests/test_train.py's refusal case).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HORIZON = 16


def write_checkpoint(path: Path, layout, embodiment: str = "new_embodiment", span: float = 4.0) -> Path:
    """A directory with metadata.json min/max statistics for `layout`'s keys."""
    stats = {kind: {key.split(".", 1)[1]: {"min": [-span / 2 - 0.1 * j for j in range(b - a)],
                                           "max": [span / 2 + 0.2 * j for j in range(b - a)]}
                    for key, a, b in getattr(layout, kind)} for kind in ("state", "action")}
    (path / "experiment_cfg").mkdir(parents=True, exist_ok=True)
    (path / "experiment_cfg" / "metadata.json").write_text(json.dumps({embodiment: {"statistics": stats}}))
    return path


class Gr00tPolicy:
    def __init__(self, model_path, layout, embodiment_tag: str = "new_embodiment"):
        meta = json.loads((Path(model_path) / "experiment_cfg" / "metadata.json").read_text())
        self.stats, self.layout, self.calls = meta[embodiment_tag]["statistics"], layout, 0

    def _range(self, kind, key):
        s = self.stats[kind][key.split(".", 1)[1]]
        return np.asarray(s["min"], np.float32), np.asarray(s["max"], np.float32)

    def get_action(self, obs: dict) -> dict:
        self.calls += 1
        lay = self.layout
        pixel = np.mean([obs[k][:, -1].astype(np.float32).mean(axis=(1, 2, 3)) / 255 for k, _ in lay.video], 0)
        states = []
        for key, _, _ in lay.state:
            lo, hi = self._range("state", key)
            states.append(2 * (obs[key][:, -1].astype(np.float32) - lo) / (hi - lo) - 1)
        state = np.concatenate(states, -1)
        k = np.arange(HORIZON, dtype=np.float32)
        pred = state[:, None, :] + 0.01 * k[None, :, None] + 0.001 * pixel[:, None, None]
        out, start = {}, 0
        for key, a, b in sorted(lay.action, key=lambda x: x[1]):
            lo, hi = self._range("action", key)
            out[key] = (pred[..., start:start + b - a] + 1) / 2 * (hi - lo) + lo
            start += b - a
        return out
