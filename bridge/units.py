"""Robot units <-> sim radians, and GR00T key layouts: the one place for both.

Units: per joint (order ARM_JOINTS), `robot = offset + sign * scale * sim`, so
`sim = (robot - offset) / (sign * scale)`. Works on numpy, JAX and torch arrays `(..., 6)`.

Layouts: which `video.*` keys carry which camera, which `state.*` / `action.*` keys carry which
joint slice. GR00T's observation adds a time axis: video `(B, 1, H, W, 3) uint8`, state
`(B, 1, d)`; its output holds `action.<key>` `(B, 16, d)` absolute targets in robot units.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from mjx_env.scene import ARM_JOINTS, SCENE_XML

# Control steps per action chunk: GR00T N1.5's action horizon, the chunk every model base
# returns and every demo stores (the one definition; a base may use fewer steps of it).
CHUNK_HORIZON = 16


@functools.cache
def sim_range(joint: str) -> tuple[float, float]:
    """(lower, upper) rad of an arm joint, read from the MJCF."""
    model = mujoco.MjModel.from_xml_path(str(SCENE_XML))
    lo, hi = model.joint(joint).range
    return float(lo), float(hi)


@dataclass(frozen=True)
class JointUnits:
    """Affine per-joint map between sim radians and the base policy's robot units."""

    scale: tuple[float, ...] = (1.0,) * 6
    offset: tuple[float, ...] = (0.0,) * 6
    sign: tuple[float, ...] = (1.0,) * 6

    def __post_init__(self):
        for name in ("scale", "offset", "sign"):
            if len(getattr(self, name)) != len(ARM_JOINTS):
                raise ValueError(f"JointUnits.{name} needs {len(ARM_JOINTS)} values "
                                 f"({', '.join(ARM_JOINTS)}), got {getattr(self, name)}")
        if any(s not in (1.0, -1.0) for s in self.sign) or any(s == 0 for s in self.scale):
            raise ValueError(f"JointUnits: sign must be +-1 and scale non-zero: {self}")

    def _coef(self, x):
        gain = np.asarray(self.scale, np.float32) * np.asarray(self.sign, np.float32)
        offset = np.asarray(self.offset, np.float32)
        if type(x).__module__.startswith("torch"):
            import torch
            return (torch.as_tensor(gain, device=x.device, dtype=x.dtype),
                    torch.as_tensor(offset, device=x.device, dtype=x.dtype))
        return gain, offset

    def to_robot(self, sim):
        """(..., 6) sim radians -> robot units."""
        gain, offset = self._coef(sim)
        return offset + gain * sim

    def to_sim(self, robot):
        """(..., 6) robot units -> sim radians (the inverse of `to_robot`)."""
        gain, offset = self._coef(robot)
        return (robot - offset) / gain


def _gripper_map(robot_range: tuple[float, float]) -> tuple[float, float]:
    """(scale, offset) taking the sim gripper range linearly onto `robot_range`."""
    lo, hi = sim_range("gripper")
    scale = (robot_range[1] - robot_range[0]) / (hi - lo)
    return scale, robot_range[0] - scale * lo


def lerobot_degrees() -> JointUnits:
    """LeRobot (degree calibration): arm joints in degrees, gripper 0 (closed) .. 100 (open)."""
    g_scale, g_offset = _gripper_map((0.0, 100.0))
    deg = 180.0 / math.pi
    return JointUnits(scale=(deg,) * 5 + (g_scale,), offset=(0.0,) * 5 + (g_offset,))


def paper_return_recordings(wrist_roll_offset: float = -1.59) -> JointUnits:
    """The paper_return recordings: radians with an offset on wrist_roll (recorded in -2.86 ..
    -0.23 rad; the default offset centres that span on the sim's) and the gripper reading in
    -0.01 .. 0.07. Calibration constants: set them from your robot when you have them."""
    g_scale, g_offset = _gripper_map((-0.01, 0.07))
    return JointUnits(scale=(1.0,) * 5 + (g_scale,),
                      offset=(0.0, 0.0, 0.0, 0.0, wrist_roll_offset, g_offset))


UNITS = {"sim": JointUnits, "lerobot_degrees": lerobot_degrees,
         "paper_return": paper_return_recordings}


def load_calibration(path: str | Path) -> JointUnits:
    """JointUnits from a calibration JSON file (`--units my_robot.json`): per joint, in the
    order of ARM_JOINTS, `robot = offset + sign * scale * sim`:

        {"offset": [6 floats], "sign": [6 values +-1], "scale": [6 non-zero floats]}

    or the same as an object per joint name: {"shoulder_pan": {"offset": 0, "sign": 1,
    "scale": 57.3}, ...} (every joint named). A missing key defaults to offset 0, sign 1,
    scale 1; anything else is a ValueError naming the file and the field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"--units {path}: cannot read the calibration file ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"--units {path}: expected a JSON object with offset / sign / scale")
    if set(raw) & set(ARM_JOINTS):
        missing = [j for j in ARM_JOINTS if j not in raw]
        if missing or set(raw) - set(ARM_JOINTS):
            raise ValueError(f"--units {path}: needs exactly the joints {', '.join(ARM_JOINTS)} "
                             f"(missing {missing}, unknown {sorted(set(raw) - set(ARM_JOINTS))})")
        raw = {k: [raw[j].get(k, d) for j in ARM_JOINTS]
               for k, d in (("offset", 0.0), ("sign", 1.0), ("scale", 1.0))}
    unknown = set(raw) - {"offset", "sign", "scale"}
    if unknown:
        raise ValueError(f"--units {path}: unknown field(s) {sorted(unknown)}; expected offset, "
                         "sign, scale")
    values = {}
    for k, d in (("offset", 0.0), ("sign", 1.0), ("scale", 1.0)):
        v = raw.get(k, [d] * len(ARM_JOINTS))
        if not isinstance(v, list) or len(v) != len(ARM_JOINTS) or not all(
                isinstance(x, (int, float)) and math.isfinite(x) for x in v):
            raise ValueError(f"--units {path}: {k} needs {len(ARM_JOINTS)} finite numbers "
                             f"({', '.join(ARM_JOINTS)}), got {v!r}")
        values[k] = tuple(float(x) for x in v)
    try:
        return JointUnits(**values)
    except ValueError as e:
        raise ValueError(f"--units {path}: {e}") from None


@dataclass(frozen=True)
class KeyLayout:
    """GR00T observation/action keys. `video`: (key, camera name); `state`/`action`:
    (key, first joint, end joint) slices of the ARM_JOINTS order that together cover 0..6."""

    video: tuple[tuple[str, str], ...]
    state: tuple[tuple[str, int, int], ...]
    action: tuple[tuple[str, int, int], ...]
    horizon: int = CHUNK_HORIZON  # steps per action chunk
    task_key: str = "annotation.human.task_description"
    crop: float = 0.95  # centre-crop fraction before resizing (the fine-tuning's transform)
    size: int = 224  # px, square frames fed to the model

    def __post_init__(self):
        for kind in ("state", "action"):
            covered = sorted(j for _, a, b in getattr(self, kind) for j in range(a, b))
            if covered != list(range(len(ARM_JOINTS))):
                raise ValueError(f"KeyLayout.{kind} slices must cover joints 0..5 once, "
                                 f"got {getattr(self, kind)}")

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(cam for _, cam in self.video)

    def observation_keys(self) -> tuple[str, ...]:
        """The video.* and state.* keys a model reads (the task text's key aside)."""
        return tuple(k for k, _ in self.video) + tuple(k for k, _, _ in self.state)

    def action_keys(self) -> tuple[str, ...]:
        return tuple(k for k, _, _ in self.action)

    def observation(self, frames: dict, state_robot, task: str) -> dict:
        """GR00T observation dict from `frames` {camera: (B, H, W, 3) uint8} and the state
        (B, 6) in robot units (numpy or torch; a time axis of 1 is added)."""
        obs = {key: frames[cam][:, None] for key, cam in self.video}
        obs.update({key: state_robot[:, None, a:b] for key, a, b in self.state})
        obs[self.task_key] = [task] * int(state_robot.shape[0])
        return obs

    def chunk(self, output: dict, batch: int):
        """(B, horizon, 6) robot units from a GR00T output dict; a missing key or a wrong
        shape is an error that names the key, the expected and the received shape."""
        parts = []
        for key, a, b in self.action:
            if key not in output:
                raise KeyError(f"base policy output lacks {key!r} (has {sorted(output)}); "
                               "check the key layout (--layout)")
            want = (batch, self.horizon, b - a)
            got = tuple(output[key].shape)
            if got != want:
                raise ValueError(f"base policy output {key!r}: expected shape {want}, got {got}")
            parts.append((a, output[key]))
        parts = [p for _, p in sorted(parts, key=lambda ap: ap[0])]
        if type(parts[0]).__module__.startswith("torch"):
            import torch
            return torch.cat(parts, dim=-1)
        return np.concatenate(parts, axis=-1)


LAYOUTS = {
    # Isaac-GR00T's "so100" data config: one camera, arm (5) + gripper (1).
    "so100": KeyLayout(video=(("video.webcam", "top"),),
                       state=(("state.single_arm", 0, 5), ("state.gripper", 5, 6)),
                       action=(("action.single_arm", 0, 5), ("action.gripper", 5, 6))),
    # The fine-tuning service that produced the paper_return checkpoint: top + wrist cameras.
    "paper_return": KeyLayout(video=(("video.image_cam_0", "top"), ("video.image_cam_1", "wrist")),
                              state=(("state.arm_0", 0, 6),), action=(("action.arm_0", 0, 6),)),
    # A LeRobot-trained groot policy (lerobot-train --policy.type=groot) on an SO-101 dataset
    # recorded with cameras named top and wrist: LeRobot's own feature keys.
    "lerobot": KeyLayout(video=(("observation.images.top", "top"), ("observation.images.wrist", "wrist")),
                         state=(("observation.state", 0, 6),), action=(("action", 0, 6),)),
}


def load_layout(path: str | Path) -> KeyLayout:
    """A KeyLayout from a JSON file (`--layout my_layout.json`): which checkpoint key carries
    which sim camera / joint slice (joints in ARM_JOINTS order, end exclusive):

        {"video": {"video.image_cam_0": "top", "video.image_cam_1": "wrist"},
         "state": {"state.arm_0": [0, 6]}, "action": {"action.arm_0": [0, 6]}}

    ValueError naming the file and the field otherwise."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        video = tuple((str(k), str(v)) for k, v in raw["video"].items())
        state, action = (tuple((str(k), int(a), int(b)) for k, (a, b) in raw[kind].items())
                         for kind in ("state", "action"))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"--layout {path}: expected {{\"video\": {{key: camera}}, \"state\"|"
                         f"\"action\": {{key: [first joint, end joint]}}}} ({type(e).__name__}: {e})") from None
    try:
        return KeyLayout(video, state, action)
    except ValueError as e:
        raise ValueError(f"--layout {path}: {e}") from None


@dataclass(frozen=True)
class BridgeConfig:
    """How a torch/GR00T base sees the sim: key layout, units, task text, render size, and the
    GR00T options. Every field is a `python -m ppo.train` flag (`--render-size`, `--gr00t-fast`)."""

    layout: str = "paper_return"  # a LAYOUTS preset, or a layout JSON file (load_layout)
    units: str = "paper_return"  # a UNITS preset, or a calibration JSON file (load_calibration)
    task: str = "Put the paper into the red square."
    render_size: int = 224  # px, square frames rendered per camera
    embodiment_tag: str = "new_embodiment"
    # Gone (Isaac-GR00T's data config name): the checkpoint's metadata.json names the keys now.
    # Kept so that older config.json files load; anything but None is refused.
    data_config: str | None = None
    denoising_steps: int = 4
    gr00t_fast: bool = False  # gr00t: the device-resident path (checked against the stock one)
    random_weights: str | None = None  # gr00t: tiny | full, an Isaac-format random checkpoint

    def key_layout(self) -> KeyLayout:
        if self.layout in LAYOUTS:
            return LAYOUTS[self.layout]
        if self.layout.endswith(".json"):
            return load_layout(self.layout)
        raise ValueError(f"unknown layout {self.layout!r}: expected one of {sorted(LAYOUTS)} or a "
                         "layout file <name>.json (bridge.units.load_layout)")

    def joint_units(self) -> JointUnits:
        if self.units in UNITS:
            return UNITS[self.units]()
        if self.units.endswith(".json"):
            return load_calibration(self.units)
        raise ValueError(f"unknown units {self.units!r}: expected one of {sorted(UNITS)} or a "
                         "calibration file <name>.json (per-joint offset, sign, scale)")

    def validate(self) -> "BridgeConfig":
        """self, or ValueError naming the first bad field (nothing is loaded or compiled)."""
        self.key_layout()
        self.joint_units()
        if self.render_size < 8:
            raise ValueError(f"render_size must be >= 8 px, got {self.render_size}")
        if self.denoising_steps < 1:
            raise ValueError(f"denoising_steps must be >= 1, got {self.denoising_steps}")
        if self.data_config is not None:
            raise ValueError("--data-config is gone: the checkpoint's experiment_cfg/metadata.json "
                             "names its keys; map them with --layout")
        if self.random_weights not in (None, "tiny", "full"):
            raise ValueError(f"random_weights must be tiny or full, got {self.random_weights!r}")
        return self
