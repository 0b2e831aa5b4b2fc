"""Frozen configs of the deploy loop (gathered by deploy.cli)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from mjx_env.config import EnvConfig


@dataclass(frozen=True)
class SafetyConfig:
    """When the loop holds the pose and stops (deploy.safety).

    max_step_deg: a joint target further than this from the measured joint (deg of sim angle,
        every joint, the gripper's sim angle too) is refused. The loop's sent targets (rate-
        limited to the servo model's 9 deg per step) were at most 21.7 deg from the measured
        joints over 128 simulated episodes (benchmarks/results/deploy_sim_cpu.json). The default
        is the env's `max_target_gap`: training ends an episode where this loop would stop.
    max_missed: this many consecutive steps over the period (1/hz) stop the loop.
    max_pose_misses: this many consecutive failed pose estimates stop the loop (in between the
        last good estimate is used); a failure before the first good estimate stops at once.
    hold_s: seconds the held pose is kept (torque on) before disconnecting (torque off).
    """

    max_step_deg: float = round(math.degrees(EnvConfig.max_target_gap), 9)  # the env's rule
    max_missed: int = 5
    max_pose_misses: int = 10
    hold_s: float = 0.5

    def __post_init__(self):
        if not (0 < self.max_step_deg < 180):
            raise ValueError(f"max_step_deg must be in (0, 180) deg, got {self.max_step_deg}")
        if self.max_missed < 1 or self.max_pose_misses < 0 or not (self.hold_s >= 0):
            raise ValueError(f"max_missed >= 1, max_pose_misses >= 0, hold_s >= 0: {self}")

    @property
    def max_step_rad(self) -> float:
        return math.radians(self.max_step_deg)


@dataclass(frozen=True)
class LoopConfig:
    """hz: control rate (the env's: 30). steps: the most control steps of one run. camera: the
    top camera's key in the robot's observation. pose: "camera" (perception.estimate) or
    "truth" (the simulated robot's true sheet pose; for measuring the estimator's cost).
    realtime: sleep to the next tick (a real robot: always; the simulated one: optional)."""

    hz: float = 30.0
    steps: int = 300
    camera: str = "top"
    pose: str = "camera"
    realtime: bool = True
    safety: SafetyConfig = SafetyConfig()

    def __post_init__(self):
        if not (0 < self.hz <= 1000) or self.steps < 1:
            raise ValueError(f"hz must be in (0, 1000] and steps >= 1: {self}")
        if self.pose not in ("camera", "truth"):
            raise ValueError(f"pose must be 'camera' or 'truth', got {self.pose!r}")

    @property
    def period(self) -> float:
        return 1.0 / self.hz
