"""The pip commands that `make install` runs: CPU builds, or CUDA builds on an NVIDIA machine.

    python3 tools/install_plan.py --dry-run          # print the commands, run nothing
    python3 tools/install_plan.py                    # create .venv if needed and run them
    python3 tools/install_plan.py --gpu no           # CPU builds even where nvidia-smi works

Standard library only: it runs under the system Python before the venv exists.

CPU (no working `nvidia-smi`):
    torch==2.13.0 first, as the CPU build: a local `torch-2.13.0+cpu` wheel in pip's find-links
    if there is one (this project's machines), else from the PyTorch CPU index, so no CUDA
    package is ever downloaded; then `-e .[dev,groot]`, then `lerobot==0.4.4` with `--no-deps`
    (its GR00T N1.5 model code for `--base gr00t:...`; its own pins, torch<2.11 among them,
    cannot live with this project's, and the [groot] extra pins what that code imports).
NVIDIA (`nvidia-smi --query-gpu=driver_version` answers): the CUDA line the driver supports,
    CUDA 13 from driver 580, CUDA 12 from driver 525:
    torch==2.13.0 from the PyTorch CUDA index (cu130 / cu128), then `-e .[dev,groot]` and
    lerobot (as above), then the JAX
    CUDA plugin pinned to jax 0.10.2 (`jax[cuda13]==0.10.2` / `jax[cuda12]==0.10.2`: jaxlib
    plus jax-cuda1x-plugin[with-cuda] and jax-cuda1x-pjrt 0.10.2, with CUDA's pip wheels).
Python 3.11, 3.12 and 3.13 (every pin has wheels for them).
With `--wheelhouse DIR` (`make install WHEELHOUSE=DIR`, a folder written by `make wheelhouse`,
tools/wheelhouse.py): the same steps with `--no-index --find-links DIR`, so nothing is fetched
from the network; torch comes from the folder (no --index-url). A folder of CPU builds
(a `torch-*+cpu` wheel) gives the CPU plan even on an NVIDIA machine.
"""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

TORCH = "2.13.0"
JAX = "0.10.2"
TORCH_INDEX = "https://download.pytorch.org/whl/{}"  # cpu, cu128, cu130
EXTRAS = ".[dev,groot]"
LEROBOT = "lerobot==0.4.4"  # installed --no-deps: see pyproject.toml's [groot] extra
PYTHONS = ((3, 11), (3, 12), (3, 13))
# (lowest NVIDIA driver major version, CUDA line, PyTorch index suffix), newest first
CUDA_LINES = ((580, "cuda13", "cu130"), (525, "cuda12", "cu128"))


class PlanError(RuntimeError):
    """No plan fits this machine; the message says why and what to do."""


class Facts(NamedTuple):
    """What the plan depends on, gathered by `gather` (tests pass their own)."""

    python: tuple[int, int]  # the venv's Python (major, minor)
    driver: str | None  # NVIDIA driver version from nvidia-smi, None: no working nvidia-smi
    local_torch: str | None  # a local torch CPU wheel for that Python, or None
    venv_exists: bool
    wheelhouse: str | None = None  # install from this folder only (--no-index --find-links)
    wheelhouse_cpu: bool = False  # it holds the CPU build of torch


def plan(facts: Facts, venv: str = ".venv", python: str = "python3") -> list[list[str]]:
    """The commands (argv lists) that install the project into `venv` on a machine with `facts`."""
    if facts.python not in PYTHONS:
        have = ", ".join(f"{a}.{b}" for a, b in PYTHONS)
        raise PlanError(f"Python {facts.python[0]}.{facts.python[1]} is not supported (use {have}): "
                        f"e.g. `make install PYTHON=python3.12` after `rm -rf {venv}`")
    pip = [str(Path(venv) / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    steps = [] if facts.venv_exists else [[python, "-m", "venv", venv]]
    if facts.wheelhouse is not None:
        pip += ["--no-index", "--find-links", facts.wheelhouse]
        steps += [[*pip, f"torch=={TORCH}"], [*pip, "-e", EXTRAS], [*pip, "--no-deps", LEROBOT]]
        if facts.driver is not None and not facts.wheelhouse_cpu:
            steps.append([*pip, f"jax[{cuda_line(facts.driver)[0]}]=={JAX}"])
        return steps
    if facts.driver is None:
        torch = [*pip, f"torch=={TORCH}"]
        if facts.local_torch is None:  # never PyPI's default build: it pulls the CUDA wheels
            torch += ["--index-url", TORCH_INDEX.format("cpu")]
        return steps + [torch, [*pip, "-e", EXTRAS], [*pip, "--no-deps", LEROBOT]]
    cuda, index = cuda_line(facts.driver)
    return steps + [[*pip, f"torch=={TORCH}", "--index-url", TORCH_INDEX.format(index)],
                    [*pip, "-e", EXTRAS], [*pip, "--no-deps", LEROBOT],
                    [*pip, f"jax[{cuda}]=={JAX}"]]


def cuda_line(driver: str) -> tuple[str, str]:
    """(JAX extra, PyTorch index suffix) for an NVIDIA driver version such as '580.65.06'."""
    try:
        major = int(driver.split(".")[0])
    except ValueError:
        raise PlanError(f"cannot read the NVIDIA driver version {driver!r} from nvidia-smi") from None
    for lowest, cuda, index in CUDA_LINES:
        if major >= lowest:
            return cuda, index
    raise PlanError(f"NVIDIA driver {driver} is too old for CUDA 12 (needs >= 525; CUDA 13 "
                    "needs >= 580): update the driver, or install the CPU builds with "
                    "`make install GPU=no`")


def nvidia_driver() -> str | None:
    """The first GPU's driver version from `nvidia-smi` on PATH, or None (absent or failing)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in r.stdout.splitlines() if line.strip()]
    return lines[0] if r.returncode == 0 and lines else None


def find_links(python: str) -> list[str]:
    """pip's find-links locations: PIP_FIND_LINKS and `pip config list` (any scope)."""
    out = os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        r = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                           text=True, timeout=60)
        for line in r.stdout.splitlines():
            key, _, value = line.partition("=")
            if key.endswith("find-links"):
                out += value.strip().strip("'\"").split()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return list(dict.fromkeys(out))


def local_torch_wheel(links: list[str], version: tuple[int, int]) -> str | None:
    """A `torch-2.13.0+cpu-cpXY-*.whl` in one of the local find-links directories, or None."""
    tag = f"cp{version[0]}{version[1]}"
    for link in links:
        path = link.removeprefix("file://")
        found = sorted(glob.glob(os.path.join(path, f"torch-{TORCH}+cpu-{tag}-{tag}-*.whl")))
        if os.path.isdir(path) and found:
            return found[0]
    return None


def python_version(python: str) -> tuple[int, int]:
    """(major, minor) of the interpreter `python` (a name on PATH or a path)."""
    try:
        r = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise PlanError(f"cannot run {python}: {e.strerror}") from None
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[0]
        raise PlanError(f"cannot run {python}: {why}")
    major, minor = map(int, r.stdout.split())
    return major, minor


def wheelhouse_torch(folder: str, version: tuple[int, int]) -> str:
    """The torch wheel for Python `version` in a wheelhouse folder ('cpu' or 'cuda' build);
    a PlanError if the folder or the wheel is missing."""
    if not os.path.isdir(folder):
        raise PlanError(f"WHEELHOUSE={folder} is not a folder: write one with "
                        f"`make wheelhouse WHEELHOUSE={folder} PYTHON_VERSION={version[0]}.{version[1]}`")
    tag = f"cp{version[0]}{version[1]}"
    found = sorted(glob.glob(os.path.join(folder, f"torch-{TORCH}*-{tag}-{tag}-*.whl")))
    if not found:
        raise PlanError(f"WHEELHOUSE={folder} has no torch {TORCH} wheel for Python "
                        f"{version[0]}.{version[1]}: write it with `make wheelhouse "
                        f"WHEELHOUSE={folder} PYTHON_VERSION={version[0]}.{version[1]}`")
    return "cpu" if "+cpu" in os.path.basename(found[0]) else "cuda"


def gather(venv: str, python: str, gpu: str, wheelhouse: str | None = None) -> Facts:
    """The facts of this machine; `gpu`: auto (nvidia-smi decides), yes (required) or no."""
    venv_python = Path(venv) / "bin" / "python"
    exists = venv_python.exists()
    interpreter = str(venv_python) if exists else python
    version = python_version(interpreter)
    driver = None if gpu == "no" else nvidia_driver()
    if gpu == "yes" and driver is None:
        raise PlanError("GPU=yes but nvidia-smi is missing or fails: install the NVIDIA driver")
    if wheelhouse is not None:
        kind = wheelhouse_torch(wheelhouse, version)
        return Facts(version, driver, None, exists, os.path.abspath(wheelhouse), kind == "cpu")
    local = None if driver else local_torch_wheel(find_links(interpreter), version)
    return Facts(version, driver, local, exists)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venv", default=".venv", help="the virtual environment (default .venv)")
    p.add_argument("--python", default="python3", help="Python that creates it (default python3)")
    p.add_argument("--gpu", choices=("auto", "yes", "no"), default="auto",
                   help="auto: CUDA builds where nvidia-smi works (default)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--wheelhouse", default=None,
                   help="install only from this folder of wheels (make wheelhouse), no network")
    args = p.parse_args(argv)
    try:
        facts = gather(args.venv, args.python, args.gpu, args.wheelhouse or None)
        commands = plan(facts, args.venv, args.python)
    except PlanError as e:
        print(f"install_plan: error: {e}", file=sys.stderr)
        return 2
    kind = f"NVIDIA driver {facts.driver}: CUDA builds" if facts.driver else "no NVIDIA GPU: CPU builds"
    if facts.wheelhouse is not None:
        cpu = facts.wheelhouse_cpu or facts.driver is None
        kind = f"{'CPU' if cpu else 'CUDA'} builds from the wheelhouse {facts.wheelhouse} (no network)"
    print(f"# install plan: Python {facts.python[0]}.{facts.python[1]}, {kind}", flush=True)
    for cmd in commands:
        print(shlex.join(cmd), flush=True)
        if not args.dry_run:
            r = subprocess.run(cmd)
            if r.returncode != 0:
                print(f"install_plan: error: exit {r.returncode} from: {shlex.join(cmd)}", file=sys.stderr)
                return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
