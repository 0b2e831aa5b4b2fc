"""The real arm through LeRobot's `so101_follower` (imported lazily: LeRobot is not a
dependency of this project; install it where the arm is: `pip install 'lerobot[feetech]'`).

LeRobot configures the robot with a serial port, an id naming its calibration file
(`<calibration_dir>/<id>.json`, written by `lerobot-calibrate --robot.type=so101_follower
--robot.port=... --robot.id=...`) and OpenCV cameras `{name: index_or_path, width, height, fps}`.
The loop needs LeRobot's degree calibration (`use_degrees=True`: joints in degrees, gripper
0..100), the units of `bridge.units.lerobot_degrees`.

    --camera top=/dev/video0:640x480@30     ->  CameraSpec("top", "/dev/video0", 640, 480, 30)
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

INSTALL = ("the real arm needs LeRobot, which is not installed in this environment: "
           "pip install 'lerobot[feetech]' (or run the loop with --robot sim)")


class DeployError(RuntimeError):
    """A set-up problem the CLI reports as one line."""


@dataclass(frozen=True)
class CameraSpec:
    """One OpenCV camera as LeRobot configures it: `index_or_path` an int index or a device
    path, frame size in px, frames per second."""

    name: str
    index_or_path: int | str
    width: int = 640
    height: int = 480
    fps: int = 30


_CAMERA = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<src>[^:@]+)(?::(?P<w>\d+)x(?P<h>\d+))?(?:@(?P<fps>\d+))?$")


def parse_camera(text: str) -> CameraSpec:
    """`name=<index or /dev/path>[:WxH][@fps]` -> CameraSpec; ValueError naming the format."""
    m = _CAMERA.match(text.strip())
    if not m:
        raise ValueError(f"camera {text!r}: expected name=<index or device path>[:WIDTHxHEIGHT][@FPS], "
                         "e.g. top=/dev/video0:640x480@30")
    src = m["src"]
    cam = CameraSpec(m["name"], int(src) if src.isdigit() else src, int(m["w"] or 640),
                     int(m["h"] or 480), int(m["fps"] or 30))
    if min(cam.width, cam.height, cam.fps) < 1:
        raise ValueError(f"camera {text!r}: width, height and fps must be >= 1")
    return cam


@dataclass(frozen=True)
class SO101Spec:
    """port: the arm's serial port; robot_id: its LeRobot id (names the calibration file);
    calibration_dir: where that file is (None: LeRobot's default,
    ~/.cache/huggingface/lerobot/calibration/robots/so101_follower); cameras: CameraSpecs;
    max_relative_target: LeRobot's own per-step clamp, deg (None: off; the loop checks too)."""

    port: str
    robot_id: str
    calibration_dir: str | None = None
    cameras: tuple[CameraSpec, ...] = ()
    max_relative_target: float | None = None


LAYOUTS = (  # (robot module, camera config module) across LeRobot's package moves
    ("lerobot.robots.so_follower", "lerobot.cameras.opencv.configuration_opencv"),  # 0.4
    ("lerobot.robots.so101_follower", "lerobot.cameras.opencv.configuration_opencv"),  # 0.2-0.3
    ("lerobot.common.robots.so101_follower", "lerobot.common.cameras.opencv.configuration_opencv"),
)


def import_lerobot():
    """(SO101Follower, SO101FollowerConfig, OpenCVCameraConfig) from the first LeRobot layout
    that imports; DeployError (one line) when LeRobot is missing or does not import."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("lerobot") is None:
        raise DeployError(INSTALL)
    errors = []
    for robot_mod, camera_mod in LAYOUTS:
        try:
            robots, cameras = importlib.import_module(robot_mod), importlib.import_module(camera_mod)
            return robots.SO101Follower, robots.SO101FollowerConfig, cameras.OpenCVCameraConfig
        except ImportError as e:
            errors.append(e)
        except AttributeError as e:
            errors.append(e)
    real = [e for e in errors if not (isinstance(e, ModuleNotFoundError) and
                                      str(e.name or "").startswith("lerobot"))]
    why = f"{type(real[0]).__name__}: {real[0]}" if real else "no so101_follower in this version"
    raise DeployError(f"LeRobot is installed but its so101_follower does not import ({why}): "
                      "pip install 'lerobot[feetech]'")


def make_so101(spec: SO101Spec):
    """LeRobot's SO101Follower for `spec`, not yet connected; DeployError (one line) when
    LeRobot is missing or has no degree calibration."""
    follower, config_cls, camera_cls = import_lerobot()
    fields = {f.name for f in dataclasses.fields(config_cls)}
    if "use_degrees" not in fields:
        raise DeployError("this LeRobot's SO101FollowerConfig has no use_degrees: upgrade LeRobot "
                          "(the loop needs joints in degrees)")
    cameras = {c.name: camera_cls(index_or_path=c.index_or_path, width=c.width, height=c.height,
                                  fps=c.fps) for c in spec.cameras}
    kwargs = {"port": spec.port, "id": spec.robot_id, "cameras": cameras, "use_degrees": True,
              "max_relative_target": spec.max_relative_target}
    if "disable_torque_on_disconnect" in fields:
        kwargs["disable_torque_on_disconnect"] = True
    if spec.calibration_dir is not None:
        kwargs["calibration_dir"] = Path(spec.calibration_dir)
    return follower(config_cls(**kwargs))
