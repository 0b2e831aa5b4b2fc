"""`gr00t:<hub id | dir>`: a GR00T N1.5 checkpoint in its own format (Isaac-GR00T or LeRobot,
detected), run with LeRobot's pip model code in this process (bridge.gr00t,
bridge.gr00t_checkpoint); a hub id comes through the Hugging Face cache. `--random-weights
tiny|full` writes an Isaac-format random checkpoint (to <dir>, or a temporary one for `gr00t`
alone) and loads it the same way; `--gr00t-fast` runs the GPU-resident fast path."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from bridge.kinds.kind import BaseKind


class Gr00t(BaseKind):
    name, usage, model = "gr00t", "gr00t:<hub id | dir>", True
    flags = ("random_weights", "gr00t_fast")

    def validate(self, spec: str, arg: str) -> None:
        pass  # the checkpoint itself (or --random-weights) is `check`'s: it needs the bridge config

    def check(self, spec: str, arg: str, config) -> None:
        """The [groot] extra installed, the checkpoint found or downloaded with its format's
        files, the requested embodiment, its keys against --layout, its frame resolution against
        --render-size, and its Eagle assets in LeRobot's cache (bridge.gr00t.checkpoint_for). A
        --random-weights checkpoint is written here."""
        if importlib.util.find_spec("lerobot") is None or importlib.util.find_spec("transformers") is None:
            from bridge.lerobot_groot import INSTALL_HINT
            raise ValueError(INSTALL_HINT)
        from bridge.gr00t import checkpoint_for
        from bridge.gr00t_checkpoint import eagle_dir
        eagle_dir(checkpoint_for(arg, config))  # CheckpointError: a ValueError, one line

    def load_model(self, arg, config, check_frames=True):
        from bridge import gr00t
        return gr00t.load(arg, config, check_frames=check_frames)

    def frame_sizes(self, model, layout, size: int) -> dict[str, tuple[int, int]]:
        res = {c.key: c.resolution for c in model.ckpt.video}  # as the model saw them in training
        return {cam: res.get(key) or (size, size) for key, cam in layout.video}

    def deploy_runtime(self, spec: str, arg: str) -> str:
        """A checkpoint that exists (deploy writes no random weights): a directory or a hub id."""
        from bridge.gr00t_checkpoint import is_hub_id
        if not arg:
            raise ValueError(f"--base {spec}: needs a checkpoint, {self.usage}")
        if not Path(arg).is_dir() and not is_hub_id(arg):
            raise ValueError(f"--base {spec}: model directory {arg} not found (nor a hub id org/name)")
        return "chunk"
