"""Build the loop's parts (robot units, base, residual, controller) and run simulated episodes:
shared by the CLI, the benchmark and the tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deploy.config import LoopConfig
from deploy.loop import Controller, LoopReport, run
from deploy.observe import ArmModel


@dataclass(frozen=True)
class Parts:
    """What one deploy run needs besides the robot: base spec, residual export dir (None: the
    base alone), the robot's units name (bridge.units.UNITS), the model bases' BridgeConfig
    (None: its defaults) and `lead` (model bases: steps before a chunk runs out to request
    the next; None: half the chunk)."""

    base: str = "scripted"
    residual: str | None = None
    robot_units: str = "lerobot_degrees"
    bridge: object = None
    lead: int | None = None


def load_residual(path: str | None):
    """The exported residual (policy.exported.load: every file and value checked), or None."""
    if path is None:
        return None
    from policy.exported import load

    return load(path)


def robot_units(name: str):
    """The JointUnits named `name` in bridge.units.UNITS."""
    from bridge.units import UNITS

    if name not in UNITS:
        raise ValueError(f"unknown robot units {name!r}: expected one of {sorted(UNITS)}")
    return UNITS[name]()


class Session:
    """The loop's long-lived parts, built (and compiled) once: arm model, base, residual.
    `controller(config, truth)` is a fresh Controller (per-episode state) around them."""

    def __init__(self, parts: Parts, env, residual=None):
        from deploy.bases import make_base

        self.parts, self.env = parts, env
        self.arm = ArmModel()
        self.units = robot_units(parts.robot_units)
        self.base = make_base(parts.base, env, parts.bridge, parts.lead)
        self.residual = residual if residual is not None else load_residual(parts.residual)

    def controller(self, config: LoopConfig, truth=None) -> Controller:
        self.base.reset()
        rate_step = self.env.config.max_joint_speed / config.hz  # rad per step (servo model)
        return Controller(self.arm, self.base, self.residual, self.units, config, truth=truth,
                          rate_step=rate_step)

    def close(self) -> None:
        self.base.close()


def sim_episode(session: Session, robot, seed: int, config: LoopConfig,
                log=print) -> tuple[dict, LoopReport]:
    """One episode of the simulated robot `robot` (deploy.sim_robot.SimRobot) from reset key
    `seed`: (robot.result() + the loop's stop, timing and pose errors, LoopReport).
    `config.pose == "truth"` runs without rendering."""
    robot.seed, robot.render = seed, config.pose == "camera"
    robot.connect()
    controller = session.controller(config, truth=robot.true_pose)
    report = run(robot, controller, config, log=log)
    errs = np.array(controller.pose_errors).reshape(-1, 2)
    out = {**robot.result(), "seed": seed, "stop": report.stop, "safety_stop": report.safety_stop,
           "max_gap_deg": report.max_gap_deg, **report.timing(),
           "pose_error_mm_mean": float(errs[:, 0].mean()) if len(errs) else None,
           "pose_error_deg_mean": float(errs[:, 1].mean()) if len(errs) else None}
    return out, report
