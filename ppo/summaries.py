"""TensorBoard event files beside `metrics.jsonl`: every metric of every iteration, the
evaluation and its figures (`make tensorboard RUN=runs/<name>` shows them).

Tags: `train/<metric>` per iteration, x axis = env steps; `eval/<base_alone |
base_plus_residual>/<metric>` and the `eval/summary` text once at the end; images by name.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

SKIP = ("iteration", "env_steps")  # the axes, not metrics


class EventLog:
    """Writes TensorBoard events into `out_dir`; `resume_step` (env steps of the checkpoint a
    resumed run starts from) drops the events a previous run wrote after it (they are redone)."""

    def __init__(self, out_dir: Path, resume_step: int | None = None):
        from tensorboardX import SummaryWriter  # lazy: it imports torch when torch is installed
        self.writer = SummaryWriter(logdir=str(out_dir), purge_step=resume_step, flush_secs=30)

    def scalars(self, row: dict) -> None:
        """One `ppo.train` metrics row (None: no episode ended) at step `row["env_steps"]`."""
        for name, value in row.items():
            if name not in SKIP and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"train/{name}", value, row["env_steps"])

    def evaluation(self, result: dict, step: int) -> None:
        """`ppo.evaluate.evaluate_policy`'s result: each policy's numbers, and the whole as text."""
        for policy, numbers in result.items():
            for name, value in (numbers or {}).items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"eval/{policy}/{name}", value, step)
        self.writer.add_text("eval/summary", "```\n" + json.dumps(result, indent=1) + "\n```", step)

    def image(self, tag: str, png: Path, step: int) -> None:
        """A PNG file (the learning curve) as an image."""
        from PIL import Image  # matplotlib's dependency
        rgb = np.asarray(Image.open(png).convert("RGB"))
        self.writer.add_image(tag, rgb, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def read_events(out_dir: Path) -> list:
    """Every `Event` protobuf in the event files of `out_dir` (for tests and checks), read from
    the TFRecord framing: u64 length, u32 crc, data, u32 crc."""
    from tensorboardX.proto import event_pb2
    events = []
    for path in sorted(Path(out_dir).glob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i + 12 <= len(data):
            n = int.from_bytes(data[i:i + 8], "little")
            events.append(event_pb2.Event.FromString(data[i + 12:i + 12 + n]))
            i += 12 + n + 4
    return events
