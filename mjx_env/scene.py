"""Load the paper_return MJCF, set the physics options, and put it on the device for one MJX impl.

Everything here runs once, at env construction; nothing is jitted.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax
import mujoco
from mujoco import mjx

from mjx_env import plausibility

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
SCENE_XML = ASSETS_DIR / "paper_return.xml"

# Joint order used everywhere (state, action, GR00T/LeRobot): ../shared/so101_robot.md.
ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
IMPLS = ("jax", "warp")


def default_impl() -> str:
    """The faster MJX backend on the default JAX device.

    benchmarks/env_throughput.py decides this: on a CPU, `jax` beats `warp` at every env count
    measured (benchmarks/results/env_throughput_cpu.json); on an NVIDIA GPU MuJoCo Warp is the
    faster one (Playground's own default for GPU manipulation envs). Override with the env
    variable PAPER_RETURN_IMPL or the config.
    """
    forced = os.environ.get("PAPER_RETURN_IMPL")
    if forced:
        return check_impl(forced)
    return "warp" if jax.default_backend() == "gpu" else "jax"


def check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"unknown MJX impl {impl!r}: expected one of {IMPLS}")
    return impl


def load_mj_model(sim_dt: float, xml_path: Path = SCENE_XML) -> mujoco.MjModel:
    """Compile the scene with physics timestep `sim_dt` (seconds)."""
    if not sim_dt > 0:
        raise ValueError(f"sim_dt must be > 0 seconds, got {sim_dt}")
    spec = mujoco.MjSpec.from_file(str(xml_path))
    spec.option.timestep = sim_dt
    with warnings.catch_warnings():  # the arm is attached with an empty prefix on purpose
        warnings.filterwarnings("ignore", message=".*empty prefix.*")
        model = spec.compile()
    missing = [j for j in ARM_JOINTS if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) < 0]
    if missing:
        raise ValueError(f"{xml_path} lacks the SO-101 joints {missing}")
    try:
        plausibility.check_arm_touches_table(model)
    except ValueError as err:
        raise ValueError(f"{xml_path}: {err}") from None
    return model


def put_model(mj_model: mujoco.MjModel, impl: str) -> mjx.Model:
    """Device copy of `mj_model` for MJX backend `impl` ("jax" or "warp").

    Warp: its per-step prints for reaching the solver's and the line search's iteration caps
    (`iterations`, `ls_iterations`: fixed budgets, as in the jax impl, which stays silent) are
    switched off; its buffer-overflow warnings (contacts, constraint rows) stay on. On this
    process's first device (`jax.devices()[0]`, MJX's default, is process 0's in a multi-process
    run: the other processes could not use it)."""
    model = mjx.put_model(mj_model, device=jax.local_devices()[0], impl=check_impl(impl))
    if impl == "warp":
        from mujoco.mjx.third_party.mujoco_warp._src.types import OverflowType

        opt = model.opt._impl
        quiet = int(opt.warn_overflow) & ~OverflowType.ITERATIONS & ~OverflowType.LS_ITERATIONS
        model = model.replace(opt=model.opt.replace(_impl=opt.replace(warn_overflow=int(quiet))))
    return model


def qpos_index(model: mujoco.MjModel, joint: str) -> int:
    return int(model.jnt_qposadr[model.joint(joint).id])
