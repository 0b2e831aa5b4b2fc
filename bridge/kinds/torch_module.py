"""`torch:<module>:<weights>`: any torch chunk policy. `<module>.build(**config)` returns the
nn.Module, `<weights>` a .safetensors/.pt state dict (config from a JSON file of the same stem,
if any); it sees rendered frames + state in the GR00T key layout (bridge.units) and returns
GR00T's output."""
from __future__ import annotations

import importlib
from pathlib import Path

from bridge.kinds.kind import BaseKind


class TorchModule(BaseKind):
    name, usage, model = "torch", "torch:<module>:<weights>", True

    def validate(self, spec: str, arg: str) -> None:
        module, _, weights = arg.partition(":")
        if not module:
            raise ValueError(f"--base {spec}: expected {self.usage}")
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"--base {spec}: cannot import module {module!r} ({e})") from None
        if not callable(getattr(mod, "build", None)):
            raise ValueError(f"--base {spec}: module {module!r} has no build(**config) -> nn.Module")
        if weights and not Path(weights).is_file():
            raise ValueError(f"--base {spec}: weights file {weights} does not exist")

    def load_model(self, arg, config, check_frames=True):
        from bridge.torch_base import load_torch_module
        module, _, weights = arg.partition(":")
        return load_torch_module(module, weights or None)
