"""`make doctor`: what this machine gives the project, and a fix for each problem found.

    .venv/bin/python tools/doctor.py      # (make doctor)

Prints the Python, the pinned packages' installed versions, the NVIDIA GPU (nvidia-smi: name,
driver, free memory), JAX's backend and devices, torch's build and CUDA, and the renderers
(MuJoCo's EGL context for offscreen frames, MuJoCo Warp's devices for MJX's batched renderer).
Runs under any Python: what is missing is reported, not raised. Exit status 1 if a problem was
found, else 0. No GPU is not a problem: it says so and what that means.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "warp-lang", "torch", "flax", "brax",
           "imageio-ffmpeg", "tensorboardX")
CUDA_PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin")
REINSTALL = "make install (rm -rf .venv first if it persists)"


def pins(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """{distribution name (lower case): pinned version} of pyproject's dependencies."""
    text = pyproject.read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
    found = re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^";]+)"', deps.group(1) if deps else "")
    return {name.lower(): version for name, version in found}


def installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_lines(pinned: dict[str, str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(report lines, problems) for CHECKED packages and the JAX CUDA plugins."""
    lines, problems = [], []
    for name in CHECKED + CUDA_PLUGINS:
        have, want = installed(name), pinned.get(name.lower())
        if have is None:
            if name not in CUDA_PLUGINS:
                problems.append((f"{name} is not installed", REINSTALL))
            continue
        lines.append(f"{name} {have}" + (f" (pinned {want})" if want else ""))
        if want and have.split("+")[0] != want:
            problems.append((f"{name} {have} is installed, pyproject.toml pins {want}", REINSTALL))
    return lines, problems


def nvidia_gpus() -> list[dict] | None:
    """[{name, driver, free_mib, total_mib}] from nvidia-smi, or None when it is absent/fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "--query-gpu=name,driver_version,memory.free,memory.total",
                            "--format=csv,noheader,nounits"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi(r.stdout) if r.returncode == 0 else None


def parse_nvidia_smi(text: str) -> list[dict]:
    """CSV lines 'name, driver, free MiB, total MiB' -> dicts (MiB as int, None if unreadable)."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        num = lambda s: int(float(s)) if re.fullmatch(r"[\d.]+", s) else None  # noqa: E731
        gpus.append({"name": parts[0], "driver": parts[1], "free_mib": num(parts[2]),
                     "total_mib": num(parts[3])})
    return gpus


def gpu_section(gpus: list[dict] | None) -> tuple[list[str], list[tuple[str, str]]]:
    if not gpus:
        return ["no GPU (nvidia-smi not found or failing): JAX runs on the CPU; training works "
                "but reaching the task needs a GPU (README 'GPU')"], []
    lines = [f"GPU {i}: {g['name']}, driver {g['driver']}, {g['free_mib']} MiB free of "
             f"{g['total_mib']} MiB" for i, g in enumerate(gpus)]
    problems = [(f"GPU {i} has only {g['free_mib']} MiB free",
                 "stop the other processes on it (nvidia-smi lists them)")
                for i, g in enumerate(gpus) if g["free_mib"] is not None and g["free_mib"] < 4096]
    return lines, problems


def jax_section(gpu: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """JAX's backend and devices (no preallocation: the doctor takes no GPU memory)."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    try:
        import jax
        backend, devices = jax.default_backend(), jax.devices()
    except Exception as e:  # noqa: BLE001  (any import or backend failure is the finding)
        return [], [(f"JAX does not start: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                     REINSTALL)]
    lines = [f"JAX backend {backend}: {', '.join(str(d) for d in devices)}"]
    if gpu and backend != "gpu":
        return lines, [("an NVIDIA GPU is present but JAX runs on the CPU (no CUDA plugin)",
                        "make install (on this machine it installs jax[cuda13/12]==0.10.2), or "
                        ".venv/bin/pip install 'jax[cuda13]==0.10.2'")]
    return lines, []


def torch_section(gpu: bool) -> tuple[list[str], list[tuple[str, str]]]:
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        return [], [(f"torch does not import: {type(e).__name__}: {e}", REINSTALL)]
    cuda = torch.version.cuda
    line = f"torch {torch.__version__}: " + (f"CUDA {cuda}, GPU available {torch.cuda.is_available()}"
                                              if cuda else "CPU build")
    if gpu and not (cuda and torch.cuda.is_available()):
        return [line], [("an NVIDIA GPU is present but torch cannot use it (torch/GR00T bases "
                         "would run on the CPU)", "make install (installs torch 2.13.0 from the "
                         "PyTorch CUDA index on an NVIDIA machine)")]
    return [line], []


def renderer_section() -> tuple[list[str], list[tuple[str, str]]]:
    """MuJoCo's EGL context (in a subprocess: a broken EGL may crash) and Warp's devices."""
    lines, problems = [], []
    if installed("mujoco") is None or installed("warp-lang") is None:
        return ["renderers: not checked (mujoco / warp-lang not installed)"], []
    code = ("import mujoco; c = mujoco.GLContext(64, 64); c.make_current(); c.free(); print('ok')")
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, env=env)
        ok, why = r.stdout.strip() == "ok", (r.stderr.strip().splitlines() or ["crashed"])[-1]
    except subprocess.TimeoutExpired:
        ok, why = False, "timed out"
    lines.append(f"MuJoCo offscreen (MUJOCO_GL={env['MUJOCO_GL']}): " + ("ok" if ok else "unavailable"))
    if not ok:
        problems.append((f"no offscreen OpenGL context ({why[:200]}); MJX's Warp renderer "
                         "(ppo.video, bridge.render) does not need it",
                         "apt-get install libegl1 libgl1 (or set MUJOCO_GL=osmesa with libosmesa6)"))
    try:
        import warp
        warp.config.log_level = warp.LOG_WARNING
        warp.init()
        lines.append(f"MuJoCo Warp renderer: warp {warp.__version__}, devices "
                     f"{', '.join(str(d) for d in warp.get_devices())}")
    except Exception as e:  # noqa: BLE001
        problems.append((f"MuJoCo Warp does not start: {type(e).__name__}: {e}", REINSTALL))
    return lines, problems


def report() -> tuple[list[str], list[tuple[str, str]]]:
    """All report lines and (problem, fix) pairs."""
    v = sys.version_info
    lines = [f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"]
    problems = []
    if (v.major, v.minor) not in ((3, 11), (3, 12), (3, 13)):
        problems.append((f"Python {v.major}.{v.minor} is not supported",
                         "make install PYTHON=python3.12 (3.11-3.13)"))
    if sys.prefix == sys.base_prefix:
        problems.append(("not running in a virtual environment", "make install; then make doctor"))
    gpus = nvidia_gpus()
    sections = [package_lines(pins()), gpu_section(gpus), jax_section(bool(gpus)),
                torch_section(bool(gpus)), renderer_section()]
    for more_lines, more_problems in sections:
        lines += more_lines
        problems += more_problems
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    lines.append(f"JAX compilation cache: {cache or 'off (make sets ~/.cache/paper_return/jax)'}")
    return lines, problems


def main() -> int:
    lines, problems = report()
    print("\n".join(lines))
    if not problems:
        print("no problems found")
        return 0
    for problem, fix in problems:
        print(f"PROBLEM: {problem}\n    fix: {fix}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
