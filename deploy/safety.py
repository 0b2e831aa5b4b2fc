"""Safety stops of the deploy loop: pure checks that raise `SafetyStop` with a one-line reason.
The loop then holds the measured pose and disconnects (deploy.loop)."""
from __future__ import annotations

import numpy as np

from mjx_env.scene import ARM_JOINTS


class SafetyStop(RuntimeError):
    """The loop must hold the pose and stop; `str(e)` is the one-line reason."""


def check_step(target, measured, max_step: float) -> None:
    """SafetyStop if any joint target (6,) sim rad is non-finite or further than `max_step` rad
    from the measured joint (6,) sim rad."""
    target, measured = np.asarray(target, np.float64), np.asarray(measured, np.float64)
    if not np.all(np.isfinite(target)):
        raise SafetyStop(f"non-finite joint target {np.round(target, 3).tolist()}")
    gap = np.abs(target - measured)
    worst = int(np.argmax(gap))
    if gap[worst] > max_step:
        raise SafetyStop(f"joint target too far from the measured pose: {ARM_JOINTS[worst]} "
                         f"{np.degrees(gap[worst]):.1f} deg > {np.degrees(max_step):.1f} deg")


def check_frame(frame, camera: str) -> None:
    """SafetyStop when the camera frame is missing or malformed."""
    if frame is None:
        raise SafetyStop(f"camera {camera!r} lost: no (H, W, 3) uint8 frame in the observation")


class Streak:
    """Counts consecutive bad events; `update(bad)` raises SafetyStop at `limit + 1` in a row
    (limit 0: the first bad event stops) with `what` and the last detail."""

    def __init__(self, limit: int, what: str):
        self.limit, self.what, self.count = limit, what, 0

    def update(self, bad: bool, detail: str = "") -> int:
        self.count = self.count + 1 if bad else 0
        if self.count > self.limit:
            extra = f" ({detail})" if detail else ""
            raise SafetyStop(f"{self.what}: {self.count} in a row{extra}")
        return self.count


class DeadlineStreak(Streak):
    """Consecutive control steps longer than the period; stops at `max_missed` in a row."""

    def __init__(self, max_missed: int):
        super().__init__(max_missed - 1, "missed deadlines")
