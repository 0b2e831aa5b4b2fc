"""Is the simulated motion physically plausible? Arm depth in the table, sheet lift, sheet speed.

A success only counts when a real arm on a real desk could have done it (README "Contact"):
an episode is implausible if at any step an arm collision geom is more than
`EnvConfig.implausible_depth` (3 mm) below the table top or the sheet's centre is more than
`EnvConfig.implausible_lift` (3 mm) above its resting height.

The arm's collision geoms enclose every visual part of its moving bodies (housings, servos,
links, jaws) to within 1 mm (mjx_env/coverage.py, tests/test_coverage.py), so `arm_depth` is at
least the real arm's depth: equal where the housing's own face is lowest (the gripper box
bounds housing and servo: up to 7 mm more at the servo's side), up to ~11 mm more where a
capsule circumscribes a servo box in its worst orientation.

`ArmGeoms` (from the compiled model, static under jit) and `measure(...)` (one env's data ->
metrics in metres and m/s). A control step of the env (`PaperReturn.step`) reports the worst
over the states it went through (depth: each substep's start and the end state; lift: each
substep's end), so it equals a reference computed on the step's end state only where that state
is the worst: a reference (MuJoCo C) must measure the same states (tests/test_contact.py). An
arm pressing the table at the servo torque limit is not at rest (it chatters ~0.25 mm deep within
a step), and where a step ends in that chatter depends on float rounding, i.e. on the CPU. `check_arm_touches_table` refuses a scene in which an arm collision
geom cannot collide with the table (so an edit cannot silently reopen the hole).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jp
import mujoco
import numpy as np

ARM_ROOT = "base"  # the arm is the subtree of this body
TABLE = "table"


class ArmGeoms(NamedTuple):
    """The arm's collision geoms as numpy arrays (static): ids, radius part and box half-extents.

    Lowest point of a geom above z = 0: centre z - radius - sum_j |R[2, j]| * extent[j], with
    sphere: radius r, no extent; capsule: radius r, extent (0, 0, half length); box: extent =
    half sizes."""

    ids: np.ndarray  # (n,) int
    radius: np.ndarray  # (n,) m
    extent: np.ndarray  # (n, 3) m
    names: tuple[str, ...]


def _arm_bodies(model: mujoco.MjModel) -> set[int]:
    root = model.body(ARM_ROOT).id
    bodies = {root}
    for b in range(model.nbody):
        p = b
        while p > 0 and p not in bodies:
            p = model.body_parentid[p]
        if p in bodies:
            bodies.add(b)
    return bodies


def _collides_at_all(model: mujoco.MjModel, g: int) -> bool:
    in_pair = np.any(model.pair_geom1 == g) or np.any(model.pair_geom2 == g)
    return bool(model.geom_contype[g] or model.geom_conaffinity[g] or in_pair)


def arm_collision_geoms(model: mujoco.MjModel) -> ArmGeoms:
    arm = _arm_bodies(model)
    ids = [g for g in range(model.ngeom) if model.geom_bodyid[g] in arm and _collides_at_all(model, g)]
    radius, extent = [], []
    for g in ids:
        t, size = model.geom_type[g], model.geom_size[g]
        if t == mujoco.mjtGeom.mjGEOM_SPHERE:
            radius.append(size[0]), extent.append([0, 0, 0])
        elif t == mujoco.mjtGeom.mjGEOM_CAPSULE:
            radius.append(size[0]), extent.append([0, 0, size[1]])
        elif t == mujoco.mjtGeom.mjGEOM_BOX:
            radius.append(0.0), extent.append(list(size))
        else:
            raise ValueError(f"arm collision geom {model.geom(g).name!r}: type {t} unsupported "
                             "(use spheres, capsules or boxes)")
    return ArmGeoms(np.array(ids, int), np.array(radius, np.float32),
                    np.array(extent, np.float32).reshape(-1, 3),
                    tuple(model.geom(g).name or f"geom {g}" for g in ids))


def check_arm_touches_table(model: mujoco.MjModel) -> None:
    """ValueError naming every arm collision geom that cannot collide with the table (no
    explicit <pair> with it and no matching contype/conaffinity bits, or excluded)."""
    table = model.geom(TABLE).id
    tb = model.geom_bodyid[table]
    excluded = {(int(b1), int(b2)) for b1, b2 in zip(
        *(model.exclude_signature >> 16, model.exclude_signature & 0xFFFF))}
    missing = []
    geoms = arm_collision_geoms(model)
    for g, name in zip(geoms.ids, geoms.names):
        pair = np.any((model.pair_geom1 == g) & (model.pair_geom2 == table)) or np.any(
            (model.pair_geom2 == g) & (model.pair_geom1 == table))
        bits = bool(model.geom_contype[g] & model.geom_conaffinity[table]
                    or model.geom_contype[table] & model.geom_conaffinity[g])
        b = int(model.geom_bodyid[g])
        if bits and ((b, tb) in excluded or (tb, b) in excluded):
            bits = False
        if not (pair or bits):
            missing.append(name)
    if missing:
        raise ValueError(f"arm collision geoms that cannot touch the table: {', '.join(missing)} "
                         "(add a <pair> with geom 'table'; see assets/paper_return.xml)")


def lowest_z(geoms: ArmGeoms, geom_xpos: jax.Array, geom_xmat: jax.Array) -> jax.Array:
    """(n,) height (m) of each arm collision geom's lowest point; data arrays of one env."""
    pos = geom_xpos[geoms.ids]
    rot_z = geom_xmat[geoms.ids].reshape(-1, 3, 3)[:, 2, :]  # (n, 3): world z of each local axis
    return pos[:, 2] - geoms.radius - jp.sum(jp.abs(rot_z) * geoms.extent, axis=-1)


def measure(geoms: ArmGeoms, data, paper_qpos: int, paper_qvel: int, rest_z: float
            ) -> dict[str, jax.Array]:
    """Plausibility metrics of one env's physics state (scalars):
    arm_depth m (deepest arm collision geom below z = 0, 0 if none), paper_lift m (sheet
    centre above `rest_z`, 0 if not above), paper_speed m/s (sheet centre's linear speed)."""
    depth = jp.maximum(0.0, -jp.min(lowest_z(geoms, data.geom_xpos, data.geom_xmat)))
    lift = jp.maximum(0.0, data.qpos[paper_qpos + 2] - rest_z)
    speed = jp.linalg.norm(data.qvel[paper_qvel:paper_qvel + 3])
    return {"arm_depth": depth, "paper_lift": lift, "paper_speed": speed}
