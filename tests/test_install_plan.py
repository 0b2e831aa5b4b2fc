"""tools/install_plan.py (what `make install` runs) and tools/doctor.py: the plan chosen with a
fake `nvidia-smi` first on PATH vs none, exactly; nothing is downloaded (--dry-run)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PLAN = ROOT / "tools" / "install_plan.py"
TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
PIP = ["-m", "pip", "install", "--quiet"]


def fake(tmp_path, name, body):
    """An executable shell script `name` in tmp_path/bin (returned: the dir, for PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / name
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(0o755)
    return bin_dir


def plan(tmp_path, *args, path=None, wheels=None, venv=None):
    """(exit code, command lines, stderr) of the dry-run plan for a venv under tmp_path; pip's
    config files are ignored and its find-links are `wheels` (a dir) or none."""
    venv = venv or tmp_path / "venv"
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(path or empty), "PIP_CONFIG_FILE": os.devnull,
           "PIP_FIND_LINKS": str(wheels or "")}
    r = subprocess.run([sys.executable, str(PLAN), "--dry-run", "--venv", str(venv), "--python",
                        sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, [line for line in r.stdout.splitlines() if not line.startswith("#")], r.stderr


def line(*argv):
    return " ".join(str(a) for a in argv)


def test_cpu_with_a_local_torch_wheel(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / f"torch-2.13.0+cpu-{TAG}-{TAG}-manylinux_2_28_x86_64.whl").write_bytes(b"")
    rc, cmds, err = plan(tmp_path, wheels=wheels)
    py = tmp_path / "venv" / "bin" / "python"
    assert rc == 0, err
    assert cmds == [line(sys.executable, "-m", "venv", tmp_path / "venv"),
                    line(py, *PIP, "torch==2.13.0"),
                    line(py, *PIP, "-e", "'.[dev,groot]'"),
                    line(py, *PIP, "--no-deps", "lerobot==0.4.4")]


def test_cpu_without_one_uses_the_pytorch_cpu_index_never_cuda(tmp_path):
    rc, cmds, err = plan(tmp_path)
    py = tmp_path / "venv" / "bin" / "python"
    assert rc == 0, err
    assert cmds[1:] == [line(py, *PIP, "torch==2.13.0", "--index-url",
                             "https://download.pytorch.org/whl/cpu"),
                        line(py, *PIP, "-e", "'.[dev,groot]'"),
                        line(py, *PIP, "--no-deps", "lerobot==0.4.4")]
    assert "whl/cu" not in " ".join(cmds) and "jax[" not in " ".join(cmds)


@pytest.mark.parametrize("driver, jax_extra, index", [
    ("580.65.06", "cuda13", "cu130"), ("535.183.01", "cuda12", "cu128")])
def test_nvidia_gets_cuda_torch_and_the_jax_plugin(tmp_path, driver, jax_extra, index):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)  # an existing venv: not created again
    args_file = tmp_path / "args"
    smi = fake(tmp_path, "nvidia-smi", f'echo "$@" > {args_file}\necho "{driver}"')
    rc, cmds, err = plan(tmp_path, path=smi, venv=venv)
    py = venv / "bin" / "python"
    assert rc == 0, err
    assert cmds == [line(py, *PIP, "torch==2.13.0", "--index-url",
                         f"https://download.pytorch.org/whl/{index}"),
                    line(py, *PIP, "-e", "'.[dev,groot]'"),
                    line(py, *PIP, "--no-deps", "lerobot==0.4.4"),
                    line(py, *PIP, f"'jax[{jax_extra}]==0.10.2'")]
    assert args_file.read_text().split() == ["--query-gpu=driver_version", "--format=csv,noheader"]
    rc, cmds, err = plan(tmp_path, "--gpu", "no", path=smi, venv=venv)  # forced CPU builds
    assert rc == 0 and cmds[0].endswith("whl/cpu") and "jax[" not in " ".join(cmds)


def test_a_failing_nvidia_smi_means_cpu(tmp_path):
    smi = fake(tmp_path, "nvidia-smi", 'echo "NVIDIA-SMI has failed" >&2\nexit 9')
    rc, cmds, _ = plan(tmp_path, path=smi)
    assert rc == 0 and "whl/cpu" in cmds[1] and "jax[" not in " ".join(cmds)
    rc, _, err = plan(tmp_path, "--gpu", "yes", path=smi)
    assert rc == 2 and err.strip().splitlines() == [
        "install_plan: error: GPU=yes but nvidia-smi is missing or fails: install the NVIDIA driver"]


def test_old_driver_and_unsupported_python_are_one_line_errors(tmp_path):
    smi = fake(tmp_path, "nvidia-smi", 'echo "470.82.01"')
    rc, cmds, err = plan(tmp_path, path=smi)
    assert rc == 2 and cmds == [] and len(err.strip().splitlines()) == 1
    assert "NVIDIA driver 470.82.01 is too old for CUDA 12 (needs >= 525" in err
    old = fake(tmp_path / "py", "python3.10", 'echo "3 10"')
    r = subprocess.run([sys.executable, str(PLAN), "--dry-run", "--venv", str(tmp_path / "v"),
                        "--python", str(old / "python3.10")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("install_plan: error: Python 3.10 is not "
                                                     "supported (use 3.11, 3.12, 3.13)")


def test_make_install_runs_the_plan(tmp_path):
    r = subprocess.run(["make", "-n", "install", f"VENV={tmp_path / 'v'}", "GPU=no"], cwd=ROOT,
                       capture_output=True, text=True)
    assert f"tools/install_plan.py --venv {tmp_path / 'v'} --python python3 --gpu no" in r.stdout


def test_doctor_on_this_machine_says_no_gpu(tmp_path):
    """Run with an empty PATH (no nvidia-smi): no GPU is reported, not as a problem."""
    env = {**os.environ, "PATH": str(tmp_path)}
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "doctor.py")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert "no GPU (nvidia-smi not found or failing)" in r.stdout, r.stdout + r.stderr
    assert "JAX backend cpu" in r.stdout and "jax 0.10.2 (pinned 0.10.2)" in r.stdout
    assert r.returncode == (1 if "PROBLEM:" in r.stdout else 0)


def test_doctor_reads_nvidia_smi_and_flags_a_full_gpu():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import doctor
    finally:
        sys.path.pop(0)
    gpus = doctor.parse_nvidia_smi("NVIDIA H100 80GB HBM3, 580.65.06, 1024, 81559\n")
    assert gpus == [{"name": "NVIDIA H100 80GB HBM3", "driver": "580.65.06", "free_mib": 1024,
                     "total_mib": 81559}]
    lines, problems = doctor.gpu_section(gpus)
    assert lines == ["GPU 0: NVIDIA H100 80GB HBM3, driver 580.65.06, 1024 MiB free of 81559 MiB"]
    assert problems == [("GPU 0 has only 1024 MiB free", "stop the other processes on it "
                                                          "(nvidia-smi lists them)")]
    assert doctor.pins()["jax"] == "0.10.2" and doctor.pins()["mujoco-mjx"] == "3.17.0"
