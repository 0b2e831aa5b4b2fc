"""Every pinned wheel in one folder, for installing with no network (`make install WHEELHOUSE=...`),
or a stripped, compressed archive in parts for a machine that already has some of them.

    python3 tools/wheelhouse.py --out .wheelhouse --python-version 3.12     # make wheelhouse
    python3 tools/wheelhouse.py --split 56 --python-version 3.12 --skip-present FILE --out DIR

Standard library only (it runs under the system Python, before any venv). pip does the
downloading: `pip download --only-binary=:all: --platform manylinux_2_N_x86_64 ...
--python-version X --implementation cp`, so the wheels are for Linux x86-64 and that Python,
whatever machine builds the folder.

Folder (no --split): the project's pins (pyproject.toml's dependencies and its [dev] and
[groot] extras) and everything they need, resolved by pip; torch 2.13.0 as the CPU build (a
local `torch-2.13.0+cpu` wheel in pip's find-links, else the PyTorch CPU index) or, with
`--cuda cu130|cu128`, the CUDA build and `jax[cuda13|cuda12]`; lerobot 0.4.4 without its
dependencies (make install adds it with --no-deps); setuptools (the build backend that
`pip install -e .` needs). `make install WHEELHOUSE=DIR` installs from it with
`pip --no-index --find-links DIR`.

Archive (--split MB): for a machine that has some packages already (`--skip-present`: names,
`name==version` or `pip list` lines, comma-separated or a file). The wanted packages (the
project's pins, or `--packages`, or `--preset`) that the target has at a compatible version are
left out, and so are their dependencies that it has: compatible means the version satisfies the
pin (or Requires-Dist), or is unknown (a bare name; but a version asked for in --packages is
shipped then), or the package is one of the target's own accelerator builds and what is built
with them (PREFER_PRESENT: its CUDA jax and torch, numpy, flax, ...), kept whatever the project
pins. What is left is downloaded with `--no-deps`, then each wheel's Requires-Dist is followed
(marker-evaluated for the target) until nothing is missing; clashes are printed and recorded. Wheels are then shrunk (STRIP: test suites, examples, test data, and warp's
CPU-only compiler unless --keep-warp-clang), their RECORD rewritten to match, re-zipped
uncompressed (xz compresses raw bytes far better than deflated ones), put in one tar, xz'ed
and cut into parts of at most MB megabytes (10**6 bytes): wheelhouse.tar.xz.partNN plus
wheelhouse.manifest.json (sizes and sha256 of every part, of the whole archive and of every
wheel, what was stripped, what was skipped). tools/unpack_wheelhouse.py puts it back together.
"""
from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import install_plan  # noqa: E402  (same folder: the pins of make install)

MB = 10**6
ARCHIVE = "wheelhouse.tar.xz"
MANIFEST = "wheelhouse.manifest.json"
NO_DEPS = {"lerobot"}  # installed with --no-deps (install_plan.LEROBOT): its own pins are not followed

# What no run needs, removed from the wheels of --split (prefixes of paths inside the wheel).
# Evidence that each is safe is in the module docstrings of the packages (see strip_rules).
STRIP = {
    "warp-lang": ["warp/examples/", "warp/tests/"],
    "mujoco": ["mujoco/experimental/"],  # MuJoCo Studio's Dear ImGui/ImPlot UI: imported by no module
    "mujoco-mjx": ["mujoco/mjx/test_data/"],  # read only by mjx's tests and testspeed
    "draccus": ["examples/"],  # a top-level examples/ folder (and tests/, by the generic rule)
}
# warp's LLVM/Clang library: it compiles and runs kernels on the CPU device only. warp's
# Runtime loads it only `if os.path.exists(llvm_lib)`, else sets runtime.llvm = None
# (wp.is_cpu_available() is False); CUDA kernels compile with NVRTC inside warp.so.
WARP_CLANG = "warp/bin/warp-clang.so"
GENERIC_DIRS = ("tests",)  # any folder of this name inside a package (never in *.dist-info)
DROP_FILES = (".pyc",)

# The lent GPU machine (nvidia-h200, Python 3.12.3, no network), /work/.library/device/KINDS.md:
# what it has ('Python packages already there'; versions where a session saw them) and what
# this project needs there on top (the GR00T code's transformers 4.x line shadows its 5.x).
H200_PRESENT = """
absl-py accelerate==1.15.0 aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops
equinox etils execnet filelock flatbuffers flax==0.12.10 fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub==1.33.0 humanize hypothesis idna
imageio iniconfig interface-meta jax==0.11.2 jax-cuda13-pjrt==0.11.2 jax-cuda13-plugin==0.11.2
jaxlib==0.11.2 jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson
ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy==2.5.2 numpyro nvidia-cublas nvidia-cuda-cupti
nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas
pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil
pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors==0.8.0 scikit-build-core
scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham
simplejson six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server
tensorstore threadpoolctl tifffile tiktoken timm tokenizers==0.23.2 toolz torch==2.11.0
torchaudio==2.11.0 torchdiffeq torch-geometric torchmetrics torchvision==0.26.0 tqdm
transformers==5.17.0 treescope triton==3.6.0 typer typing-extensions typing-inspect urllib3 uvloop
wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
"""
H200_PACKAGES = """
mujoco==3.17.0 mujoco-mjx==3.17.0 warp-lang==1.18.0 brax==0.14.2
ml-collections==1.1.0 tensorboardX==2.6.5 pyzmq==27.3.0 lerobot==0.4.4
diffusers==0.35.2 dm-tree==0.1.9 draccus==0.10.0 peft==0.17.1
transformers==4.57.6 tokenizers==0.22.2 huggingface-hub==0.35.3
"""
# Not shipped there even where a shipped wheel names it: mediapy (a video helper some wheels
# name; it needs IPython and its dozen dependencies; this project writes videos with
# imageio-ffmpeg, and the GPU runs write none), imageio-ffmpeg (no videos there).
H200_EXCLUDE = "mediapy imageio-ffmpeg"
PRESETS = {"nvidia-h200": dict(python_version="3.12", glibc="2.39", present=H200_PRESENT,
                               packages=H200_PACKAGES, exclude=H200_EXCLUDE)}


# With --skip-present, the target's own builds of these are kept whatever the project pins
# (its CUDA jax and torch, and the libraries built against them): never shipped over them.
PREFER_PRESENT = """jax jaxlib jax-cuda12-plugin jax-cuda12-pjrt jax-cuda13-plugin jax-cuda13-pjrt torch
torchvision torchaudio triton numpy scipy ml-dtypes flax optax orbax-checkpoint chex tensorstore"""


class WheelhouseError(RuntimeError):
    """Something the user must fix; the message says what."""


# ---------------------------------------------------------------------------------------------
# Names, versions, requirements (a small subset of PEP 440/508, enough for Requires-Dist)

def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name."""
    parts = Path(filename).name.split("-")
    if len(parts) < 5 or not filename.endswith(".whl"):
        raise WheelhouseError(f"not a wheel file name: {filename}")
    return canonical(parts[0]), parts[1]


def parse_version(v: str) -> tuple:
    """A sortable key for release versions (PEP 440 release part, pre-releases before finals)."""
    v = v.split("+")[0].lower()
    m = re.match(r"^v?(\d+(?:\.\d+)*)(?:[._-]?(a|b|rc|alpha|beta|c|pre|preview)[._-]?(\d*))?"
                 r"(?:[._-]?(post|rev|r)[._-]?(\d*))?(?:[._-]?(dev)[._-]?(\d*))?", v)
    if not m:
        return ((0,), (0, 0), (0,), (1,))
    release = tuple(int(x) for x in m.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre = (-1, {"a": 0, "alpha": 0, "b": 1, "beta": 1}.get(m.group(2), 2), int(m.group(3) or 0)) \
        if m.group(2) else (0, 0, 0)
    post = (int(m.group(5) or 0),) if m.group(4) else (-1,)
    dev = (-1, int(m.group(7) or 0)) if m.group(6) else (0, 0)
    return (release, pre, post, dev)


def version_matches(version: str, spec: str) -> bool:
    """Whether `version` satisfies a specifier set such as '>=0.34.0,<1.0' (empty: any)."""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = re.match(r"^(~=|===|==|!=|<=|>=|<|>)\s*(.+)$", clause)
        if not m:
            return True  # unknown syntax: do not claim a conflict
        op, want = m.groups()
        if want.endswith(".*"):
            prefix = want[:-2].split(".")
            same = version.split("+")[0].split(".")[:len(prefix)] == prefix
            if (op == "==") != same:
                return False
            continue
        a, b = parse_version(version), parse_version(want)
        ok = {"==": a == b, "===": version == want, "!=": a != b, "<=": a <= b, ">=": a >= b,
              "<": a < b, ">": a > b}.get(op)
        if op == "~=":
            rel = [int(x) for x in re.findall(r"\d+", want.split("+")[0])][:-1] or [0]
            ok = a >= b and list(a[0][:len(rel)]) + [0] * (len(rel) - len(a[0])) == rel
        if not ok:
            return False
    return True


def target_env(python_version: str) -> dict:
    major_minor = ".".join(python_version.split(".")[:2])
    full = python_version if python_version.count(".") == 2 else major_minor + ".0"
    return {"python_version": major_minor, "python_full_version": full, "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "platform_python_implementation": "CPython", "implementation_name": "cpython",
            "implementation_version": full, "platform_release": "", "platform_version": "",
            "extra": ""}


def marker_applies(marker: str, env: dict) -> bool:
    """Evaluates a PEP 508 marker for the target with pip's own `packaging` (any pip has it),
    or, where that cannot be imported, a plain reading: 'extra ==' markers never apply."""
    if not marker.strip():
        return True
    try:
        from pip._vendor.packaging.markers import Marker
        return bool(Marker(marker).evaluate(env))
    except ImportError:
        return not re.search(r"\bextra\s*==", marker)
    except Exception:  # an odd marker: follow the requirement rather than lose it
        return not re.search(r"\bextra\s*==", marker)


def parse_requirement(text: str) -> tuple[str, str, str]:
    """(canonical name, specifier, marker) of a requirement line such as
    'huggingface-hub[cli]<0.36,>=0.34; python_version >= "3.9"'."""
    req, _, marker = text.partition(";")
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^)]*)\)?\s*$", req)
    if not m:
        raise WheelhouseError(f"cannot read the requirement {text!r}")
    return canonical(m.group(1)), m.group(3).replace(" ", ""), marker.strip()


def read_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            raise WheelhouseError(f"{wheel.name} has no .dist-info/METADATA")
        return z.read(names[0]).decode("utf-8", "replace")


def requires(wheel: Path, env: dict) -> list[tuple[str, str]]:
    """(name, specifier) of each Requires-Dist of `wheel` that applies on the target."""
    out = []
    for line in read_metadata(wheel).splitlines():
        if line.startswith("Requires-Dist:"):
            name, spec, marker = parse_requirement(line.split(":", 1)[1])
            if marker_applies(marker, env):
                out.append((name, spec))
    return out


def read_or_text(item: str) -> str:
    """The contents of the file `item` names, or `item` itself (a list written inline)."""
    if "\n" not in item and len(item) < 4096 and os.path.isfile(item):
        return Path(item).read_text()
    return item


def parse_present(items: list[str]) -> dict[str, str | None]:
    """What the target has: {canonical name: version or None}, from names, `name==version`,
    `pip list` / `pip freeze` lines, comma- or space-separated, or files of them."""
    out: dict[str, str | None] = {}
    text = []
    for item in items:
        text.append(read_or_text(item))
    for line in "\n".join(text).replace(",", "\n").splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith(("Package ", "---")):
            continue
        cols = line.split()
        if len(cols) >= 2 and re.match(r"^\d", cols[1]):  # `pip list`: name version
            out[canonical(cols[0])] = cols[1]
            continue
        for tok in cols:
            name, _, version = tok.partition("==")
            if name:
                out[canonical(name)] = version or None
    return out


def parse_wanted(items: list[str]) -> dict[str, str]:
    """{canonical name: specifier} from requirement strings (whitespace/comma-separated or files)."""
    out: dict[str, str] = {}
    for item in items:
        text = read_or_text(item)
        for tok in text.replace(",", " ").replace("\n", " ").split():
            if tok.startswith("#"):
                continue
            name, spec, _ = parse_requirement(tok)
            out[name] = spec
    return out


# ---------------------------------------------------------------------------------------------
# The project's pins

def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """pyproject.toml's dependencies and its [dev] and [groot] extras (make install's set)."""
    import tomllib
    data = tomllib.loads(pyproject.read_text())
    extras = re.findall(r"\w+", install_plan.EXTRAS.split("[", 1)[1])
    reqs = list(data["project"]["dependencies"])
    for extra in extras:
        reqs += data["project"]["optional-dependencies"][extra]
    return reqs


def build_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    import tomllib
    return list(tomllib.loads(pyproject.read_text())["build-system"]["requires"])


# ---------------------------------------------------------------------------------------------
# pip download

def platforms(glibc: str) -> list[str]:
    """manylinux tags from `glibc` (e.g. '2.28') down to the oldest: pip matches each exactly."""
    major, minor = (int(x) for x in glibc.split("."))
    tags = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
    return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64",
                   "linux_x86_64"]


def pip_download(python: str, dest: Path, reqs: list[str], python_version: str, glibc: str,
                 no_deps: bool, extra: list[str] = (), dry_run: bool = False) -> list[str]:
    cmd = [python, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--implementation",
           "cp", "--python-version", python_version, "-d", str(dest)]
    for tag in platforms(glibc):
        cmd += ["--platform", tag]
    if no_deps:
        cmd.append("--no-deps")
    cmd += [*extra, *reqs]
    print("+ " + " ".join(cmd[:6]) + " ... " + " ".join(reqs[:6]) + (" ..." if len(reqs) > 6 else ""),
          flush=True)
    if not dry_run:
        r = subprocess.run(cmd)
        if r.returncode != 0:
            raise WheelhouseError(f"pip download failed (exit {r.returncode}) for: {' '.join(reqs)}")
    return cmd


def torch_cpu_wheel(python: str, dest: Path, python_version: str, glibc: str) -> Path:
    """torch==TORCH as the CPU build: a local `torch-X+cpu` wheel in pip's find-links for that
    Python (this project's machines), else the PyTorch CPU index (never PyPI's: that is CUDA)."""
    major, minor = (int(x) for x in python_version.split(".")[:2])
    local = install_plan.local_torch_wheel(install_plan.find_links(python), (major, minor))
    if local:
        shutil.copy2(local, dest / Path(local).name)
        return dest / Path(local).name
    pip_download(python, dest, [f"torch=={install_plan.TORCH}+cpu"], python_version, glibc, True,
                 ["--index-url", install_plan.TORCH_INDEX.format("cpu")])
    found = sorted(dest.glob(f"torch-{install_plan.TORCH}+cpu-*.whl"))
    if not found:
        raise WheelhouseError("no torch CPU wheel was downloaded")
    return found[0]


def full_wheelhouse(out: Path, python: str, python_version: str, glibc: str, cuda: str) -> None:
    """Every pinned wheel and what it needs, resolved by pip, into `out` (make wheelhouse)."""
    out.mkdir(parents=True, exist_ok=True)
    reqs = project_requirements()
    links = ["--find-links", str(out)]
    if cuda == "none":
        torch = torch_cpu_wheel(python, out, python_version, glibc)
        reqs.append(f"torch=={wheel_name_version(torch.name)[1]}")  # the +cpu build, nothing else
    else:
        jax_extra = {"cu130": "cuda13", "cu128": "cuda12"}[cuda]
        pip_download(python, out, [f"torch=={install_plan.TORCH}"], python_version, glibc, False,
                     ["--index-url", install_plan.TORCH_INDEX.format(cuda),
                      "--extra-index-url", "https://pypi.org/simple"])
        reqs.append(f"jax[{jax_extra}]=={install_plan.JAX}")
    pip_download(python, out, reqs + build_requirements(), python_version, glibc, False, links)
    pip_download(python, out, [install_plan.LEROBOT], python_version, glibc, True)
    wheels = sorted(out.glob("*.whl"))
    names = {}
    for w in wheels:
        names.setdefault(wheel_name_version(w.name)[0], []).append(w.name)
    twice = {k: v for k, v in names.items() if len(v) > 1}
    if twice:
        print(f"wheelhouse: warning: more than one version of {sorted(twice)}: {twice}", file=sys.stderr)
    total = sum(w.stat().st_size for w in wheels)
    print(f"wheelhouse: {len(wheels)} wheels, {total / MB:.0f} MB in {out}; install with "
          f"`make install WHEELHOUSE={out}`")


def closure(python: str, stage: Path, wanted: dict[str, str], present: dict[str, str | None],
            exclude: set[str], python_version: str, glibc: str, explicit: bool = True,
            prefer: set[str] = frozenset()) -> dict:
    """Download (--no-deps) what `wanted` needs that the target lacks, following Requires-Dist
    until nothing is missing (wheels already in `stage` count as shipped). A package the target
    has is left out when its version satisfies what is asked, or is unknown (an `explicit`
    version asked for in --packages is shipped then), or the name is in `prefer` (the target's
    own accelerator builds and what is built with them: kept whatever the pin says).
    Returns a report: shipped, skipped, assumed_compatible, excluded, needed_by, conflicts."""
    env = target_env(python_version)
    report = {"skipped": {}, "excluded": {}, "assumed_compatible": {}, "needed_by": {}}
    have: dict[str, Path] = {}
    queue = dict(wanted)

    def follow(w: Path) -> None:
        name = wheel_name_version(w.name)[0]
        have[name] = w
        if name in NO_DEPS:
            return
        for dep, spec in requires(w, env):
            report["needed_by"].setdefault(dep, []).append(name)
            if dep not in have and dep not in queue:
                queue[dep] = spec

    for w in sorted(stage.glob("*.whl")):
        follow(w)
    while queue:
        todo = []
        for name, spec in queue.items():
            if name in have:
                continue
            if name in exclude:
                report["excluded"][name] = spec
                continue
            if name in present:
                version = present[name]
                asked = name in wanted and explicit and spec
                if name in prefer or (version is None and not asked) or \
                        (version is not None and version_matches(version, spec)):
                    report["skipped" if version else "assumed_compatible"][name] = version or spec
                    continue
            todo.append(f"{name}{spec}")
        queue = {}
        if not todo:
            break
        pip_download(python, stage, sorted(set(todo)), python_version, glibc, True)
        for w in sorted(stage.glob("*.whl")):
            if wheel_name_version(w.name)[0] not in have:
                follow(w)
    # every requirement of a shipped wheel is met by a shipped or a present version?
    conflicts = []
    for name, w in have.items():
        if name in NO_DEPS:
            continue
        for dep, spec in requires(w, env):
            if dep in have:
                v = wheel_name_version(have[dep].name)[1]
            elif dep in present:
                v = present[dep]
            else:
                continue
            if v is not None and spec and not version_matches(v, spec):
                conflicts.append(f"{name} needs {dep}{spec}, gets {v}")
    report["conflicts"] = conflicts
    report["shipped"] = {n: wheel_name_version(w.name)[1] for n, w in sorted(have.items())}
    return report


# ---------------------------------------------------------------------------------------------
# Stripping and re-zipping

def strip_rules(name: str, keep_warp_clang: bool = False) -> list[str]:
    rules = list(STRIP.get(name, []))
    if name == "warp-lang" and not keep_warp_clang:
        rules.append(WARP_CLANG)
    return rules


def dropped(path: str, rules: list[str]) -> bool:
    """Whether the file `path` (inside a wheel) is removed by `rules` or the generic rules."""
    if any(path == r or (r.endswith("/") and path.startswith(r)) for r in rules):
        return True
    parts = path.split("/")
    if parts[0].endswith(".dist-info"):
        return False
    if any(p in GENERIC_DIRS for p in parts[:-1]):
        return True
    return path.endswith(DROP_FILES) or "__pycache__" in parts[:-1]


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rezip(src: Path, dest_dir: Path, rules: list[str], stored: bool = True) -> dict:
    """Writes `src` to dest_dir without the files `rules` drop, with a RECORD that lists every
    remaining file with its sha256 and size (and a STRIPPED file naming what went), stored
    uncompressed unless `stored` is False. Returns {file, removed: [paths], removed_bytes}."""
    dest = dest_dir / src.name
    removed, removed_bytes = [], 0
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        records = [i.filename for i in infos if re.match(r"^[^/]+\.dist-info/RECORD$", i.filename)]
        if len(records) != 1:
            raise WheelhouseError(f"{src.name}: expected one .dist-info/RECORD, found {records}")
        record = records[0]
        distinfo = record.rsplit("/", 1)[0]
        compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        rows = []
        with zipfile.ZipFile(dest, "w", compression) as zout:
            for info in infos:
                name = info.filename
                if name == record or name in (f"{distinfo}/RECORD.jws", f"{distinfo}/RECORD.p7s"):
                    continue
                if name.endswith("/"):
                    continue
                if dropped(name, rules):
                    removed.append(name)
                    removed_bytes += info.file_size
                    continue
                data = zin.read(info)
                out = zipfile.ZipInfo(name, date_time=info.date_time)
                out.external_attr = info.external_attr
                out.compress_type = compression
                zout.writestr(out, data)
                rows.append((name, record_hash(data), str(len(data))))
            if removed:
                note = ("Removed from the original wheel by tools/wheelhouse.py (not needed at run "
                        "time):\n" + "\n".join(removed) + "\n").encode()
                zout.writestr(zipfile.ZipInfo(f"{distinfo}/STRIPPED", date_time=(2020, 1, 1, 0, 0, 0)),
                              note, compression)
                rows.append((f"{distinfo}/STRIPPED", record_hash(note), str(len(note))))
            rows.append((record, "", ""))
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows)
            zout.writestr(zipfile.ZipInfo(record, date_time=(2020, 1, 1, 0, 0, 0)), buf.getvalue(),
                          compression)
    return {"file": dest.name, "removed": removed, "removed_bytes": removed_bytes}


def check_wheel(path: Path) -> None:
    """Raises WheelhouseError unless `path` is a zip whose RECORD lists exactly its files with
    their right sha256 and size."""
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad:
            raise WheelhouseError(f"{path.name}: corrupt member {bad}")
        record = [n for n in z.namelist() if re.match(r"^[^/]+\.dist-info/RECORD$", n)][0]
        rows = {r[0]: r for r in csv.reader(io.StringIO(z.read(record).decode())) if r}
        files = {n for n in z.namelist() if not n.endswith("/")}
        if set(rows) != files:
            raise WheelhouseError(f"{path.name}: RECORD lists {sorted(set(rows) ^ files)[:5]} wrongly")
        for name, row in rows.items():
            if name == record:
                continue
            data = z.read(name)
            if row[1] != record_hash(data) or row[2] != str(len(data)):
                raise WheelhouseError(f"{path.name}: RECORD's hash or size of {name} is wrong")


# ---------------------------------------------------------------------------------------------
# Archive in parts

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PartWriter:
    """A file-like sink that cuts what is written to it into parts of at most `limit` bytes."""

    def __init__(self, out: Path, prefix: str, limit: int):
        self.out, self.prefix, self.limit = out, prefix, limit
        self.parts: list[Path] = []
        self.f = None
        self.size = 0
        self.whole = hashlib.sha256()
        self.total = 0

    def _next(self):
        if self.f:
            self.f.close()
        path = self.out / f"{self.prefix}.part{len(self.parts) + 1:02d}"
        self.parts.append(path)
        self.f = open(path, "wb")
        self.size = 0

    def write(self, data: bytes) -> int:
        self.whole.update(data)
        self.total += len(data)
        view = memoryview(data)
        while len(view):
            if self.f is None or self.size >= self.limit:
                self._next()
            n = min(len(view), self.limit - self.size)
            self.f.write(view[:n])
            self.size += n
            view = view[n:]
        return len(data)

    def close(self):
        if self.f:
            self.f.close()


def compress_into_parts(tar_path: Path, out: Path, limit: int, threads: int,
                        preset: int = 9) -> PartWriter:
    """xz of `tar_path` (the xz program with `threads` threads if there is one, else lzma),
    cut into parts of at most `limit` bytes under `out`."""
    writer = PartWriter(out, ARCHIVE, limit)
    xz = shutil.which("xz")
    if xz:
        proc = subprocess.Popen([xz, f"-{preset}", f"-T{threads}", "-c", str(tar_path)],
                                stdout=subprocess.PIPE)
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            writer.write(chunk)
        if proc.wait() != 0:
            raise WheelhouseError(f"xz failed (exit {proc.returncode})")
    else:
        comp = lzma.LZMACompressor(preset=preset)
        with open(tar_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                writer.write(comp.compress(chunk))
        writer.write(comp.flush())
    writer.close()
    return writer


def split_archive(wheels: list[Path], out: Path, split_mb: float, keep_warp_clang: bool,
                  threads: int, info: dict, preset: int = 9) -> dict:
    """Strips and re-zips `wheels`, tars and xz's them into parts under `out`, writes the
    manifest. Returns it."""
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob(f"{ARCHIVE}.part*")) + [out / MANIFEST]:
        old.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
        tmp = Path(tmp)
        shrunk = tmp / "wheels"
        shrunk.mkdir()
        entries = []
        for w in sorted(wheels):
            name, version = wheel_name_version(w.name)
            r = rezip(w, shrunk, strip_rules(name, keep_warp_clang))
            check_wheel(shrunk / w.name)
            entries.append({"file": w.name, "name": name, "version": version,
                            "bytes": (shrunk / w.name).stat().st_size,
                            "sha256": sha256_file(shrunk / w.name),
                            "original_bytes": w.stat().st_size,
                            "removed_bytes": r["removed_bytes"],
                            "removed": summarize(r["removed"])})
            print(f"  {w.name}: {w.stat().st_size / MB:.1f} MB -> {entries[-1]['bytes'] / MB:.1f} MB "
                  f"stored ({r['removed_bytes'] / MB:.1f} MB removed)", flush=True)
        tar_path = tmp / "wheelhouse.tar"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            # small first, the big binaries last: a broken tail loses the fewest wheels
            for e in sorted(entries, key=lambda e: e["bytes"]):
                ti = tar.gettarinfo(shrunk / e["file"], arcname=e["file"])
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                ti.mtime = 0
                with open(shrunk / e["file"], "rb") as f:
                    tar.addfile(ti, f)
        t0 = time.time()
        print(f"wheelhouse: xz -{preset} -T{threads} of {tar_path.stat().st_size / MB:.0f} MB ...",
              flush=True)
        writer = compress_into_parts(tar_path, out, int(split_mb * MB), threads, preset)
        print(f"wheelhouse: compressed to {writer.total / MB:.1f} MB in {time.time() - t0:.0f} s",
              flush=True)
    manifest = {
        "format": 1,
        "archive": ARCHIVE,
        "archive_bytes": writer.total,
        "archive_sha256": writer.whole.hexdigest(),
        "part_limit_bytes": int(split_mb * MB),
        "parts": [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)}
                  for p in writer.parts],
        "wheels": entries,
        **info,
        "install": "python3 tools/unpack_wheelhouse.py <folder with the parts and this file> "
                   "--target /tmp/site   (pip install --no-index --no-deps --target)",
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def summarize(paths: list[str]) -> list[str]:
    """The removed paths, folders collapsed to their top-most removed prefix ('a/b/ (N files)')."""
    if not paths:
        return []
    out: dict[str, int] = {}
    for p in paths:
        parts = p.split("/")
        key = p
        for i in range(1, len(parts)):
            if parts[i - 1] in GENERIC_DIRS or any(
                    r.endswith("/") and "/".join(parts[:i]) + "/" == r for rs in STRIP.values() for r in rs):
                key = "/".join(parts[:i]) + "/"
                break
        out[key] = out.get(key, 0) + 1
    return [k if n == 1 and not k.endswith("/") else f"{k} ({n} files)" for k, n in sorted(out.items())]


# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".wheelhouse", help="the folder (default .wheelhouse)")
    p.add_argument("--python-version", default=None,
                   help="target Python, e.g. 3.12 (default: this Python's, or the preset's)")
    p.add_argument("--glibc", default=None,
                   help="newest manylinux_2_N to accept (default 2.28; the preset's)")
    p.add_argument("--cuda", choices=("none", "cu130", "cu128"), default="none",
                   help="torch build and jax CUDA plugin of the folder (default none: CPU)")
    p.add_argument("--python", default=sys.executable, help="Python whose pip downloads")
    p.add_argument("--split", type=float, metavar="MB", default=None,
                   help="write a stripped tar.xz in parts of at most MB megabytes instead")
    p.add_argument("--skip-present", nargs="+", default=[], metavar="LIST_OR_FILE",
                   help="what the target has (names, name==version, pip list lines, or files)")
    p.add_argument("--packages", nargs="+", default=[], metavar="REQ_OR_FILE",
                   help="what the target needs (default: the project's pins and lerobot)")
    p.add_argument("--exclude", nargs="+", default=[], help="never ship these names")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="the lent GPU machine: its packages, Python, glibc, what it needs")
    p.add_argument("--from", dest="source", default=None,
                   help="take the wheels from this folder instead of downloading (with --split)")
    p.add_argument("--keep-warp-clang", action="store_true",
                   help="keep warp's CPU compiler (warp-clang.so: CPU kernels only)")
    p.add_argument("--threads", type=int, default=max(1, min(os.cpu_count() or 1, 2)),
                   help="xz threads (default min(2, cores))")
    p.add_argument("--xz-preset", type=int, default=9, help="xz level (default 9)")
    args = p.parse_args(argv)
    preset = PRESETS.get(args.preset, {})
    python_version = args.python_version or preset.get("python_version") or \
        "{}.{}".format(*sys.version_info[:2])
    glibc = args.glibc or preset.get("glibc") or "2.28"
    out = Path(args.out)
    try:
        if args.split is None:
            if args.skip_present or args.packages or args.preset:
                raise WheelhouseError("--skip-present, --packages and --preset need --split")
            full_wheelhouse(out, args.python, python_version, glibc, args.cuda)
            return 0
        present = parse_present(args.skip_present + ([preset["present"]] if preset else []))
        exclude = {canonical(x) for x in " ".join(args.exclude + [preset.get("exclude", "")]).split()}
        with tempfile.TemporaryDirectory(prefix="wheelhouse-dl-") as stage:
            stage = Path(stage)
            if args.source:
                wheels = sorted(Path(args.source).glob("*.whl"))
                report = {"source": str(args.source)}
                if present or exclude:
                    kept = []
                    for w in wheels:
                        n, v = wheel_name_version(w.name)
                        if n in exclude or (n in present and (present[n] is None or present[n] == v)):
                            continue
                        kept.append(w)
                    report["skipped"] = sorted(wheel_name_version(w.name)[0] for w in wheels
                                               if w not in kept)
                    wheels = kept
            else:
                if args.packages or preset:
                    wanted = parse_wanted(args.packages + ([preset["packages"]] if preset else []))
                else:
                    wanted = parse_wanted(project_requirements() + [install_plan.LEROBOT])
                    if "torch" in wanted and "torch" not in present:
                        torch_cpu_wheel(args.python, stage, python_version, glibc)
                prefer = {canonical(n) for n in PREFER_PRESENT.split()} | \
                    {n for n in present if n.startswith("nvidia-")}
                report = closure(args.python, stage, wanted, present, exclude, python_version, glibc,
                                 explicit=bool(args.packages or preset), prefer=prefer)
                wheels = sorted(stage.glob("*.whl"))
                for c in report["conflicts"]:
                    print(f"wheelhouse: warning: {c}", file=sys.stderr)
            if not wheels:
                raise WheelhouseError("nothing to ship: the target has every package")
            info = {"python_version": python_version, "glibc": glibc, "preset": args.preset,
                    "keep_warp_clang": args.keep_warp_clang, "report": report,
                    "created": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
            manifest = split_archive(wheels, out, args.split, args.keep_warp_clang, args.threads,
                                     info, args.xz_preset)
        parts = ", ".join(f"{q['name']} {q['bytes'] / MB:.1f} MB" for q in manifest["parts"])
        print(f"wheelhouse: {len(manifest['wheels'])} wheels in {len(manifest['parts'])} parts: "
              f"{parts}; manifest {out / MANIFEST}")
        return 0
    except WheelhouseError as e:
        print(f"wheelhouse: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
