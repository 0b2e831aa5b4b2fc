"""The paper_return task as pure functions of one env's state: observation, success, reward.

Observation (25 float32), world frame, table top at z = 0: `OBS_LAYOUT` below (name, size,
unit, description) is its one definition; `OBS_SLICES` index it.
"""
from __future__ import annotations

import jax
import jax.numpy as jp

# The observation layout, the one definition: (name, size, unit, description) in order; the
# slices, the size, the units and the export manifest's observation entry are derived from it.
OBS_LAYOUT = (
    ("qpos", 6, "rad", "arm joint positions, rad, order ARM_JOINTS"),
    ("qvel", 6, "rad/s", "arm joint velocities, rad/s"),
    ("paper_pos", 3, "m", "paper centre position, m"),
    ("paper_quat", 4, "unitless", "paper orientation quaternion (w, x, y, z)"),
    ("goal_vec", 3, "m", "goal vector: target centre - paper centre in x, y; z = 0, m"),
    ("ee_pos", 3, "m", "end-effector site (fixed-jaw fingertip) position, m"),
)
OBS_SLICES, _start = {}, 0
for _name, _size, _, _ in OBS_LAYOUT:
    OBS_SLICES[_name], _start = slice(_start, _start + _size), _start + _size
OBS_SIZE = _start  # 25
OBS_UNITS = {name: unit for name, _, unit, _ in OBS_LAYOUT}
PAPER_ON_TABLE_Z = 0.005  # m: a paper centre higher than this is lifted, not lying on the table


def observation(qpos: jax.Array, qvel: jax.Array, paper_pos: jax.Array, paper_quat: jax.Array,
                target: jax.Array, ee_pos: jax.Array) -> jax.Array:
    """(25,) float32 observation in the order of `OBS_LAYOUT`."""
    goal = jp.concatenate([target[:2] - paper_pos[:2], jp.zeros(1)])
    return jp.concatenate([qpos, qvel, paper_pos, paper_quat, goal, ee_pos]).astype(jp.float32)


def yaw_of(quat: jax.Array) -> jax.Array:
    """Rotation about world z of a (w, x, y, z) quaternion, rad in (-pi, pi]."""
    w, x, y, z = quat[0], quat[1], quat[2], quat[3]
    return jp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def yaw_error(paper_quat: jax.Array, target_yaw: jax.Array | float = 0.0) -> jax.Array:
    """|paper yaw - target yaw| modulo pi (the sheet is symmetric under a half turn), in [0, pi/2]."""
    err = yaw_of(paper_quat) - target_yaw
    return jp.abs(jp.mod(err + jp.pi / 2, jp.pi) - jp.pi / 2)


def in_success_pose(paper_pos: jax.Array, paper_quat: jax.Array, target: jax.Array,
                    pos_tol: float, yaw_tol: float) -> jax.Array:
    """True where the paper lies on the table with centre and yaw within tolerance of the target."""
    dist = jp.linalg.norm(paper_pos[:2] - target[:2])
    return (dist < pos_tol) & (yaw_error(paper_quat) < yaw_tol) & (paper_pos[2] < PAPER_ON_TABLE_Z)


def reward_terms(cfg, paper_pos, paper_quat, target, ee_pos, action, prev_goal_dist, success):
    """Weighted reward terms of one step (dict of scalars); their sum is the reward.

    Every per-step term is <= 0 except `progress` (whose sum over an episode telescopes to the
    distance covered) and the success bonus: ending the episode by success never forfeits a
    stream of positive rewards, so a policy has no reason to avoid succeeding."""
    goal_dist = jp.linalg.norm(target[:2] - paper_pos[:2])
    reach_dist = jp.linalg.norm(ee_pos - paper_pos)
    return {
        "reach": cfg.reward_reach * (jp.exp(-reach_dist / 0.15) - 1.0),
        "progress": cfg.reward_progress * jp.clip(prev_goal_dist - goal_dist, -0.01, 0.01),
        "distance": -cfg.reward_distance * goal_dist / 0.1,
        "yaw": -cfg.reward_yaw * yaw_error(paper_quat) / (jp.pi / 2),
        "action": -cfg.reward_action * jp.mean(jp.square(action)),
        "success": cfg.reward_success * success.astype(jp.float32),
    }
