"""Is the simulated motion physically plausible? Arm depth in the table, arm-table contact force,
sheet lift, sheet speed.

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

`arm_table_force(...)` (N): the largest normal force of any contact between an arm collision
geom and the table, from the constraint solver's forces (MuJoCo's `mj_contactForce`, normal
component). MuJoCo solves forces for the state at the start of a physics step (with that step's
ctrl and warm start), so a control step sees the forces of its substeps' start states; the
final state's are the next step's first. mjlab ends an episode when an end-effector/ground
contact exceeds 10 N (`EnvConfig.max_table_force`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from mujoco import mjx

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


# MuJoCo's constraint types of contact rows (mjtConstraint).
_CONTACT_ROWS = (int(mujoco.mjtConstraint.mjCNSTR_CONTACT_FRICTIONLESS),
                 int(mujoco.mjtConstraint.mjCNSTR_CONTACT_PYRAMIDAL),
                 int(mujoco.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC))
_MAX_CONDIM = 6


def _is_arm_table(geoms: ArmGeoms, table: int, pair: jax.Array) -> jax.Array:
    """(...,) bool: contact geom pairs (..., 2) between the table and an arm collision geom."""
    g1, g2 = pair[..., 0], pair[..., 1]
    arm1, arm2 = jp.isin(g1, geoms.ids), jp.isin(g2, geoms.ids)
    return ((g1 == table) & arm2) | ((g2 == table) & arm1)


def arm_table_force(geoms: ArmGeoms, table: int, model: mjx.Model, data: mjx.Data) -> jax.Array:
    """Largest normal force (N, scalar) of the contacts between an arm collision geom and geom
    `table` in one env's data, 0 if none: the contact-frame normal component of MuJoCo's
    `mj_contactForce` (pyramidal cone: the sum of the contact's pyramid rows; elliptic or
    condim 1: its first row). The forces are those of the constraint solve that produced `data`
    (`mjx.forward`, or `mjx.step`: the step's start state). Net of adhesion, as
    `mj_contactForce` (MuJoCo Warp models it; MJX jax does not; this scene has none).

    MJX exposes no public contact-force API, so this reads the backends' private contact data:
    - impl="jax": `data._impl.contact` (every candidate contact, static layout) and
      `data._impl.efc_force`, decoded by `mujoco.mjx._src.support.contact_force_dim`.
    - impl="warp": the contact buffer (`_impl.contact__*`) is shared by all worlds of the batch
      (unbatched under `jax.vmap`, `contact__worldid` says whose each is), while the constraint
      rows (`efc__force`, `efc__id`, `efc__type`, `nefc`) are per world. So this env's contacts
      are found through its own rows: each active row's `efc__id` is the index of its contact in
      the shared buffer (MuJoCo Warp's constraint.py); a contact's normal force is summed at its
      first row (`contact__efc_address[c, 0]`) over its 2 (condim - 1) pyramid rows, as MuJoCo
      Warp's `support.contact_force_fn` does. No world index is needed, so this holds under any
      nesting of vmaps (`PaperReturn.vmapped`)."""
    if data.impl == mjx.Impl.WARP:
        return _arm_table_force_warp(geoms, table, model, data)
    from mujoco.mjx._src import support  # private: MJX has no public contact-force API

    contact = data._impl.contact  # private (see above)
    best = jp.float32(0.0)
    for dim in sorted(set(np.asarray(contact.dim).tolist())):  # static: the contact layout
        force, ids = support.contact_force_dim(model, data, dim)  # (n, 6), (n,) numpy
        if len(ids) == 0:
            continue
        mask = _is_arm_table(geoms, table, contact.geom[ids])
        best = jp.maximum(best, jp.max(jp.where(mask, force[:, 0], 0.0)))
    return best


def _arm_table_force_warp(geoms: ArmGeoms, table: int, model: mjx.Model, data: mjx.Data
                          ) -> jax.Array:
    impl = data._impl  # private (MuJoCo Warp's Data fields; see arm_table_force)
    force, efc_id, efc_type = impl.efc__force, impl.efc__id, impl.efc__type  # (njmax,) this world
    if force.ndim != 1:
        raise ValueError(f"arm_table_force takes one env's data (vmap it), got efc__force "
                         f"{force.shape}")
    njmax = force.shape[0]
    rows = jp.arange(njmax)
    conid = jp.clip(efc_id, 0, impl.contact__geom.shape[0] - 1)
    active = (rows < impl.nefc) & jp.isin(efc_type, jp.array(_CONTACT_ROWS))
    first = impl.contact__efc_address[conid, 0] == rows  # the contact's first row
    dim = impl.contact__dim[conid]
    pyramidal = efc_type == int(mujoco.mjtConstraint.mjCNSTR_CONTACT_PYRAMIDAL)
    nrows = jp.where(pyramidal, 2 * (dim - 1), 1)  # rows summed into the normal force
    k = jp.arange(2 * (_MAX_CONDIM - 1))
    padded = jp.concatenate([force, jp.zeros(len(k), force.dtype)])  # rows past njmax: 0 (as Warp)
    window = padded[rows[:, None] + k[None, :]]  # (njmax, 10): row r and the next 9
    normal = jp.sum(jp.where(k[None, :] < nrows[:, None], window, 0.0), axis=1)
    normal = normal - impl.contact__adhesion[conid]  # net of adhesion, as mj_contactForce
    mask = active & first & _is_arm_table(geoms, table, impl.contact__geom[conid])
    return jp.max(jp.where(mask, normal, 0.0))
