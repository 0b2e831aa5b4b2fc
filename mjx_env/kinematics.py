"""Forward and inverse kinematics of the SO-101 arm in JAX, read from the compiled MjModel.

Used by the scripted expert (privileged state -> joint targets). Positions in metres (world
frame), angles in radians. The five arm joints are shoulder_pan..wrist_roll; the gripper joint
does not move the end-effector site.
"""
from __future__ import annotations

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from flax import struct

from mjx_env.scene import ARM_JOINTS

CHAIN_BODIES = ("base", "shoulder", "upper_arm", "lower_arm", "wrist", "gripper")


@struct.dataclass
class ArmChain:
    """Fixed transforms of the chain: body i's pose in body i-1's frame (base: in world)."""

    body_pos: jax.Array  # (6, 3) metres
    body_rot: jax.Array  # (6, 3, 3)
    ee_pos: jax.Array  # (3,) end-effector site in the gripper frame, metres
    lower: jax.Array  # (5,) joint range, radians
    upper: jax.Array  # (5,)


def _quat_to_mat(q: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, np.asarray(q, dtype=np.float64))
    return out.reshape(3, 3)


def chain_from_model(model: mujoco.MjModel) -> ArmChain:
    ids = [model.body(b).id for b in CHAIN_BODIES]
    for parent, child in zip(ids[:-1], ids[1:]):
        if model.body_parentid[child] != parent:
            raise ValueError("the SO-101 bodies do not form the expected chain")
    jnt = [model.joint(j).id for j in ARM_JOINTS[:5]]
    return ArmChain(
        body_pos=jp.asarray(model.body_pos[ids], jp.float32),
        body_rot=jp.asarray(np.stack([_quat_to_mat(model.body_quat[i]) for i in ids]), jp.float32),
        ee_pos=jp.asarray(model.site("ee").pos, jp.float32),
        lower=jp.asarray(model.jnt_range[jnt, 0], jp.float32),
        upper=jp.asarray(model.jnt_range[jnt, 1], jp.float32),
    )


def _rot_z(angle: jax.Array) -> jax.Array:
    c, s = jp.cos(angle), jp.sin(angle)
    return jp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def forward(chain: ArmChain, q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """End-effector site position (3,) m and gripper rotation (3, 3) for arm joints q (5,) rad."""
    pos, rot = chain.body_pos[0], chain.body_rot[0]
    for i in range(1, 6):
        pos = pos + rot @ chain.body_pos[i]
        rot = rot @ chain.body_rot[i] @ _rot_z(q[i - 1])
    return pos + rot @ chain.ee_pos, rot


def approach_axis(rot: jax.Array) -> jax.Array:
    """Unit vector along which the jaws point (the gripper body's -z), world frame."""
    return -rot[:, 2]


def solve_ik(
    chain: ArmChain,
    q_init: jax.Array,
    pos_target: jax.Array,
    axis_target: jax.Array,
    iterations: int = 4,
    damping: float = 0.02,
    axis_weight: float = 0.05,
    free: jax.Array | None = None,
) -> jax.Array:
    """Damped least squares: arm joints (5,) rad putting the end-effector at `pos_target` (3,) m
    with the jaws along `axis_target` (3,) unit (a soft goal, weighted by `axis_weight`),
    starting from `q_init` (5,), clipped to range. Joints where `free` (5,) is 0 stay at
    their `q_init` value."""
    mask = jp.ones(5) if free is None else jp.asarray(free, jp.float32)

    def task(q):
        pos, rot = forward(chain, q)
        return jp.concatenate([pos, axis_weight * approach_axis(rot)])

    goal = jp.concatenate([pos_target, axis_weight * axis_target])
    eye = jp.eye(6) * damping**2

    def body(_, q):
        err = goal - task(q)
        jac = jax.jacfwd(task)(q) * mask  # (6, 5)
        dq = jac.T @ jp.linalg.solve(jac @ jac.T + eye, err)
        return jp.clip(q + dq, chain.lower, chain.upper)

    return jax.lax.fori_loop(0, iterations, body, q_init)
