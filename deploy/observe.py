"""What the robot observes -> the 25-float observation of the env (`mjx_env.task.observation`,
layout `task.OBS_SLICES`), from measured joints, the estimated sheet pose and forward kinematics.

A real arm measures joint positions only: velocities are finite differences over the control
period; the fingertip (end-effector site) position and the gravity/bias torques the scripted
expert needs come from MuJoCo's C model at the measured joints (the sheet placed at the estimate).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from mjx_env import task
from mjx_env.scene import ARM_JOINTS, SCENE_XML, qpos_index


@dataclass(frozen=True)
class Pose:
    """The sheet's pose on the table: x, y (m, world frame), yaw (rad, modulo pi)."""

    x: float
    y: float
    yaw: float


class ArmModel:
    """MuJoCo C model of the scene: forward kinematics and bias torques at measured joints."""

    def __init__(self, xml_path=SCENE_XML):
        self.model = mujoco.MjModel.from_xml_path(str(xml_path))
        m = self.model
        self.data = mujoco.MjData(m)
        self.arm_qpos = np.array([qpos_index(m, j) for j in ARM_JOINTS])
        self.arm_dofs = np.array([m.jnt_dofadr[m.joint(j).id] for j in ARM_JOINTS])
        self.paper_qpos = qpos_index(m, "paper")
        self.paper_z = float(m.geom("paper").size[2])  # m, centre of a sheet lying flat
        self.ee_site = m.site("ee").id
        mujoco.mj_kinematics(m, self.data)
        self.target = np.array([*self.data.body("target").xpos[:2], 0.0])  # m, tape centre

    def paper_qpos_of(self, pose: Pose) -> np.ndarray:
        """Free-joint qpos (7,) of the sheet lying flat at `pose` (m, wxyz quaternion)."""
        return np.array([pose.x, pose.y, self.paper_z, np.cos(pose.yaw / 2), 0.0, 0.0,
                         np.sin(pose.yaw / 2)])

    def evaluate(self, q: np.ndarray, qvel: np.ndarray, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        """(ee site position (3,) m, bias torques qfrc_bias (nv,) N m) at joints q (6,) rad,
        velocities qvel (6,) rad/s, the sheet at `pose`."""
        d = self.data
        d.qpos[:] = self.model.qpos0
        d.qvel[:] = 0.0
        d.qpos[self.arm_qpos] = q
        d.qvel[self.arm_dofs] = qvel
        d.qpos[self.paper_qpos:self.paper_qpos + 7] = self.paper_qpos_of(pose)
        mujoco.mj_forward(self.model, d)
        return d.site_xpos[self.ee_site].copy(), d.qfrc_bias.copy()

    def observation(self, q: np.ndarray, qvel: np.ndarray, pose: Pose, ee: np.ndarray) -> np.ndarray:
        """(25,) float32 observation (task.observation) of measured joints q (6,) rad, qvel (6,)
        rad/s, the estimated sheet pose and the fingertip position ee (3,) m."""
        paper = self.paper_qpos_of(pose)
        obs = task.observation(np.asarray(q, np.float32), np.asarray(qvel, np.float32),
                               paper[:3].astype(np.float32), paper[3:].astype(np.float32),
                               self.target.astype(np.float32), np.asarray(ee, np.float32))
        return np.asarray(obs, np.float32)


@dataclass(frozen=True)
class Sensed:
    """One step's view of the world, handed to the bases: `q` (6,) measured joints, sim rad;
    `obs` (25,) float32 observation; `bias` (nv,) the scene's bias torques at q (N m);
    `frames` {camera: (H, W, 3) uint8}; `prev_target` (6,) the last joint target sent, sim rad."""

    q: np.ndarray
    obs: np.ndarray
    bias: np.ndarray
    frames: dict
    prev_target: np.ndarray
