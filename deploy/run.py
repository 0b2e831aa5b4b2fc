"""The CLI's heavy half (deploy.cli checks the arguments first): build the env model, the
session (base, residual) and the robot, run the episodes, print and write the report."""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

from deploy.config import LoopConfig, SafetyConfig
from deploy.lerobot_robot import DeployError, SO101Spec, make_so101
from deploy.session import Parts, Session, sim_episode


def loop_config(args, simulated: bool) -> LoopConfig:
    safety = SafetyConfig(args.max_step_deg, args.max_missed, args.max_pose_misses)
    return LoopConfig(hz=args.hz, steps=args.steps, pose=args.pose, safety=safety,
                      realtime=args.realtime or not simulated)


def parts_of(args) -> Parts:
    from bridge.units import BridgeConfig

    bridge = BridgeConfig(layout=args.layout, units=args.units, render_size=args.render_size)
    return Parts(args.base, args.residual, "lerobot_degrees", bridge, args.lead)


def with_offsets(units, offsets_deg):
    """`units` with `offsets_deg` (6,) robot units added to its offsets (None: unchanged)."""
    if not offsets_deg:
        return units
    return dataclasses.replace(units, offset=tuple(o + d for o, d in zip(units.offset, offsets_deg)))


def run_sim(args, session: Session, config: LoopConfig) -> list[dict]:
    """`args.episodes` simulated episodes from seeds seed, seed + 1, ...; one line each."""
    from deploy.sim_robot import SimRobot

    robot = SimRobot(session.env, args.seed, units=session.units, size=args.render_size)
    rows = []
    for seed in range(args.seed, args.seed + args.episodes):
        row, _ = sim_episode(session, robot, seed, config, log=lambda s: None)
        rows.append(row)
        print(f"seed {seed}: success {row['success']:.0f} (plausible {row['plausible_success']:.0f}) "
              f"in {row['steps']} steps; {row['stop']}; controller "
              f"{row['compute_ms']['mean']:.1f} ms/step" if row["compute_ms"] else
              f"seed {seed}: {row['stop']} before the first step")
    ok = sum(r["plausible_success"] for r in rows)
    print(f"plausible success {ok:.0f}/{len(rows)}")
    return rows


def run_real(args, session: Session, config: LoopConfig) -> list[dict]:
    """One run on the LeRobot so101_follower."""
    from deploy.loop import run

    spec = SO101Spec(args.port, args.robot_id, args.calibration_dir, tuple(args.camera))
    robot = make_so101(spec)
    robot.connect()
    report = run(robot, session.controller(config), config)
    return [{"stop": report.stop, "safety_stop": report.safety_stop, **report.timing()}]


def run_cli(args) -> int:
    from mjx_env.paper_return import make
    from ppo.policy import ExportError

    t0 = time.perf_counter()
    env = make(impl="jax")
    try:
        session = Session(parts_of(args), env)
    except (ExportError, ImportError, FileNotFoundError) as e:
        raise DeployError(str(e).splitlines()[0]) from None
    session.units = with_offsets(session.units, args.joint_offset_deg)
    simulated = args.robot == "sim"
    config = loop_config(args, simulated)
    try:
        rows = (run_sim if simulated else run_real)(args, session, config)
    finally:
        session.close()
    if args.json:
        out = {"args": {k: (v if not isinstance(v, list) else [str(x) for x in v])
                        for k, v in vars(args).items()},
               "python": platform.python_version(), "wall_s": time.perf_counter() - t0, "episodes": rows}
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    stops = [r["stop"] for r in rows]
    if any(s.startswith("interrupted") for s in stops):
        return 130
    return 1 if any(r["safety_stop"] for r in rows) else 0
