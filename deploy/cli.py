"""`python -m deploy`: base + exported residual on the SO-101 (LeRobot) or the simulated robot.

    python -m deploy --robot sim --base scripted --residual exports/scripted-40 --episodes 4
    python -m deploy --robot so101 --port /dev/ttyACM0 --robot-id my_follower \\
        --camera top=/dev/video0:640x480@30 --base scripted --residual exports/scripted-40

Every argument is checked before anything heavy loads (JAX, MuJoCo, the export, LeRobot): a bad
one is a one-line error and exit code 2. A safety stop holds the pose, disconnects and exits 1;
Ctrl-C holds the pose, releases torque (disconnect) and exits 130.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from cmdline import OneLineParser
from deploy.config import SafetyConfig
from deploy.lerobot_robot import DeployError, import_lerobot, parse_camera

ROBOTS = ("sim", "so101")


def parser() -> OneLineParser:
    p = OneLineParser(prog="python -m deploy", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--robot", choices=ROBOTS, default="sim", help="so101 (LeRobot) or sim (default)")
    p.add_argument("--base", default="scripted", help="zero | scripted | torch:<module>:<weights> | "
                   "gr00t:<hub id | dir> | gr00t-server:<host>:<port> (default scripted)")
    p.add_argument("--residual", help="export directory (python -m ppo.export); none: the base alone")
    p.add_argument("--any-base", action="store_true",
                   help="allow a residual trained on another base than --base")
    p.add_argument("--steps", type=int, default=300, help="control steps per episode (default 300 = 10 s)")
    p.add_argument("--hz", type=float, default=30.0, help="control rate (default 30, the training rate)")
    p.add_argument("--max-step-deg", type=float, default=SafetyConfig.max_step_deg,
                   help="stop when a joint target is further than this from the measured joint "
                        "(default %(default)g: the training env's max_target_gap)")
    p.add_argument("--max-missed", type=int, default=5, help="stop after this many missed deadlines in a row")
    p.add_argument("--max-pose-misses", type=int, default=10,
                   help="stop after this many failed sheet-pose estimates in a row (default 10)")
    p.add_argument("--json", help="write the run's report (JSON) here")
    p.add_argument("--dry-run", action="store_true", help="read the joints and the top camera once, "
                   "print them in both units with the sheet pose, send nothing (set-up check)")
    real = p.add_argument_group("--robot so101 (LeRobot so101_follower)")
    real.add_argument("--port", help="serial port, e.g. /dev/ttyACM0")
    real.add_argument("--robot-id", help="LeRobot id: names the calibration file <id>.json")
    real.add_argument("--calibration-dir", help="where <id>.json is (default: LeRobot's)")
    real.add_argument("--camera", action="append", default=[], metavar="NAME=SRC[:WxH][@FPS]",
                      help="an OpenCV camera, e.g. top=/dev/video0:640x480@30 (repeat; 'top' is required)")
    real.add_argument("--joint-offset-deg", type=float, nargs=6, metavar="DEG",
                      help="per-joint offset, robot deg at sim 0 (default 0: LeRobot's calibrated zero)")
    sim = p.add_argument_group("--robot sim")
    sim.add_argument("--episodes", type=int, default=1, help="episodes (default 1)")
    sim.add_argument("--seed", type=int, default=0, help="first episode's reset seed (default 0)")
    sim.add_argument("--pose", choices=("camera", "truth"), default="camera",
                     help="sheet pose from the camera (default) or the simulator's truth")
    sim.add_argument("--render-size", type=int, default=224, help="camera frame side, px (default 224)")
    sim.add_argument("--realtime", action="store_true", help="pace the simulated robot at --hz")
    model = p.add_argument_group("model bases (torch, gr00t, gr00t-server)")
    model.add_argument("--layout", default="paper_return",
                       help="GR00T key layout: a bridge.units.LAYOUTS preset or a layout .json file")
    model.add_argument("--units", default="paper_return", help="the model's joint units (bridge.units.UNITS)")
    model.add_argument("--lead", type=int, help="request the next chunk this many steps early (default: half)")
    return p


def check_base(spec: str) -> None:
    """ValueError unless `spec` names a base this loop can build (bridge.base; nothing is loaded)."""
    from bridge.base import deploy_runtime
    deploy_runtime(spec)


def check_residual(path: str, base: str, any_base: bool) -> None:
    """ValueError unless `path` holds an export's manifest.json whose base is `base` (the full
    checks run when it is loaded: policy.exported.load)."""
    manifest = Path(path) / "manifest.json"
    if not manifest.is_file():
        raise ValueError(f"--residual {path}: no manifest.json there (make it with python -m ppo.export)")
    try:
        trained_on = json.loads(manifest.read_text())["base_policy"]["name"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"--residual {path}: unreadable manifest.json (re-export it)") from None
    if trained_on != base and not any_base:
        raise ValueError(f"--residual {path} was trained on base {trained_on!r}, not {base!r} "
                         "(--any-base to run it anyway)")


def check(args) -> argparse.Namespace:
    """`args` if consistent, else ValueError naming the argument; cameras parsed in place."""
    if args.steps < 1 or args.episodes < 1 or args.render_size < 8:
        raise ValueError("--steps and --episodes must be >= 1, --render-size >= 8")
    if not (0 < args.hz <= 1000) or not (0 < args.max_step_deg < 180):
        raise ValueError("--hz must be in (0, 1000], --max-step-deg in (0, 180)")
    if args.max_missed < 1 or args.max_pose_misses < 0:
        raise ValueError("--max-missed must be >= 1 and --max-pose-misses >= 0")
    if args.joint_offset_deg and not all(map(math.isfinite, args.joint_offset_deg)):
        raise ValueError("--joint-offset-deg must be 6 finite numbers")
    check_base(args.base)
    if args.residual:
        check_residual(args.residual, args.base, args.any_base)
    args.camera = [parse_camera(c) for c in args.camera]
    if args.robot == "so101":
        missing = [f"--{n.replace('_', '-')}" for n in ("port", "robot_id") if not getattr(args, n)]
        if missing:
            raise ValueError(f"--robot so101 needs {' and '.join(missing)}")
        if "top" not in [c.name for c in args.camera]:
            raise ValueError("--robot so101 needs the top camera: --camera top=<index or path>")
        if args.pose == "truth":
            raise ValueError("--pose truth needs --robot sim (a real arm has no true pose)")
    return args


def main(argv=None) -> int:
    """Parse, check, build, run; exit codes: 0 done, 1 safety stop or set-up error, 2 bad
    arguments, 130 Ctrl-C."""
    p = parser()
    args = p.parse_args(argv)
    try:
        check(args)
    except ValueError as e:
        p.error(str(e))
    try:
        if args.robot == "so101":  # LeRobot before JAX, MuJoCo and the export load
            import_lerobot()
        from deploy.run import run_cli  # heavy imports from here on

        return run_cli(args)
    except DeployError as e:
        print(f"python -m deploy: {e}")
        return 1
