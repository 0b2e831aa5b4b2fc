"""The 30 Hz deploy loop: read -> perceive -> observe -> base -> residual -> check -> send
(first, when the start frame shows no sheet: deploy.look moves the arm out of view and back).

    controller = Controller(arm, base, residual, units, config)
    report = run(robot, controller, config)     # LoopReport: steps, stop reason, timings

Every stop (a SafetyStop, Ctrl-C, an error, the step budget, the simulated episode's end) holds
the measured pose, keeps it `hold_s`, and disconnects (LeRobot: torque off); the report's
`stop` is one line saying why.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from deploy.config import LoopConfig
from deploy.look import look_for_sheet
from deploy.observe import ArmModel, Pose, Sensed
from deploy.robot import action_of, frame_of, joints_of
from deploy.safety import DeadlineStreak, SafetyStop, Streak, check_frame, check_step
from mjx_env.control import rate_limit
from perception.sheet_pose import wrap_yaw


def estimate_pose(frame, yaw_prior: float = 0.0) -> tuple[Pose | None, str]:
    """(pose, "") from the top camera's frame (perception.estimate), or (None, reason).
    `yaw_prior` rad: the yaw expected (0: a sheet laid roughly aligned with the tape)."""
    from perception.sheet_pose import estimate

    p = estimate(frame, yaw_prior=yaw_prior)
    return (Pose(p.x, p.y, p.yaw), "") if p.ok else (None, p.reason)


class Controller:
    """One step's computation: robot observation dict -> joint target (6,) sim rad.

    `arm`: deploy.observe.ArmModel; `base`: deploy.bases (action(sensed)); `residual`: a
    `policy.exported` loader's policy(obs, base_action, last_target) -> target, or None;
    `units`: the robot's bridge.units.JointUnits; `estimator(frame) -> (Pose | None, reason)`
    (default: `estimate_pose` with the last estimate's yaw as the prior, 0 before the first);
    `truth`: a callable giving the true Pose (simulated robot, config.pose == "truth");
    `rate_step`: the servo model's largest setpoint change per step, rad
    (`mjx_env.control.rate_limit` with the env's max_joint_speed / hz): the loop sends the
    setpoint the env would have used in training, so the real servo's own speed limit never has
    to bind."""

    def __init__(self, arm: ArmModel, base, residual, units, config: LoopConfig,
                 estimator=None, truth=None, rate_step: float = float("inf")):
        self.arm, self.base, self.residual, self.units = arm, base, residual, units
        self.rate_step = rate_step
        self.config, self.truth = config, truth
        self.estimator = estimator or (lambda frame: estimate_pose(
            frame, self.pose.yaw if self.pose is not None else 0.0))
        self.pose_misses = Streak(config.safety.max_pose_misses, "sheet pose not estimated")
        self.pose: Pose | None = None
        self.q_prev = self.prev_target = None
        self.pose_errors: list[tuple[float, float]] = []  # (mm, deg) when the truth is known

    def perceive(self, frame) -> Pose:
        """The sheet's pose this step: the estimate, else the last good one (SafetyStop after
        max_pose_misses failures in a row, or before the first good estimate)."""
        if self.config.pose == "truth":
            return self.truth()
        pose, reason = self.estimator(frame)
        if pose is None and self.pose is None:
            raise SafetyStop(f"sheet pose not estimated: {reason}")
        self.pose_misses.update(pose is None, reason)
        if pose is not None:
            self.pose = pose
            if self.truth is not None:
                t = self.truth()
                dyaw = abs(wrap_yaw(pose.yaw - t.yaw))
                self.pose_errors.append((1000 * np.hypot(pose.x - t.x, pose.y - t.y), np.degrees(dyaw)))
        return self.pose

    def sense(self, robot_obs: dict) -> Sensed:
        """Joints, frame and pose -> the Sensed step (observation, bias torques)."""
        q = np.asarray(self.units.to_sim(joints_of(robot_obs)), np.float64)
        frame = frame_of(robot_obs, self.config.camera)
        if self.config.pose == "camera":
            check_frame(frame, self.config.camera)
        pose = self.perceive(frame)
        qvel = np.zeros(6) if self.q_prev is None else (q - self.q_prev) / self.config.period
        self.q_prev = q
        if self.prev_target is None:
            self.prev_target = q.astype(np.float32)
        ee, bias = self.arm.evaluate(q, qvel, pose)
        obs = self.arm.observation(q, qvel, pose, ee)
        frames = {k: v for k, v in robot_obs.items() if isinstance(v, np.ndarray) and v.ndim == 3}
        return Sensed(q, obs, bias, frames, self.prev_target)

    def __call__(self, robot_obs: dict) -> tuple[np.ndarray, np.ndarray]:
        """(joint target (6,) sim rad, measured joints (6,) sim rad); SafetyStop on a fault."""
        s = self.sense(robot_obs)
        base = np.asarray(self.base.action(s), np.float32)
        target = (base if self.residual is None
                  else np.asarray(self.residual(s.obs, base, s.prev_target)))
        target = np.asarray(rate_limit(target, s.prev_target, self.rate_step), np.float32)
        check_step(target, s.q, self.config.safety.max_step_rad)
        self.prev_target = target.astype(np.float32)
        return target, s.q


@dataclass
class LoopReport:
    """steps: control steps sent; stop: one line, why the loop ended; step_ms / compute_ms:
    per step, the whole step and the controller alone (perception, base, residual); missed:
    steps over the period (judged on compute_ms for a simulated robot, whose physics and
    rendering stand in for hardware, on step_ms for a real one); look_steps: control steps
    spent before the first one looking for a hidden sheet (deploy.look)."""

    steps: int = 0
    stop: str = ""
    safety_stop: bool = False
    step_ms: list[float] = field(default_factory=list)
    compute_ms: list[float] = field(default_factory=list)
    missed: int = 0
    max_gap_deg: float = 0.0
    look_steps: int = 0

    def timing(self) -> dict:
        def stats(x):
            return {"mean": float(np.mean(x)), "p95": float(np.percentile(x, 95))} if x else None
        return {"steps": self.steps, "step_ms": stats(self.step_ms),
                "compute_ms": stats(self.compute_ms), "missed_deadlines": self.missed,
                "look_steps": self.look_steps}


def _hold(robot, measured_robot, hold_s: float) -> None:
    """Send the measured pose as the target and keep it `hold_s` seconds (None: a stop before
    the first step, e.g. while looking for the sheet: the joints are read now)."""
    if measured_robot is None:
        try:
            measured_robot = joints_of(robot.get_observation())
        except Exception:  # noqa: BLE001  (nothing to hold when the robot cannot be read)
            measured_robot = None
    if measured_robot is not None:
        robot.send_action(action_of(measured_robot))
        if not getattr(robot, "simulated", False):
            time.sleep(hold_s)


def run(robot, controller: Controller, config: LoopConfig, log=print) -> LoopReport:
    """Drive `robot` (connected) with `controller` for up to `config.steps` steps at `config.hz`;
    always ends by holding the pose and disconnecting (the base stays open: `base.close()`
when done with it). Returns the LoopReport."""
    report, deadlines = LoopReport(), DeadlineStreak(config.safety.max_missed)
    simulated, measured = getattr(robot, "simulated", False), None
    try:
        if config.pose == "camera":
            report.look_steps = look_for_sheet(robot, controller, config, log)
        tick = time.perf_counter()
        for _ in range(config.steps):
            t0 = time.perf_counter()
            obs = robot.get_observation()
            t1 = time.perf_counter()
            measured = joints_of(obs)
            target, q = controller(obs)
            t2 = time.perf_counter()
            robot.send_action(action_of(controller.units.to_robot(target)))
            t3 = time.perf_counter()
            report.steps += 1
            report.max_gap_deg = max(report.max_gap_deg, float(np.degrees(np.abs(target - q).max())))
            report.compute_ms.append(1000 * (t2 - t1))
            report.step_ms.append(1000 * (t3 - t0))
            late = (t2 - t1 if simulated else t3 - t0) > config.period
            report.missed += late
            deadlines.update(late, f"last step {1000 * (t3 - t0):.0f} ms > {1000 * config.period:.0f} ms")
            if getattr(robot, "done", False):
                report.stop = "episode ended (simulated robot)"
                break
            if config.realtime:
                tick += config.period
                time.sleep(max(0.0, tick - time.perf_counter()))
        else:
            report.stop = f"ran {config.steps} steps"
    except SafetyStop as e:
        report.stop, report.safety_stop = f"safety stop: {e}", True
    except KeyboardInterrupt:
        report.stop = "interrupted (Ctrl-C)"
    finally:
        try:
            _hold(robot, measured, config.safety.hold_s)
        finally:
            robot.disconnect()
    log(f"deploy: {report.stop}; held the pose and disconnected after {report.steps} steps")
    return report
