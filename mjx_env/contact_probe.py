"""A minimal scene that checks the scene's fingertip/sheet/table contact model in isolation.

The table, the A5 sheet and one 8 mm fingertip sphere on x/z slide joints, with the *scene's own*
contact pairs (friction, solref, solimp copied from `fixed_tip`-paper, `fixed_tip`-table and
paper-table in the compiled paper_return model) and the scene's solver options. The probe is
weightless (gravcomp), pressed down with a constant force (N) by a z motor and moved along x by a
stiff position servo, so a test can ask: does a fingertip pressing with F newtons drag the sheet,
and how deep does it sink?

`probe_model(sim_dt)` builds it; `drag(...)` runs the press-and-drag manoeuvre in MuJoCo C;
`drag_mjx(...)` the same in MJX (`impl` "jax" or "warp"). Units: m, s, N. Used by
tests/test_contact.py and benchmarks/contact.py.
"""
from __future__ import annotations

import functools

import mujoco
import numpy as np

from mjx_env.randomize import pair_id
from mjx_env.scene import load_mj_model, put_model

TIP_RADIUS = 0.008  # m, the fingertip sphere of ../shared/paper_return_task.md
SHEET_HALF = (0.074, 0.105, 0.0005)  # m, A5 x 1 mm
PROBE_KP = 400.0  # N/m, x servo
SETTLE_S, MOVE_S, HOLD_S = 0.4, 1.0, 0.3  # s: press, drag, let go


def probe_model(sim_dt: float) -> mujoco.MjModel:
    """The probe scene at physics step `sim_dt` (s), contact pairs as in the scene."""
    scene = load_mj_model(sim_dt)
    spec = mujoco.MjSpec()
    spec.option.timestep = sim_dt
    for name in ("iterations", "ls_iterations", "cone", "impratio", "integrator"):
        setattr(spec.option, name, getattr(scene.opt, name))
    spec.option.disableflags = scene.opt.disableflags
    world = spec.worldbody
    off = dict(contype=0, conaffinity=0)
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.5, 0.5, 0.01], **off)
    sheet = scene.body("paper").id
    paper = world.add_body(name="paper", pos=[0, 0, SHEET_HALF[2]], explicitinertial=True,
                           mass=float(scene.body_mass[sheet]),
                           inertia=scene.body_inertia[sheet].tolist())
    paper.add_freejoint(name="paper")
    paper.add_geom(name="paper", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(SHEET_HALF),
                   density=0, **off)
    probe = world.add_body(name="probe", pos=[-0.02, 0, 0.0], gravcomp=1.0)
    probe.add_joint(name="x", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[1, 0, 0], damping=20.0)
    probe.add_joint(name="z", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1], damping=2.0)
    probe.add_geom(name="tip", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[TIP_RADIUS, 0, 0],
                   mass=0.02, **off)
    spec.add_actuator(name="x", target="x", trntype=mujoco.mjtTrn.mjTRN_JOINT,
                      gainprm=[PROBE_KP] + [0] * 9, biasprm=[0, -PROBE_KP, 0] + [0] * 7,
                      biastype=mujoco.mjtBias.mjBIAS_AFFINE)
    spec.add_actuator(name="z", target="z", trntype=mujoco.mjtTrn.mjTRN_JOINT)  # force motor
    for a, b, src in (("paper", "table", ("paper", "table")), ("tip", "paper", ("fixed_tip", "paper")),
                      ("tip", "table", ("fixed_tip", "table"))):
        i = pair_id(scene, *src)
        spec.add_pair(geomname1=a, geomname2=b, condim=int(scene.pair_dim[i]),
                      friction=scene.pair_friction[i].tolist(), solref=scene.pair_solref[i].tolist(),
                      solimp=scene.pair_solimp[i].tolist(), margin=float(scene.pair_margin[i]),
                      gap=float(scene.pair_gap[i]))
    return spec.compile()


def schedule(t: np.ndarray, force: float, travel: float, lifted: float | None):
    """Probe commands at times `t` (s): x target (m) and z motor force (N, up positive).

    `lifted` None: press down with `force`; else no force (the z joint, damped stiff, stays at
    that height above the sheet)."""
    frac = np.clip((t - SETTLE_S) / MOVE_S, 0.0, 1.0)
    x = travel * frac
    z = np.where(t < 0.05, 0.0, -force) if lifted is None else np.zeros_like(t)
    return x, z


def start_qpos(model: mujoco.MjModel, lifted: float | None) -> np.ndarray:
    """Sheet at rest; the probe resting on it, or `lifted` m above it."""
    q = model.qpos0.copy()
    z_rest = 2 * SHEET_HALF[2] + TIP_RADIUS
    q[model.joint("z").qposadr[0]] = z_rest + (lifted or 0.0)
    return q


def _summary(model, qpos: np.ndarray, travel: float, sim_dt: float) -> dict:
    """qpos (T + 1, nq) of a run -> sheet travel / tip travel, tip depth below the table top
    (m), the sheet centre's largest distance from its resting height while pressed still and
    while dragged (m), and its largest height above rest (m)."""
    px, pz = model.joint("paper").qposadr[0], model.joint("paper").qposadr[0] + 2
    x, z = model.joint("x").qposadr[0], model.joint("z").qposadr[0]
    tip_travel = qpos[-1, x] - qpos[0, x]
    dev = qpos[:, pz] - SHEET_HALF[2]
    still = slice(int(0.2 / sim_dt), int(SETTLE_S / sim_dt))  # pressed, before the drag
    return {
        "sheet_fraction": float((qpos[-1, px] - qpos[0, px]) / max(abs(tip_travel), 1e-9)),
        "tip_travel": float(tip_travel),
        "sheet_travel": float(qpos[-1, px] - qpos[0, px]),
        "tip_depth": float(max(0.0, -(qpos[:, z] - TIP_RADIUS).min())),
        "sheet_z_dev_pressed": float(np.abs(dev[still]).max()),
        "sheet_z_dev_dragged": float(np.abs(dev).max()),
        "sheet_lift": float(max(0.0, dev.max())),
    }


def drag(force: float, sim_dt: float, travel: float = 0.05, lifted: float | None = None) -> dict:
    """Press with `force` N (or hover `lifted` m above), drag `travel` m along x, in MuJoCo C."""
    model = probe_model(sim_dt)
    data = mujoco.MjData(model)
    data.qpos[:] = start_qpos(model, lifted)
    if lifted is not None:  # hold the hover height: a z joint too damped to move
        model.dof_damping[model.jnt_dofadr[model.joint("z").id]] = 1e6
    steps = int(round((SETTLE_S + MOVE_S + HOLD_S) / sim_dt))
    t = np.arange(steps) * sim_dt
    x_cmd, z_cmd = schedule(t, force, travel, lifted)
    out = np.zeros((steps, model.nq))
    for k in range(steps):
        data.ctrl[:] = (x_cmd[k], z_cmd[k])
        mujoco.mj_step(model, data)
        out[k] = data.qpos
    return _summary(model, np.vstack([start_qpos(model, lifted)[None], out]), travel, sim_dt)


def drag_mjx(force: float, sim_dt: float, impl: str, travel: float = 0.05,
             lifted: float | None = None) -> dict:
    """`drag` in MJX (`impl` "jax" or "warp"), one jitted scan over the physics steps (compiled
    once per sim_dt, impl and hover; the commands are its argument)."""
    model, run, start = _mjx_runner(sim_dt, impl, lifted)
    steps = int(round((SETTLE_S + MOVE_S + HOLD_S) / sim_dt))
    t = np.arange(steps) * sim_dt
    qpos = run(np.stack(schedule(t, force, travel, lifted), -1).astype(np.float32))
    return _summary(model, np.vstack([start[None], np.asarray(qpos)]), travel, sim_dt)


@functools.lru_cache(maxsize=8)
def _mjx_runner(sim_dt: float, impl: str, lifted: float | None):
    """(probe MjModel, jitted ctrl (T, 2) -> qpos (T, nq), start qpos) for one set-up."""
    import jax
    import jax.numpy as jp
    from mujoco import mjx

    model = probe_model(sim_dt)
    if lifted is not None:
        model.dof_damping[model.jnt_dofadr[model.joint("z").id]] = 1e6
    m = put_model(model, impl)
    kwargs = {"naconmax": 16, "njmax": 64} if impl == "warp" else {}
    start = start_qpos(model, lifted)
    d0 = mjx.make_data(model, impl=impl, **kwargs).replace(qpos=jp.asarray(start))

    def body(d, u):
        d = mjx.step(m, d.replace(ctrl=u))
        return d, d.qpos

    run = jax.jit(lambda ctrl: jax.lax.scan(body, d0, ctrl)[1])
    return model, run, start
