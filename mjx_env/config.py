"""Configuration of the paper_return environment: frozen dataclasses whose defaults train.

Units: metres, radians, seconds, kilograms. Every range is a (low, high) pair sampled uniformly,
per env, at reset. `validate` turns a bad value into a ValueError that names the field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class RandomizationConfig:
    """Domain randomisation, sampled per env at every reset. Scales multiply the facts' values."""

    enabled: bool = True
    paper_friction_scale: tuple[float, float] = (0.8, 1.2)  # x 0.2, sheet-table pair (sliding)
    paper_mass_scale: tuple[float, float] = (0.8, 1.2)  # x 0.005 kg, inertia scaled alike
    fingertip_friction_scale: tuple[float, float] = (0.8, 1.2)  # x 2.0, tip/pad-sheet pairs
    kp_scale: tuple[float, float] = (0.9, 1.1)  # x 17.8 N m / rad, per joint
    damping_scale: tuple[float, float] = (0.8, 1.2)  # x 0.60 N m s / rad, per joint
    arm_qpos_noise: float = 0.05  # rad, +- around the home pose, per joint
    camera_pos_noise: float = 0.01  # m, +- per axis, top and wrist cameras (renderer only)
    light_pos_noise: float = 0.1  # m, +- per axis (renderer only)
    light_diffuse_scale: tuple[float, float] = (0.7, 1.3)  # renderer only


@dataclass(frozen=True)
class EnvConfig:
    """paper_return task, physics and reward settings (see README "Environment")."""

    impl: str | None = None  # "jax" | "warp" | None = the faster on this device (scene.py)
    ctrl_dt: float = 1.0 / 30.0  # s, control period: the recordings' 30 fps
    sim_dt: float = 1.0 / 360.0  # s, physics step: 12 substeps per control step (README "Contact")
    episode_length: int = 300  # control steps (10 s) before truncation
    # Action (mjx_env.control): target = base + alpha * scale * clip(action, -1, 1), clipped to
    # the joint ranges. With an active base, `base` is its target (through `base_filter` where a
    # residual runs) and the residual an offset from it (scale `action_scale`); with none (zero
    # base), `base` is the previous target and the action a step from it (`hold_action_scale`).
    action_scale: float = 0.1  # rad per unit action: offset from an active base's target
    hold_action_scale: float = 0.05  # rad per unit action and control step: no active base
    alpha: float = 0.7
    # The residual layer's setpoint filter (mjx_env.control.filtered_base), an option for a
    # jittery base: where a residual runs on an active base, the law's base is `last +
    # base_filter x (base - last)` (`last`: the previous setpoint), a first-order low-pass that
    # averages per-step jitter out (1: off, the default). The base alone (no residual: base
    # checks, the evaluation's base-alone episodes, demonstrations) always runs unfiltered.
    # Measured both ways (a noisy base lifted, a good one made worse): docs/bases.md.
    base_filter: float = 1.0
    # Servo speed cap (STS3215 no-load 45 RPM ~ 4.7 rad/s): the setpoint moves at most
    # max_joint_speed * ctrl_dt per control step towards the target (mjx_env.control).
    max_joint_speed: float = 4.7  # rad/s
    home_qpos: tuple[float, ...] = (0.0, 0.3, -0.6, 0.0, 0.0, 0.0)  # rad, arm reset pose
    # Reset: paper centre placed `paper_distance` from the target centre, in a direction within
    # +-`paper_direction_spread` of the target->robot bearing, yaw +-`paper_yaw_noise`.
    paper_distance: tuple[float, float] = (0.07, 0.11)  # m
    paper_direction_spread: float = 0.45  # rad
    paper_yaw_noise: float = 0.15  # rad
    # Success: centre within `success_pos_tol` of the target centre and yaw error (mod pi, the
    # sheet is symmetric under a half turn) within `success_yaw_tol`, lying on the table, for
    # `success_hold_steps` consecutive control steps. Success ends the episode.
    success_pos_tol: float = 0.02  # m
    success_yaw_tol: float = math.radians(15.0)  # rad
    success_hold_steps: int = 5
    # Reward weights; each term is reported as metrics["reward/<name>"].
    reward_reach: float = 0.5  # x (exp(-|fingertip - paper centre| / 0.15 m) - 1), per step
    reward_progress: float = 20.0  # x decrease of the paper-target distance (m) this step
    reward_distance: float = 0.1  # x -(paper-target distance / 0.1 m), per step
    reward_yaw: float = 0.1  # x -(|yaw error| / (pi/2)), per step
    reward_action: float = 0.01  # x -mean(action^2), per step
    reward_success: float = 10.0  # once, when success fires
    # Plausibility (mjx_env.plausibility): an episode is implausible if at any step an arm
    # collision geom is deeper than `implausible_depth` in the table, the sheet centre is more
    # than `implausible_lift` above its resting height, or a contact between an arm collision
    # geom and the table pushes with more than `max_table_force` (normal force, any substep;
    # mjlab ends an episode when an end-effector/ground contact exceeds 10 N; the scripted
    # expert's maximum is in docs/environment.md). Every implausible step costs
    # `reward_implausible`; `terminate_implausible` also ends the episode there (README
    # "Contact": measured choice).
    implausible_depth: float = 0.003  # m
    implausible_lift: float = 0.003  # m
    max_table_force: float = 10.0  # N
    terminate_implausible: bool = False
    reward_implausible: float = 1.0
    # The deploy loop's safety stop (deploy.safety.check_step): a sent joint target (after the
    # servo model's rate limit) further than this from the measured joint stops the real robot.
    # The env applies the same rule: every such step costs `reward_implausible` and makes the
    # episode implausible (a policy that deploy would stop is not a success). It does not end the
    # episode: ending it taught the CPU default run to escape the per-step costs that way
    # (98% of its evaluation episodes ended by it; docs/environment.md).
    max_target_gap: float = math.radians(30.0)  # rad, every joint
    # MuJoCo Warp buffer sizes per env (contacts, constraint rows).
    naconmax_per_env: int = 24
    njmax: int = 96
    # Constraint solver budget per physics step (both impls; exits early once converged). None:
    # the scene's (20 / 12). Fewer leave impl="jax" unconverged under a pressing fingertip.
    solver_iterations: int | None = None
    ls_iterations: int | None = None
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)

    @property
    def n_substeps(self) -> int:
        return int(round(self.ctrl_dt / self.sim_dt))


def _check_range(name: str, pair, low: float = -math.inf) -> None:
    if len(pair) != 2 or not (low <= pair[0] <= pair[1]):
        raise ValueError(f"{name} must be a (low, high) pair with {low} <= low <= high, got {pair}")


def check_finite_fields(config, prefix: str = "") -> None:
    """ValueError naming the first float field of a dataclass (or float inside a tuple field)
    that is NaN or infinite."""
    for f in fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(x, float) and not math.isfinite(x) for x in values):
            raise ValueError(f"{prefix}{f.name} must be finite, got {value!r}")


def validate(config: EnvConfig) -> EnvConfig:
    """Raise ValueError naming the first bad field; return `config` unchanged otherwise."""
    from mjx_env.scene import check_impl  # local: scene imports jax

    check_finite_fields(config)
    check_finite_fields(config.randomization, "randomization.")

    if config.impl is not None:
        check_impl(config.impl)
    if not config.ctrl_dt > 0 or not config.sim_dt > 0:
        raise ValueError(f"ctrl_dt and sim_dt must be > 0 s, got {config.ctrl_dt}, {config.sim_dt}")
    ratio = config.ctrl_dt / config.sim_dt
    if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise ValueError(f"ctrl_dt / sim_dt must be a whole number of substeps, got {ratio:.4f}")
    if config.episode_length < 1:
        raise ValueError(f"episode_length must be >= 1 step, got {config.episode_length}")
    if not (config.action_scale > 0 and config.hold_action_scale > 0 and config.alpha >= 0):
        raise ValueError(f"need action_scale > 0, hold_action_scale > 0 and alpha >= 0, got "
                         f"{config.action_scale}, {config.hold_action_scale}, {config.alpha}")
    if not 0 < config.base_filter <= 1:
        raise ValueError(f"base_filter must be in (0, 1] (1: off), got {config.base_filter}")
    if not config.max_joint_speed > 0:
        raise ValueError(f"max_joint_speed must be > 0 rad/s, got {config.max_joint_speed}")
    if not (config.implausible_depth > 0 and config.implausible_lift > 0):
        raise ValueError("implausible_depth and implausible_lift must be > 0 m")
    if not config.max_table_force > 0:
        raise ValueError(f"max_table_force must be > 0 N, got {config.max_table_force}")
    if not 0 < config.max_target_gap < math.pi:
        raise ValueError(f"max_target_gap must be in (0, pi) rad, got {config.max_target_gap}")
    if not config.reward_implausible >= 0:
        raise ValueError(f"reward_implausible must be >= 0, got {config.reward_implausible}")
    if len(config.home_qpos) != 6:
        raise ValueError(f"home_qpos must hold 6 joint angles, got {len(config.home_qpos)}")
    _check_range("paper_distance", config.paper_distance, 0.0)
    if config.success_pos_tol <= 0 or not 0 < config.success_yaw_tol <= math.pi / 2:
        raise ValueError("success_pos_tol must be > 0 m and success_yaw_tol in (0, pi/2] rad")
    if config.success_hold_steps < 1:
        raise ValueError(f"success_hold_steps must be >= 1, got {config.success_hold_steps}")
    if config.naconmax_per_env < 1 or config.njmax < 1:
        raise ValueError("naconmax_per_env and njmax must be >= 1")
    for name in ("solver_iterations", "ls_iterations"):
        if getattr(config, name) is not None and getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1 (or None: the scene's), got {getattr(config, name)}")
    r = config.randomization
    for name in ("paper_friction_scale", "paper_mass_scale", "fingertip_friction_scale",
                 "kp_scale", "damping_scale", "light_diffuse_scale"):
        _check_range(f"randomization.{name}", getattr(r, name), 0.0)
    for name in ("arm_qpos_noise", "camera_pos_noise", "light_pos_noise"):
        if getattr(r, name) < 0:
            raise ValueError(f"randomization.{name} must be >= 0, got {getattr(r, name)}")
    return config


def check_num_envs(num_envs: int) -> int:
    """A positive whole number of envs, or ValueError."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return num_envs
