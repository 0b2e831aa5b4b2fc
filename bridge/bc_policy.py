"""A compact vision chunk policy (CNN encoder + MLP head) in GR00T N1.5's input/output layout.

`build(**config) -> BCPolicy` follows the `torch:<module>:<weights>` base convention
(bridge.torch_base), so the bridge runs it exactly as it runs GR00T:

    --base torch:bridge.bc_policy:bases/bc/policy.safetensors --render-size 64

Input: a GR00T-layout observation (bridge.units.KeyLayout `layout`): `video.<key>`
(B, 1, H, W, 3) uint8 per camera (resized to `size` px if H, W differ), `state.<key>` (B, 1, d)
in the robot units it was trained in (`units`, recorded in its config). Output:
{`action.<key>`: (B, horizon, d) float32} absolute joint targets, robot units.
The cameras are stacked as channels (early fusion) into one CNN; the head predicts the chunk
as a normalised offset from the current state (statistics stored as buffers with the weights).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bridge.units import CHUNK_HORIZON, LAYOUTS

N_JOINTS = 6


class BCPolicy(nn.Module):
    def __init__(self, layout: str = "paper_return", units: str = "paper_return", size: int = 64,
                 horizon: int = CHUNK_HORIZON, channels: tuple[int, ...] = (16, 32, 32, 32),
                 hidden: int = 256):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}: expected one of {sorted(LAYOUTS)}")
        if size % 2 ** len(channels):
            raise ValueError(f"size {size} px must be divisible by {2 ** len(channels)}")
        self.layout, self.units, self.size, self.horizon = LAYOUTS[layout], units, size, horizon
        self.config = dict(layout=layout, units=units, size=size, horizon=horizon,
                           channels=list(channels), hidden=hidden)
        layers, c_in = [], 3 * len(self.layout.video)
        for i, c in enumerate(channels):  # each conv halves the side
            layers += [nn.Conv2d(c_in, c, 5 if i == 0 else 3, stride=2, padding=2 if i == 0 else 1),
                       nn.ReLU()]
            c_in = c
        side = size // 2 ** len(channels)
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, hidden),
                                     nn.ReLU())
        self.head = nn.Sequential(nn.Linear(hidden + N_JOINTS, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, horizon * N_JOINTS))
        # Normalisation (robot units), set by bc.train.fit from the demonstrations.
        self.register_buffer("state_mean", torch.zeros(N_JOINTS))
        self.register_buffer("state_std", torch.ones(N_JOINTS))
        self.register_buffer("delta_mean", torch.zeros(horizon, N_JOINTS))
        self.register_buffer("delta_std", torch.ones(horizon, N_JOINTS))

    def pixels(self, obs: dict) -> torch.Tensor:
        """(B, 3 * cameras, size, size) float in [0, 1] from the observation's video keys."""
        images = []
        for key, _ in self.layout.video:
            if key not in obs:
                raise KeyError(f"observation lacks {key!r} (has {sorted(obs)})")
            v = obs[key]
            if v.ndim != 5 or v.shape[1] != 1 or v.shape[-1] != 3:
                raise ValueError(f"{key!r}: expected (B, 1, H, W, 3) uint8, got {tuple(v.shape)}")
            images.append(v[:, 0].permute(0, 3, 1, 2).float() / 255.0)
        x = torch.cat(images, dim=1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x

    def state(self, obs: dict) -> torch.Tensor:
        """(B, 6) robot units from the observation's state keys."""
        parts = sorted((a, obs[key][:, 0]) for key, a, _ in self.layout.state)
        return torch.cat([p for _, p in parts], dim=-1).float()

    def predict(self, pixels: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Normalised chunk offsets (B, horizon, 6) from pixels and state (robot units)."""
        s = (state - self.state_mean) / self.state_std
        out = self.head(torch.cat([self.encoder(pixels), s], dim=-1))
        return out.view(-1, self.horizon, N_JOINTS)

    def forward(self, obs: dict) -> dict:
        state = self.state(obs)
        delta = self.predict(self.pixels(obs), state) * self.delta_std + self.delta_mean
        chunk = state[:, None, :] + delta
        return {key: chunk[..., a:b] for key, a, b in self.layout.action}


def build(**config) -> BCPolicy:
    """The `torch:` base entry point: a BCPolicy from its JSON config (policy.json)."""
    if "channels" in config:
        config["channels"] = tuple(config["channels"])
    return BCPolicy(**config)
