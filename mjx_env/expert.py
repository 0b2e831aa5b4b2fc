"""Scripted expert for paper_return (privileged state, pure JAX, no memory between steps).

From the observation alone it picks one of four moves, then turns the wanted fingertip position
into absolute joint targets with inverse kinematics (jaws pointing down) plus gravity
compensation (target += qfrc_bias / kp, so the servos' sag does not lift the fingertip):
  lift     fingertip low but not over the paper centre: rise straight up to the hover height
  approach fly over the press point at the hover height
  descend  over the press point (just behind the centre): press the fingertip into the sheet
  drag     pressed: move towards the target at `drag_speed`, so friction slides the sheet along
Pressing near the centre makes friction act near the sheet's centre: it translates, not turns.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jp

from mjx_env import kinematics, task

CONTACT_EE_Z = 0.0076  # m, ee site height when the fixed fingertip (r 8 mm) touches the sheet
FREE_JOINTS = (1.0, 1.0, 1.0, 1.0, 0.0)  # IK moves pan, lift, elbow, wrist flex; not roll


@dataclass(frozen=True)
class ExpertConfig:
    hover_height: float = 0.045  # m, fingertip height when flying
    press_depth: float = 0.003  # m, commanded depth below first contact (force ~ kp * depth)
    align_tol: float = 0.012  # m, fingertip within this of the press point counts as over it
    press_offset: float = 0.015  # m, press point behind the sheet centre (away from the target)
    drag_radius: float = 0.035  # m, keep dragging while the fingertip is this near the centre
    move_speed: float = 0.35  # m/s, fingertip speed when flying
    descend_speed: float = 0.08  # m/s, when pressing down (faster overshoots into the sheet)
    drag_speed: float = 0.12  # m/s, fingertip speed when dragging
    ik_iterations: int = 6
    # Jaw tilt away from the robot, rad: 0 (vertical) at `tilt_near`, `tilt_max` at `tilt_far`
    # horizontal distance (m) from the robot base; a vertical wrist cannot reach far points.
    tilt_max: float = 0.7
    tilt_near: float = 0.18
    tilt_far: float = 0.32


class ScriptedExpert:
    """`expert(state) -> (6,) absolute joint targets, rad` for one env (vmap for a batch)."""

    def __init__(self, env, config: ExpertConfig = ExpertConfig()):
        self.env = env
        self.config = config
        self.chain = kinematics.chain_from_model(env.mj_model)

    def fingertip_goal(self, obs: jax.Array) -> jax.Array:
        """Wanted end-effector position (3,) m for this step."""
        cfg = self.config
        s = task.OBS_SLICES
        ee, paper, goal = obs[s["ee_pos"]], obs[s["paper_pos"]], obs[s["goal_vec"]][:2]
        contact_z = CONTACT_EE_Z
        dist = jp.linalg.norm(goal)
        direction = goal / jp.maximum(dist, 1e-6)
        # Press behind the centre: the fingertip creeps forward over the sheet while dragging.
        press = paper[:2] - cfg.press_offset * direction
        over = jp.linalg.norm(ee[:2] - press) < cfg.align_tol
        pressed = (ee[2] < contact_z + 0.003) & (jp.linalg.norm(ee[:2] - paper[:2]) < cfg.drag_radius)
        low = ee[2] < 0.5 * cfg.hover_height
        dt = self.env.dt

        lift = jp.array([ee[0], ee[1], cfg.hover_height])
        approach = jp.array([press[0], press[1], cfg.hover_height])
        descend = jp.array([press[0], press[1], contact_z - cfg.press_depth])
        drag_xy = ee[:2] + direction * jp.minimum(cfg.drag_speed * dt, dist)
        drag = jp.array([drag_xy[0], drag_xy[1], contact_z - cfg.press_depth])
        wanted = jp.where(pressed, drag, jp.where(over, descend, jp.where(low, lift, approach)))
        step = wanted - ee
        speed = jp.where(over, cfg.descend_speed, cfg.move_speed)
        max_step = jp.where(pressed, 1.0, speed * dt)  # drag is speed-limited above
        return ee + step * jp.minimum(1.0, max_step / jp.maximum(jp.linalg.norm(step), 1e-6))

    def approach_axis(self, pos: jax.Array) -> jax.Array:
        """Unit jaw direction (3,) for a fingertip at `pos`: down, tilted away from the robot."""
        cfg = self.config
        radial = pos[:2] - self.env.robot_xy
        r = jp.linalg.norm(radial)
        tilt = cfg.tilt_max * jp.clip((r - cfg.tilt_near) / (cfg.tilt_far - cfg.tilt_near), 0, 1)
        horiz = radial / jp.maximum(r, 1e-6) * jp.sin(tilt)
        return jp.array([horiz[0], horiz[1], -jp.cos(tilt)])

    def __call__(self, state) -> jax.Array:
        q = state.obs[task.OBS_SLICES["qpos"]]
        pos = self.fingertip_goal(state.obs)
        q_init = q[:5].at[4].set(0.0)  # wrist roll held at 0: it barely moves the fingertip
        q5 = kinematics.solve_ik(self.chain, q_init, pos, self.approach_axis(pos),
                                 iterations=self.config.ik_iterations, free=FREE_JOINTS)
        target = jp.concatenate([q5, jp.zeros(1)])  # gripper at 0 rad: jaws together
        gravity = state.data.qfrc_bias[self.env.ids.arm_dofs] / self.env.kp_nominal
        return jp.clip(target + gravity, self.env.joint_lower, self.env.joint_upper)
