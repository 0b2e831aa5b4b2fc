"""The robot interface the loop drives: LeRobot's `Robot` (so101_follower with degree
calibration), so a real arm and the simulated one are interchangeable.

    robot.connect()
    obs = robot.get_observation()   # {"shoulder_pan.pos": deg, ..., "gripper.pos": 0..100,
                                    #  "<camera>": (H, W, 3) uint8 RGB}
    sent = robot.send_action({"shoulder_pan.pos": deg, ...})   # returns what was sent
    robot.disconnect()              # LeRobot: torque off (disable_torque_on_disconnect)

Units: `bridge.units.lerobot_degrees()` (arm joints in degrees, gripper 0 closed .. 100 open),
joint order `mjx_env.scene.ARM_JOINTS`.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from mjx_env.scene import ARM_JOINTS

JOINT_KEYS = tuple(f"{j}.pos" for j in ARM_JOINTS)


class Robot(Protocol):
    def connect(self) -> None: ...
    def get_observation(self) -> dict[str, Any]: ...
    def send_action(self, action: dict[str, float]) -> dict[str, float]: ...
    def disconnect(self) -> None: ...


def joints_of(obs: dict) -> np.ndarray:
    """(6,) float64 robot units from an observation dict; KeyError naming a missing joint."""
    missing = [k for k in JOINT_KEYS if k not in obs]
    if missing:
        raise KeyError(f"robot observation lacks {missing} (has {sorted(obs)})")
    return np.array([float(obs[k]) for k in JOINT_KEYS])


def action_of(joints) -> dict[str, float]:
    """{"<joint>.pos": value} from (6,) robot units."""
    joints = np.asarray(joints, np.float64).reshape(-1)
    if joints.shape != (len(JOINT_KEYS),):
        raise ValueError(f"expected {len(JOINT_KEYS)} joint values, got shape {joints.shape}")
    return {k: float(v) for k, v in zip(JOINT_KEYS, joints)}


def frame_of(obs: dict, camera: str) -> np.ndarray | None:
    """The camera's (H, W, 3) uint8 frame, or None when it is missing or malformed (lost)."""
    f = obs.get(camera)
    if f is None:
        return None
    f = np.asarray(f)
    if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8 or f.size == 0:
        return None
    return f
