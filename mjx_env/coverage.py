"""Does the arm's collision geometry enclose the arm? (issue 30, item 4)

The plausibility audit (`plausibility.measure`, `arm_depth`) and every contact the arm makes use
the arm's collision geoms only; the visual geoms (group 2) stand for the parts of the real arm
(printed housings and links, servos, jaws). A visual part that sticks out of the collision geoms
can go into the table unseen: the first scene's gripper housing box went 10.4 mm deep while its
collision capsule stayed above.

`coverage(model)` samples points on every arm visual geom's surface (boxes: a grid on each face,
corners and edges included; spheres, capsules, cylinders, ellipsoids: rings; meshes: their
vertices), puts them in the world at several arm poses (qpos0 and random joint configurations
within the joint ranges) and measures each point's signed distance to the nearest collision geom
of the same body or of its parent or child body (exact distance functions of spheres, capsules,
boxes and cylinders). A visual geom's `outside` is the worst point's distance outside every such
collision geom (0 when every point is inside or on one).

A body whose height cannot change (the base, fixed to the mount, and a body that only turns
about a vertical axis, the shoulder's pan) cannot reach the table: `fixed_height` names its
visual geoms, with `clearance`, their lowest point above the table over the poses.
"""
from __future__ import annotations

from typing import NamedTuple

import mujoco
import numpy as np

from mjx_env import plausibility

TOLERANCE = 1e-3  # m: a visual surface point within 1 mm outside a collision geom counts as covered
_G = mujoco.mjtGeom


class GeomCoverage(NamedTuple):
    name: str
    body: str
    outside: float  # m, worst surface point's distance outside every candidate collision geom
    worst_point: tuple[float, float, float]  # in the geom's body frame, m
    fixed_height: bool  # the body's height does not depend on qpos (base, pan-only body)
    clearance: float  # m, lowest surface point above the table over the poses


def _unit_grid(n: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n)


def surface_points(model: mujoco.MjModel, g: int, n: int = 9) -> np.ndarray:
    """(k, 3) points on geom g's surface in the geom's own frame."""
    t, size = int(model.geom_type[g]), model.geom_size[g]
    u = _unit_grid(n)
    if t == _G.mjGEOM_BOX:
        a, b = np.meshgrid(u, u, indexing="ij")
        a, b = a.ravel(), b.ravel()
        faces = []
        for axis in range(3):
            others = [i for i in range(3) if i != axis]
            for sign in (-1.0, 1.0):
                p = np.zeros((a.size, 3))
                p[:, axis] = sign
                p[:, others[0]], p[:, others[1]] = a, b
                faces.append(p)
        return np.concatenate(faces) * size[:3]
    ang = np.linspace(0, 2 * np.pi, 4 * n, endpoint=False)
    ring = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], -1)
    if t in (_G.mjGEOM_SPHERE, _G.mjGEOM_ELLIPSOID):
        pts = [np.array([[0, 0, 1.0], [0, 0, -1.0]])]
        for lat in np.linspace(-np.pi / 2, np.pi / 2, n)[1:-1]:
            pts.append(ring * np.cos(lat) + [0, 0, np.sin(lat)])
        p = np.concatenate(pts)
        return p * (size[0] if t == _G.mjGEOM_SPHERE else size[:3])
    if t == _G.mjGEOM_CAPSULE:
        r, h = size[0], size[1]
        pts = [ring * r + [0, 0, z] for z in np.linspace(-h, h, n)]
        for sign in (-1.0, 1.0):
            for lat in np.linspace(0, np.pi / 2, n)[1:]:
                pts.append(ring * r * np.cos(lat) + [0, 0, sign * (h + r * np.sin(lat))])
        return np.concatenate(pts)
    if t == _G.mjGEOM_CYLINDER:
        r, h = size[0], size[1]
        pts = [ring * r + [0, 0, z] for z in np.linspace(-h, h, n)]
        for z in (-h, h):
            for rad in np.linspace(0, r, n)[:-1]:
                pts.append(ring * rad + [0, 0, z])
        return np.concatenate(pts)
    if t == _G.mjGEOM_MESH:
        m = model.geom_dataid[g]
        start, count = model.mesh_vertadr[m], model.mesh_vertnum[m]
        return np.array(model.mesh_vert[start:start + count], float)
    raise ValueError(f"visual geom {model.geom(g).name or g}: type {t} not sampled")


def signed_distance(model: mujoco.MjModel, g: int, local: np.ndarray) -> np.ndarray:
    """(k,) signed distance (m, < 0 inside) of points given in geom g's frame to geom g."""
    t, size = int(model.geom_type[g]), model.geom_size[g]
    if t == _G.mjGEOM_SPHERE:
        return np.linalg.norm(local, axis=-1) - size[0]
    if t == _G.mjGEOM_CAPSULE:
        z = np.clip(local[:, 2], -size[1], size[1])
        return np.linalg.norm(local - np.stack([0 * z, 0 * z, z], -1), axis=-1) - size[0]
    if t == _G.mjGEOM_BOX:
        q = np.abs(local) - size[:3]
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
    if t == _G.mjGEOM_CYLINDER:
        q = np.stack([np.linalg.norm(local[:, :2], axis=-1) - size[0],
                      np.abs(local[:, 2]) - size[1]], -1)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
    raise ValueError(f"collision geom {model.geom(g).name or g}: type {t} has no distance here")


def _fixed_height_bodies(model: mujoco.MjModel, arm: set[int]) -> set[int]:
    """Arm bodies whose world height is the same at every qpos: no joint on the way from the
    world, or only hinges about the world's vertical axis."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    fixed = set()
    for b in sorted(arm):
        ok, p = True, b
        while p > 0:
            for j in range(model.body_jntadr[p], model.body_jntadr[p] + model.body_jntnum[p]):
                axis = data.xaxis[j]
                if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or abs(abs(axis[2]) - 1) > 1e-6:
                    ok = False
            p = model.body_parentid[p]
        if ok:
            fixed.add(b)
    return fixed


def arm_poses(model: mujoco.MjModel, random_poses: int = 8, seed: int = 0) -> np.ndarray:
    """(1 + random_poses, nq): qpos0, then joint angles uniform within every limited joint's range."""
    rng = np.random.default_rng(seed)
    poses = [model.qpos0.copy()]
    for _ in range(random_poses):
        q = model.qpos0.copy()
        for j in range(model.njnt):
            if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE and model.jnt_limited[j]:
                q[model.jnt_qposadr[j]] = rng.uniform(*model.jnt_range[j])
        poses.append(q)
    return np.array(poses)


def coverage(model: mujoco.MjModel, random_poses: int = 8, seed: int = 0, n: int = 9
             ) -> list[GeomCoverage]:
    """Per arm visual geom: how far its surface gets outside the collision geoms of its own,
    its parent or its child body (worst over `arm_poses`)."""
    arm = plausibility._arm_bodies(model)
    collision = set(int(g) for g in plausibility.arm_collision_geoms(model).ids)
    visual = [g for g in range(model.ngeom) if model.geom_bodyid[g] in arm and g not in collision
              and int(model.geom_type[g]) != _G.mjGEOM_PLANE]
    fixed = _fixed_height_bodies(model, arm)
    table = model.geom(plausibility.TABLE).id
    data = mujoco.MjData(model)
    worst = {g: (0.0, (0.0, 0.0, 0.0)) for g in visual}
    lowest = {g: np.inf for g in visual}
    local_pts = {g: surface_points(model, g, n) for g in visual}
    for qpos in arm_poses(model, random_poses, seed):
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        table_z = data.geom_xpos[table][2]
        for g in visual:
            b = int(model.geom_bodyid[g])
            near = {b, int(model.body_parentid[b])} | {
                c for c in arm if model.body_parentid[c] == b}
            cands = [c for c in collision if model.geom_bodyid[c] in near]
            world = data.geom_xpos[g] + local_pts[g] @ data.geom_xmat[g].reshape(3, 3).T
            lowest[g] = min(lowest[g], float(world[:, 2].min() - table_z))
            if not cands:
                dist = np.full(len(world), np.inf)
            else:
                dist = np.min([signed_distance(model, c, (world - data.geom_xpos[c])
                                               @ data.geom_xmat[c].reshape(3, 3))
                               for c in cands], axis=0)
            i = int(np.argmax(dist))
            if dist[i] > worst[g][0]:
                body_local = (world[i] - data.xpos[b]) @ data.xmat[b].reshape(3, 3)
                worst[g] = (float(dist[i]), tuple(float(v) for v in body_local))
    out = []
    for k, g in enumerate(visual):
        b = int(model.geom_bodyid[g])
        name = model.geom(g).name or f"{model.body(b).name}/visual{k}"
        out.append(GeomCoverage(name, model.body(b).name, worst[g][0], worst[g][1], b in fixed,
                                lowest[g]))
    return out


def report(rows: list[GeomCoverage]) -> str:
    lines = []
    for r in rows:
        where = "fixed height, clearance %.1f mm" % (r.clearance * 1e3) if r.fixed_height else ""
        lines.append(f"{r.name:24s} {r.body:10s} outside {r.outside * 1e3:7.2f} mm {where}")
    return "\n".join(lines)


if __name__ == "__main__":
    from mjx_env.scene import load_mj_model

    print(report(coverage(load_mj_model(1 / 360))))
