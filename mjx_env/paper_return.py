"""The SO-101 paper_return environment (`mjx_env.env_base.Env`).

`reset(rng) -> State` and `step(state, action) -> State` for one env (`rng` (2,), `action` (6,))
or for a batch (`rng` (B, 2), `action` (B, 6)): the batch size comes from the arrays, never from
the constructor (MuJoCo Warp's shared contact buffer is sized `naconmax_per_env x B` when a batch
of keys is reset). `mjx_env.wrappers.wrap_for_training` adds truncation and auto-reset. Both MJX
backends work: `impl="jax"` and `impl="warp"`. With `impl="warp"`, reset a batch by passing its
keys (not `jax.vmap(env.reset)`, which would size the contact buffer for one env).

Control (30 Hz, `n_substeps` physics steps each; `mjx_env.control`):
    target = base + scale * clip(action, -1, 1), clipped to the joint ranges,
    then rate-limited to `max_joint_speed` (the servo's speed) from the previous setpoint,
where `base` (6,) rad is `info["base_target"]` when `info["base_active"]` is 1, else the previous
setpoint (so a driver that sets no base holds the pose; at reset that is the initial arm pose),
and `scale` is alpha x action_scale with an active base, alpha x hold_action_scale without.
Where `info["base_filtered"]` is 1 (a residual runs on the base), the base target first passes
the residual layer's setpoint filter `control.filtered_base` with `base_filter`; 0 (the base
alone, and any driver that does not ask for it) sends it unfiltered. `set_base` writes the three
keys. An implausible step (an arm geom deeper than `implausible_depth`
in the table, an arm-table contact force above `max_table_force`, the sheet lifted more than
`implausible_lift`, or a setpoint further than `max_target_gap` from the measured joints, where
deploy's safety stop would end a real run: `metrics["deploy_stop"]`) makes the episode
implausible and costs `reward_implausible` at every such step (not an ending unless
`terminate_implausible`: a policy would learn to end its episodes early to escape the per-step
costs).
Actions must have shape (6,) per env; NaN/Inf entries are
replaced by 0 and counted in `metrics["nan_action"]` (never passed to the physics).
"""
from __future__ import annotations

import copy
import functools

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from mujoco import mjx

from mjx_env import control, plausibility, randomize, task
from mjx_env.config import EnvConfig, validate
from mjx_env.env_base import Env, State
from mjx_env.scene import ARM_JOINTS, default_impl, load_mj_model, put_model, qpos_index

# The plausibility metrics, declared once: each step's physical measures (unit of each), the
# step's flags (1.0 / 0.0), and the episode's verdict. Logs, traces, reports read these names.
PLAUSIBILITY_UNITS = {"arm_depth": "m", "arm_table_force": "N", "paper_lift": "m",
                      "paper_speed": "m/s", "target_gap": "rad"}
PLAUSIBILITY_FLAGS = ("deploy_stop", "implausible")
PLAUSIBILITY_KEYS = (*PLAUSIBILITY_UNITS, *PLAUSIBILITY_FLAGS, "plausible_success")
METRIC_KEYS = ("success", "goal_distance", "yaw_error", "nan_action", "nan_physics") + tuple(
    f"reward/{k}" for k in ("reach", "progress", "distance", "yaw", "action", "success",
                            "implausible")) + PLAUSIBILITY_KEYS


class PaperReturn(Env):
    """Slide an A5 sheet into the red tape square. Observation: 25 floats (`task.OBS_SLICES`)."""

    def __init__(self, config: EnvConfig = EnvConfig()):
        self.config = validate(config)
        self.impl = config.impl or default_impl()
        self.outer_batch = 1  # copies of each batch vmapped outside the env (`vmapped`)
        self._mj_model = load_mj_model(config.sim_dt)
        if config.solver_iterations is not None:
            self._mj_model.opt.iterations = config.solver_iterations
        if config.ls_iterations is not None:
            self._mj_model.opt.ls_iterations = config.ls_iterations
        self._mjx_model = put_model(self._mj_model, self.impl)
        m = self._mj_model
        self.ids = randomize.scene_ids(m)
        self._arm_qpos = np.array([qpos_index(m, j) for j in ARM_JOINTS])
        self._arm_dofs = self.ids.arm_dofs
        self._paper_qpos = qpos_index(m, "paper")
        self._paper_qvel = int(m.jnt_dofadr[m.joint("paper").id])
        self._paper_rest_z = float(m.geom("paper").size[2])  # m, centre of a sheet lying flat
        self.arm_geoms = plausibility.arm_collision_geoms(m)
        self._table_geom = m.geom(plausibility.TABLE).id
        self._max_step = config.max_joint_speed * config.ctrl_dt  # rad per control step
        self._ee_site = m.site("ee").id
        rng = m.jnt_range[[m.joint(j).id for j in ARM_JOINTS]]
        self.joint_lower, self.joint_upper = jp.asarray(rng[:, 0]), jp.asarray(rng[:, 1])
        data = mujoco.MjData(m)
        mujoco.mj_kinematics(m, data)
        target_xy, robot_xy = data.body("target").xpos[:2], data.body("base").xpos[:2]
        self.target = jp.array([*target_xy, 0.0])  # m, centre of the red tape square
        self.robot_xy = jp.asarray(robot_xy)  # m, the arm's base in the world
        to_robot = robot_xy - target_xy
        self._bearing = float(np.arctan2(to_robot[1], to_robot[0]))  # rad, target -> robot
        self.kp_nominal = jp.asarray(m.actuator_gainprm[:, 0])

    def vmapped(self, copies: int) -> "PaperReturn":
        """This env for use under an outer `jax.vmap` of `copies` (seeds side by side): MuJoCo
        Warp's shared contact buffer then holds `copies` x batch worlds. impl="jax" ignores it."""
        env = copy.copy(self)
        env.outer_batch = copies
        return env

    # --- Env interface -------------------------------------------------------------
    @property
    def action_size(self) -> int:
        return 6

    @property
    def mj_model(self):
        return self._mj_model

    @property
    def mjx_model(self) -> mjx.Model:
        return self._mjx_model

    def model_for(self, dr: dict) -> mjx.Model:
        """The MJX model with one env's randomisation `info["dr"]` applied."""
        return randomize.apply(self._mjx_model, dr, self.ids)

    def reset(self, rng: jax.Array) -> State:
        """A freshly randomised state: one env for a key (2,), a batch for keys (B, 2)."""
        if rng.ndim == 2:
            return _reset_batch(self, rng)
        if self.impl == "warp" and _vmapped(rng):
            raise ValueError("impl='warp': reset a batch by passing its keys (B, 2), not under "
                             "jax.vmap (which would size MuJoCo Warp's shared contact buffer for "
                             "one env and overflow it)")
        return self._reset(rng, 1)

    def _reset(self, rng: jax.Array, batch: int) -> State:
        cfg = self.config
        rng, k_dr, k_dist, k_dir, k_yaw, k_arm = jax.random.split(rng, 6)
        dr = randomize.sample(k_dr, cfg.randomization, self._mj_model.nlight)
        dist = jax.random.uniform(k_dist, minval=cfg.paper_distance[0], maxval=cfg.paper_distance[1])
        bearing = self._bearing + jax.random.uniform(
            k_dir, minval=-cfg.paper_direction_spread, maxval=cfg.paper_direction_spread)
        paper_xy = self.target[:2] + dist * jp.array([jp.cos(bearing), jp.sin(bearing)])
        yaw = jax.random.uniform(k_yaw, minval=-cfg.paper_yaw_noise, maxval=cfg.paper_yaw_noise)
        paper = jp.array([paper_xy[0], paper_xy[1], 0.0005,
                          jp.cos(yaw / 2), 0.0, 0.0, jp.sin(yaw / 2)])
        noise = cfg.randomization.arm_qpos_noise if cfg.randomization.enabled else 0.0
        arm = jp.asarray(cfg.home_qpos) + jax.random.uniform(k_arm, (6,), minval=-noise, maxval=noise)
        arm = jp.clip(arm, self.joint_lower, self.joint_upper)
        return self.reset_to(rng, dr, paper, arm, batch)

    def reset_to(self, rng: jax.Array, dr: dict, paper_qpos: jax.Array, arm_qpos: jax.Array,
                 batch: int = 1) -> State:
        """State with the paper free joint at `paper_qpos` (7,) (m, wxyz quat) and the arm at
        `arm_qpos` (6,) rad, at rest, randomisation `dr`, as one of `batch` envs stepped together
        (sizes MuJoCo Warp's shared contact buffer). Tests use it to set exact states."""
        qpos = jp.asarray(self._mj_model.qpos0, jp.float32)
        qpos = qpos.at[self._paper_qpos:self._paper_qpos + 7].set(paper_qpos)
        qpos = qpos.at[self._arm_qpos].set(arm_qpos)
        kwargs = {}
        if self.impl == "warp":
            kwargs = {"naconmax": self.config.naconmax_per_env * batch * self.outer_batch,
                      "njmax": self.config.njmax}
        data = mjx.make_data(self._mj_model, impl=self.impl, device=jax.local_devices()[0],
                             **kwargs).replace(qpos=qpos, ctrl=arm_qpos)
        data = mjx.forward(self.model_for(dr), data)
        goal_dist = jp.linalg.norm(self.target[:2] - paper_qpos[:2])
        info = {
            "rng": rng,
            "dr": dr,
            "base_target": jp.asarray(arm_qpos, jp.float32),
            "base_active": jp.float32(0.0),
            "base_filtered": jp.float32(0.0),
            "last_target": jp.asarray(arm_qpos, jp.float32),
            "success_steps": jp.int32(0),
            "goal_distance": goal_dist.astype(jp.float32),
            "implausible": jp.float32(0.0),  # 1 once any step of this episode was implausible
        }
        metrics = {k: jp.float32(0.0) for k in METRIC_KEYS}
        metrics["goal_distance"] = goal_dist.astype(jp.float32)
        metrics.update(self._plausibility(data))
        return State(data, self._observe(data), jp.float32(0.0), jp.float32(0.0), metrics, info)

    def step(self, state: State, action: jax.Array) -> State:
        """The next state: one env (`action` (6,)) or a batch (`action` (B, 6), `state` batched).
        A batch runs the per-env parts under `jax.vmap` and the substeps as one scan over the
        batch (a scan traced under vmap would be traced, then batched, twice: ~5 s per program)."""
        if action.ndim == 2 and action.shape[1:] == (6,) and state.obs.ndim == 2:
            command = jax.vmap(self._command)(state, action)
            reached = self._physics(state.info["dr"], state.data, command["target"], batched=True)
            return jax.vmap(self._outcome)(state, command, *reached)
        command = self._command(state, action)
        reached = self._physics(state.info["dr"], state.data, command["target"], batched=False)
        return self._outcome(state, command, *reached)

    def _command(self, state: State, action: jax.Array) -> dict[str, jax.Array]:
        """One env's control step before the physics: the clipped action (6,), which entries were
        finite, the rate-limited setpoint `target` (6,) rad, its gap to the measured joints (rad)
        and whether deploy's safety stop would fire on it."""
        cfg = self.config
        if action.shape != (6,) or state.obs.ndim != 1:
            raise ValueError(f"action must have shape (6,) per env or (B, 6) for a batched state, "
                             f"got {action.shape} for observations {state.obs.shape}")
        finite = jp.isfinite(action)
        action = jp.clip(jp.where(finite, action, 0.0), -1.0, 1.0)
        info = state.info
        last = info["last_target"]
        k = 1.0 if cfg.base_filter == 1 else 1.0 - info["base_filtered"] * (1.0 - cfg.base_filter)
        base = jp.where(info["base_active"] > 0,
                        control.filtered_base(info["base_target"], last, k), last)
        scale = control.residual_scale(cfg, info["base_active"])
        target = control.joint_target(base, action, scale, self.joint_lower, self.joint_upper)
        target = control.rate_limit(target, last, self._max_step)
        gap = control.target_gap(target, state.data.qpos[self._arm_qpos])  # before the physics
        return {"action": action, "finite": finite, "target": target, "gap": gap,
                "deploy_stop": gap > cfg.max_target_gap}

    def _outcome(self, state: State, command: dict, data: mjx.Data, deepest: jax.Array,
                 highest: jax.Array, hardest: jax.Array) -> State:
        """One env's state after the physics reached `data` (the worst depth and lift (m) and
        arm-table force (N) of its substeps): observation, reward, ending, metrics."""
        cfg = self.config
        action, finite, target, gap, deploy_stop = (command[k] for k in (
            "action", "finite", "target", "gap", "deploy_stop"))
        info = dict(state.info)
        obs = self._observe(data)
        nan_physics = ~jp.all(jp.isfinite(obs))
        obs = jp.where(nan_physics, 0.0, obs)
        paper_pos, paper_quat = obs[task.OBS_SLICES["paper_pos"]], obs[task.OBS_SLICES["paper_quat"]]
        ee_pos = obs[task.OBS_SLICES["ee_pos"]]
        in_pose = task.in_success_pose(paper_pos, paper_quat, self.target,
                                       cfg.success_pos_tol, cfg.success_yaw_tol)
        success_steps = jp.where(in_pose & ~nan_physics, info["success_steps"] + 1, 0)
        success = success_steps >= cfg.success_hold_steps
        # Geom poses after a step are those of the last substep's start: recompute them for the
        # state reached. Depth and lift are the worst over every substep and the state reached;
        # the arm-table force the largest of the substeps' constraint solves (each of a
        # substep's start state; the state reached has no solve of its own yet).
        plaus = self._plausibility(mjx.kinematics(self.model_for(info["dr"]), data), force=False)
        plaus["arm_depth"] = jp.maximum(plaus["arm_depth"], deepest)
        plaus["paper_lift"] = jp.maximum(plaus["paper_lift"], highest)
        plaus["arm_table_force"] = hardest
        implausible_now = ((plaus["arm_depth"] > cfg.implausible_depth)
                           | (plaus["arm_table_force"] > cfg.max_table_force)
                           | (plaus["paper_lift"] > cfg.implausible_lift) | deploy_stop)
        implausible = (info["implausible"] > 0) | implausible_now
        terms = task.reward_terms(cfg, paper_pos, paper_quat, self.target, ee_pos, action,
                                  info["goal_distance"], success)
        stop_implausible = implausible_now & cfg.terminate_implausible
        # every implausible step costs, not only the first: the signal that keeps a residual
        # from buying success with an arm pressing the table or a setpoint deploy would refuse
        terms["implausible"] = -cfg.reward_implausible * implausible_now.astype(jp.float32)
        reward = jp.where(nan_physics, 0.0, sum(terms.values()))
        off_table = (paper_pos[2] < -0.02) | jp.any(jp.abs(paper_pos[:2]) > 0.6)
        done = success | off_table | nan_physics | stop_implausible

        goal_dist = jp.linalg.norm(self.target[:2] - paper_pos[:2])
        info.update(last_target=target, success_steps=success_steps.astype(jp.int32),
                    goal_distance=goal_dist, implausible=implausible.astype(jp.float32))
        metrics = dict(state.metrics)  # keeps keys that wrappers added
        metrics.update({f"reward/{k}": v for k, v in terms.items()})
        metrics.update(success=success.astype(jp.float32), goal_distance=goal_dist,
                       yaw_error=task.yaw_error(paper_quat),
                       nan_action=jp.any(~finite).astype(jp.float32),
                       nan_physics=nan_physics.astype(jp.float32),
                       implausible=implausible_now.astype(jp.float32),
                       target_gap=gap.astype(jp.float32), deploy_stop=deploy_stop.astype(jp.float32),
                       plausible_success=(success & ~implausible).astype(jp.float32), **plaus)
        return state.replace(data=data, obs=obs, reward=reward.astype(jp.float32),
                             done=done.astype(jp.float32), metrics=metrics, info=info)

    # --- helpers --------------------------------------------------------------------------
    def _physics(self, dr: dict, data: mjx.Data, target: jax.Array, batched: bool):
        """`n_substeps` physics steps holding the servo setpoint `target` ((6,) rad, or (B, 6)
        with `batched`: every env of the batch in one scan); also returns the arm's deepest depth
        in the table and the sheet's highest lift (m) seen at the substeps, and the largest
        arm-table contact force (N) of the substeps' constraint solves (each () or (B,))."""
        def one_env(dr, d, target):
            d = mjx.step(self.model_for(dr), d.replace(ctrl=target))
            m = self._plausibility(d)  # geom poses and contacts of this substep's start
            return d, m["arm_depth"], m["paper_lift"], m["arm_table_force"]

        advance = jax.vmap(one_env) if batched else one_env

        def substep(carry, _):
            d, deepest, highest, hardest = carry
            d, depth, lift, force = advance(dr, d, target)
            return (d, jp.maximum(deepest, depth), jp.maximum(highest, lift),
                    jp.maximum(hardest, force)), None

        zero = jp.zeros(target.shape[:-1], jp.float32)
        return jax.lax.scan(substep, (data, zero, zero, zero), None, self.n_substeps)[0]

    def _plausibility(self, data: mjx.Data, force: bool = True) -> dict[str, jax.Array]:
        """arm_depth (m), paper_lift (m), paper_speed (m/s) of one env (mjx_env.plausibility)
        and, with `force`, arm_table_force (N) from `data`'s last constraint solve."""
        out = plausibility.measure(self.arm_geoms, data, self._paper_qpos, self._paper_qvel,
                                   self._paper_rest_z)
        if force:
            out["arm_table_force"] = plausibility.arm_table_force(
                self.arm_geoms, self._table_geom, self._mjx_model, data)
        return {k: jp.nan_to_num(v).astype(jp.float32) for k, v in out.items()}

    def _observe(self, data: mjx.Data) -> jax.Array:
        p = self._paper_qpos
        return task.observation(
            data.qpos[self._arm_qpos], data.qvel[self._arm_dofs], data.qpos[p:p + 3],
            data.qpos[p + 3:p + 7], self.target, data.site_xpos[self._ee_site])


# A batch's reset, traced once per env and batch (shape, sharding) and inlined wherever it is
# called: a training run's init and its iteration's auto-reset share one trace (~3.5 s on a
# CPU) instead of tracing it twice. `jax.clear_caches()` forgets it (ppo.train does, per run).
@functools.partial(jax.jit, static_argnums=0, inline=True)
def _reset_batch(env: PaperReturn, keys: jax.Array) -> State:
    return jax.vmap(lambda k: env._reset(k, keys.shape[0]))(keys)


def _vmapped(x) -> bool:
    """Whether `x` is being traced by `jax.vmap` (JAX's batching tracer)."""
    from jax._src.interpreters.batching import BatchTracer  # no public name for it

    return isinstance(x, BatchTracer)


def set_base(state: State, base_target: jax.Array, active: jax.Array | float = 1.0,
             filtered: jax.Array | float = 0.0) -> State:
    """`state` with the base joint target (..., 6) rad for the next step (`active` 0 = hold;
    `filtered` 1 = through the residual layer's setpoint filter, as where a residual runs)."""
    info = dict(state.info)
    info["base_target"] = jp.asarray(base_target, jp.float32)
    for key, value in (("base_active", active), ("base_filtered", filtered)):
        info[key] = jp.broadcast_to(jp.asarray(value, jp.float32), info[key].shape)
    return state.replace(info=info)


def make(**overrides) -> PaperReturn:
    """`PaperReturn(EnvConfig(**overrides))`; an unknown field is a TypeError."""
    return PaperReturn(EnvConfig(**overrides))
