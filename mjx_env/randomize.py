"""Per-env domain randomisation: sampled at reset into `state.info["dr"]`, applied every step by
replacing the affected model fields (so each env of a vmapped batch has its own physics).

Physics: paper-table and fingertip-paper friction (the scene's explicit contact pairs), paper
mass, servo kp and joint damping.
Renderer only: camera positions and light position/brightness (`apply` sets them too, so a
renderer handed the per-env model sees them).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from mujoco import mjx

from mjx_env.config import RandomizationConfig
from mjx_env.scene import ARM_JOINTS


class SceneIds(NamedTuple):
    """Model indices the randomisation touches (Python ints / int arrays, static under jit)."""

    paper_body: int
    paper_table_pair: int  # contact pair sheet-table
    grip_pairs: np.ndarray  # contact pairs fingertip / jaw pad - sheet
    arm_dofs: np.ndarray  # (6,)
    cameras: np.ndarray  # (2,) top, wrist
    lights: np.ndarray  # (nlight,)


GRIP_GEOMS = ("fixed_tip", "moving_tip", "fixed_pad", "moving_pad")


def pair_id(model: mujoco.MjModel, a: str, b: str) -> int:
    ga, gb = model.geom(a).id, model.geom(b).id
    for i in range(model.npair):
        if {int(model.pair_geom1[i]), int(model.pair_geom2[i])} == {ga, gb}:
            return i
    raise ValueError(f"the scene has no contact pair {a}-{b}")


def scene_ids(model: mujoco.MjModel) -> SceneIds:
    return SceneIds(
        paper_body=model.body("paper").id,
        paper_table_pair=pair_id(model, "paper", "table"),
        grip_pairs=np.array([pair_id(model, g, "paper") for g in GRIP_GEOMS]),
        arm_dofs=np.array([model.jnt_dofadr[model.joint(j).id] for j in ARM_JOINTS]),
        cameras=np.array([model.camera("top").id, model.camera("wrist").id]),
        lights=np.arange(model.nlight),
    )


def sample(rng: jax.Array, cfg: RandomizationConfig, nlight: int) -> dict[str, jax.Array]:
    """One env's randomisation: scales (1.0 = nominal) and offsets (metres). Nominal when
    `cfg.enabled` is False."""
    keys = jax.random.split(rng, 8)

    def uni(key, pair, shape=()):
        return jax.random.uniform(key, shape, minval=pair[0], maxval=pair[1])

    def sym(key, half, shape):
        return jax.random.uniform(key, shape, minval=-half, maxval=half)

    params = {
        "paper_friction": uni(keys[0], cfg.paper_friction_scale),
        "paper_mass": uni(keys[1], cfg.paper_mass_scale),
        "tip_friction": uni(keys[2], cfg.fingertip_friction_scale),
        "kp": uni(keys[3], cfg.kp_scale, (6,)),
        "damping": uni(keys[4], cfg.damping_scale, (6,)),
        "camera_pos": sym(keys[5], cfg.camera_pos_noise, (2, 3)),
        "light_pos": sym(keys[6], cfg.light_pos_noise, (nlight, 3)),
        "light_diffuse": uni(keys[7], cfg.light_diffuse_scale, (nlight,)),
    }
    if not cfg.enabled:
        params = nominal(nlight)
    return params


def nominal(nlight: int) -> dict[str, jax.Array]:
    """The identity randomisation (every scale 1, every offset 0)."""
    return {
        "paper_friction": jp.float32(1.0),
        "paper_mass": jp.float32(1.0),
        "tip_friction": jp.float32(1.0),
        "kp": jp.ones(6),
        "damping": jp.ones(6),
        "camera_pos": jp.zeros((2, 3)),
        "light_pos": jp.zeros((nlight, 3)),
        "light_diffuse": jp.ones(nlight),
    }


def apply(model: mjx.Model, params: dict[str, jax.Array], ids: SceneIds) -> mjx.Model:
    """`model` with one env's randomisation applied (called inside the vmapped step)."""
    friction = model.pair_friction  # (npair, 5): slide, slide, spin, roll, roll
    friction = friction.at[ids.paper_table_pair, :2].multiply(params["paper_friction"])
    friction = friction.at[ids.grip_pairs, :2].multiply(params["tip_friction"])
    mass = model.body_mass.at[ids.paper_body].multiply(params["paper_mass"])
    inertia = model.body_inertia.at[ids.paper_body].multiply(params["paper_mass"])
    gain = model.actuator_gainprm.at[:, 0].multiply(params["kp"])
    bias = model.actuator_biasprm.at[:, 1].multiply(params["kp"])
    damping = model.dof_damping.at[ids.arm_dofs].multiply(params["damping"])
    return model.replace(
        pair_friction=friction,
        body_mass=mass,
        body_inertia=inertia,
        actuator_gainprm=gain,
        actuator_biasprm=bias,
        dof_damping=damping,
        cam_pos=model.cam_pos.at[ids.cameras].add(params["camera_pos"]),
        light_pos=model.light_pos.at[ids.lights].add(params["light_pos"]),
        light_diffuse=model.light_diffuse.at[ids.lights].multiply(params["light_diffuse"][:, None]),
    )
