"""The CLI's heavy half (deploy.cli checks the arguments first): build the env model, the
session (base, residual) and the robot, run the episodes, print and write the report."""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import numpy as np

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


def real_robot(args):
    """LeRobot's so101_follower for the CLI's --port, --robot-id, --calibration-dir, --camera."""
    return make_so101(SO101Spec(args.port, args.robot_id, args.calibration_dir, tuple(args.camera)))


def run_real(args, session: Session, config: LoopConfig) -> list[dict]:
    """One run on the LeRobot so101_follower."""
    from deploy.loop import run

    robot = real_robot(args)
    robot.connect()
    report = run(robot, session.controller(config), config)
    return [{"stop": report.stop, "safety_stop": report.safety_stop, **report.timing()}]


def dry_run(args, session: Session, config: LoopConfig) -> list[dict]:
    """Connect, read one observation, print the joints (robot units and sim rad) and the sheet
    pose from the top camera, send nothing, disconnect: checks calibration, offsets, camera."""
    from deploy.loop import estimate_pose
    from deploy.robot import frame_of, joints_of

    if args.robot == "sim":
        from deploy.sim_robot import SimRobot
        robot = SimRobot(session.env, args.seed, units=session.units, size=args.render_size)
    else:
        robot = real_robot(args)
    robot.connect()
    try:
        obs = robot.get_observation()
    finally:
        robot.disconnect()
    q_robot = joints_of(obs)
    q = np.asarray(session.units.to_sim(q_robot))
    frame = frame_of(obs, config.camera)
    pose, reason = estimate_pose(frame) if frame is not None else (None, f"camera {config.camera!r} lost")
    print("joints, robot units: " + " ".join(f"{v:.1f}" for v in q_robot))
    print("joints, sim rad:     " + " ".join(f"{v:.3f}" for v in q) + "  (sim home 0 0.3 -0.6 0 0 0)")
    print(f"top camera: {'none' if frame is None else 'x'.join(map(str, frame.shape[1::-1])) + ' px'}; "
          + (f"sheet at x {pose.x:.3f} m, y {pose.y:.3f} m, yaw {np.degrees(pose.yaw):.1f} deg"
             if pose else f"no sheet pose: {reason}"))
    return [{"stop": "dry run", "safety_stop": pose is None, "joints_robot": q_robot.tolist(),
             "joints_sim": q.tolist(), "pose": None if pose is None else [pose.x, pose.y, pose.yaw],
             "pose_reason": reason}]


def run_cli(args) -> int:
    from mjx_env.paper_return import make
    from policy.exported import ExportError

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
        action = dry_run if args.dry_run else run_sim if simulated else run_real
        rows = action(args, session, config)
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
