"""tools/wheelhouse.py and tools/unpack_wheelhouse.py on small synthetic wheels (no network):
stripping with a RECORD that still matches, the archive cut into parts, the manifest, putting the
parts back together (stashed across calls too) with every damage caught, a pip install
--no-index --target of a stripped wheel; and the install plan's WHEELHOUSE commands."""
import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import unpack_wheelhouse as uw  # noqa: E402
import wheelhouse as wh  # noqa: E402

PLAN = ROOT / "tools" / "install_plan.py"
TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
PIP = ["-m", "pip", "install", "--quiet"]


def make_wheel(folder: Path, name: str, version: str, files: dict, requires=()) -> Path:
    """A valid wheel `name-version-py3-none-any.whl` holding `files` ({path: bytes})."""
    dist = f"{name.replace('-', '_')}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {**files, f"{dist}/METADATA": meta.encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    rows = [(p, wh.record_hash(d), str(len(d))) for p, d in files.items()] + [(f"{dist}/RECORD", "", "")]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            z.writestr(p, d)
        z.writestr(f"{dist}/RECORD", buf.getvalue())
    return path


@pytest.fixture
def wheels(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rnd = lambda n, seed: hashlib.shake_256(seed.encode()).digest(n)  # incompressible bytes
    made = [
        make_wheel(src, "warp-lang", "1.18.0", {
            "warp/__init__.py": b"x = 1\n", "warp/bin/warp.so": rnd(30000, "core"),
            "warp/bin/warp-clang.so": rnd(20000, "clang"), "warp/tests/test_a.py": b"# t\n",
            "warp/examples/ex.py": b"# e\n", "warp/native/builtin.h": b"// h\n"}, ["numpy"]),
        make_wheel(src, "mujoco", "3.17.0", {
            "mujoco/__init__.py": b"", "mujoco/experimental/studio/a.py": rnd(5000, "studio"),
            "mujoco/libmujoco.so": rnd(8000, "mj")}),
        make_wheel(src, "mujoco-mjx", "3.17.0", {
            "mujoco/mjx/__init__.py": b"", "mujoco/mjx/test_data/m.xml": b"<mujoco/>",
            "mujoco/mjx/_src/io.py": b"# io\n"}),
        make_wheel(src, "tinypkg", "0.1.0", {
            "tinypkg/__init__.py": b"VALUE = 42\n", "tinypkg/tests/test_t.py": b"assert 0\n",
            "tinypkg/testing.py": b"# kept: not a tests folder\n"}),
    ]
    return made


def names(path):
    with zipfile.ZipFile(path) as z:
        return set(z.namelist())


def test_strip_rewrites_record_and_keeps_what_runs(wheels, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    warp, mujoco, mjx, tiny = wheels
    r = wh.rezip(warp, out, wh.strip_rules("warp-lang"))
    got = names(out / warp.name)
    assert "warp/bin/warp.so" in got and "warp/native/builtin.h" in got and "warp/__init__.py" in got
    assert not {"warp/bin/warp-clang.so", "warp/tests/test_a.py", "warp/examples/ex.py"} & got
    assert sorted(r["removed"]) == ["warp/bin/warp-clang.so", "warp/examples/ex.py", "warp/tests/test_a.py"]
    assert "warp_lang-1.18.0.dist-info/STRIPPED" in got
    wh.check_wheel(out / warp.name)  # RECORD lists exactly the remaining files, right hashes
    with zipfile.ZipFile(out / warp.name) as z:  # stored: xz compresses raw bytes better
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
    kept = tmp_path / "kept"
    kept.mkdir()
    wh.rezip(warp, kept, wh.strip_rules("warp-lang", keep_warp_clang=True))
    assert "warp/bin/warp-clang.so" in names(kept / warp.name)
    wh.rezip(mujoco, out, wh.strip_rules("mujoco"))
    assert not any(n.startswith("mujoco/experimental/") for n in names(out / mujoco.name))
    wh.rezip(mjx, out, wh.strip_rules("mujoco-mjx"))
    assert "mujoco/mjx/_src/io.py" in names(out / mjx.name)
    assert not any("test_data" in n for n in names(out / mjx.name))
    wh.rezip(tiny, out, wh.strip_rules("tinypkg"))
    assert {"tinypkg/testing.py", "tinypkg/__init__.py"} <= names(out / tiny.name)
    assert "tinypkg/tests/test_t.py" not in names(out / tiny.name)
    for w in (mujoco, mjx, tiny):
        wh.check_wheel(out / w.name)


def test_check_wheel_catches_a_wrong_record(wheels, tmp_path):
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(wheels[3]) as zin, zipfile.ZipFile(bad, "w") as zout:
        for i in zin.infolist():
            data = zin.read(i)
            zout.writestr(i, b"VALUE = 0\n" if i.filename == "tinypkg/__init__.py" else data)
    with pytest.raises(wh.WheelhouseError, match="hash or size"):
        wh.check_wheel(bad)


def split(wheels, tmp_path, mb=0.02):
    out = tmp_path / "parts"
    manifest = wh.split_archive(wheels, out, mb, keep_warp_clang=False, threads=1,
                                info={"python_version": "3.12"}, preset=1)
    return out, manifest


def test_split_manifest_and_reassembly(wheels, tmp_path):
    out, manifest = split(wheels, tmp_path)
    parts = sorted(out.glob("wheelhouse.tar.xz.part*"))
    assert len(parts) >= 2 and [p.name for p in parts] == [q["name"] for q in manifest["parts"]]
    assert all(p.stat().st_size <= 20000 for p in parts)
    assert json.loads((out / "wheelhouse.manifest.json").read_text()) == manifest
    assert sum(q["bytes"] for q in manifest["parts"]) == manifest["archive_bytes"]
    warp = next(w for w in manifest["wheels"] if w["name"] == "warp-lang")
    assert "warp/bin/warp-clang.so" in warp["removed"] and warp["removed_bytes"] > 20000
    got = tmp_path / "got"
    assert uw.main([str(out), "--no-install", "--wheels", str(got)]) == 0
    for w in manifest["wheels"]:
        assert wh.sha256_file(got / w["file"]) == w["sha256"]
        wh.check_wheel(got / w["file"])


def test_parts_in_separate_calls_are_stashed_then_assembled(wheels, tmp_path, capsys):
    out, manifest = split(wheels, tmp_path)
    parts = sorted(out.glob("wheelhouse.tar.xz.part*"))
    stash = tmp_path / "wh"
    for p in parts[:-1]:  # one call per part, each carrying one part and the manifest
        call = tmp_path / f"call-{p.name}"
        call.mkdir()
        (call / p.name).write_bytes(p.read_bytes())
        (call / "wheelhouse.manifest.json").write_bytes((out / "wheelhouse.manifest.json").read_bytes())
        assert uw.main(["--stash", str(call / p.name), "--into", str(stash)]) == 0
    assert "still missing" in capsys.readouterr().out
    last = tmp_path / "last"
    last.mkdir()
    (last / parts[-1].name).write_bytes(parts[-1].read_bytes())
    (last / "wheelhouse.manifest.json").write_bytes((out / "wheelhouse.manifest.json").read_bytes())
    assert uw.main([str(last), "--into", str(stash), "--no-install", "--wheels", str(tmp_path / "w")]) == 0
    assert len(list((tmp_path / "w").glob("*.whl"))) == len(manifest["wheels"])


def test_missing_or_damaged_parts_are_named(wheels, tmp_path, capsys):
    out, manifest = split(wheels, tmp_path)
    parts = sorted(out.glob("wheelhouse.tar.xz.part*"))
    parts[1].rename(tmp_path / "away")
    assert uw.main([str(out), "--no-install"]) == 2
    assert parts[1].name in capsys.readouterr().err
    (tmp_path / "away").rename(parts[1])
    data = bytearray(parts[0].read_bytes())
    data[100] ^= 0xFF
    parts[0].write_bytes(bytes(data))
    assert uw.main([str(out), "--no-install"]) == 2
    assert "sha256" in capsys.readouterr().err
    assert uw.main(["--stash", str(parts[0]), "--into", str(tmp_path / "s")]) == 2


def test_stripped_pure_wheel_installs_with_pip_target(wheels, tmp_path):
    out, manifest = split(wheels, tmp_path)
    site = tmp_path / "site"
    shipped = [w for w in wheels if "tinypkg" in w.name]
    manifest["wheels"] = [w for w in manifest["wheels"] if w["name"] == "tinypkg"]
    got = uw.unpack({**json.loads((out / "wheelhouse.manifest.json").read_text())},
                    sorted(out.glob("*.part*")), tmp_path / "w")
    tiny = [g for g in got if g.name == shipped[0].name]
    assert uw.install(sys.executable, tiny, site) == 0
    r = subprocess.run([sys.executable, "-c", "import tinypkg; print(tinypkg.VALUE)"],
                       env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert r.stdout.strip() == "42", r.stderr
    assert not (site / "tinypkg" / "tests").exists()


def test_requirements_versions_and_what_the_target_has():
    assert wh.parse_requirement('huggingface-hub[cli]<0.36,>=0.34; python_version >= "3.9"') == (
        "huggingface-hub", "<0.36,>=0.34", 'python_version >= "3.9"')
    env = wh.target_env("3.12")
    assert wh.marker_applies('python_version >= "3.12"', env)
    assert not wh.marker_applies('extra == "dev"', env)
    assert wh.version_matches("0.35.3", "<1.0,>=0.34.0") and not wh.version_matches("1.33.0", "<1.0")
    assert wh.version_matches("0.22.2", "<=0.23.0,>=0.22.0") and not wh.version_matches("0.23.2", "<=0.23.0")
    assert wh.version_matches("1.3.4", "~=1.3") and not wh.version_matches("2.0", "~=1.3")
    assert wh.version_matches("2.11.0+cu130", ">=2.2.1")
    present = wh.parse_present(["numpy==2.5.2, jax", "Package Version\n------- -------\ntorch 2.11.0+cu130"])
    assert present == {"numpy": "2.5.2", "jax": None, "torch": "2.11.0+cu130"}
    h200 = wh.parse_present([wh.H200_PRESENT])
    assert h200["transformers"] == "5.17.0" and "mujoco" not in h200
    wanted = wh.parse_wanted([wh.H200_PACKAGES])
    assert wanted["transformers"] == "==4.57.6" and "imageio-ffmpeg" not in wanted
    assert wh.platforms("2.28")[0] == "manylinux_2_28_x86_64" and "manylinux_2_17_x86_64" in wh.platforms("2.28")


def test_project_requirements_hold_the_extras():
    reqs = wh.project_requirements()
    assert "mujoco==3.17.0" in reqs and "pytest==9.2.0" in reqs and "transformers==4.57.6" in reqs


# --- the install plan with a wheelhouse (make install WHEELHOUSE=dir) -------------------------

def plan(tmp_path, *args, path=None):
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(path or empty), "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""}
    r = subprocess.run([sys.executable, str(PLAN), "--dry-run", "--venv", str(tmp_path / "venv"),
                        "--python", sys.executable, *args], env=env, capture_output=True, text=True,
                       timeout=120)
    return r.returncode, [x for x in r.stdout.splitlines() if not x.startswith("#")], r.stderr


def line(*argv):
    return " ".join(str(a) for a in argv)


def test_install_from_a_cpu_wheelhouse_uses_no_index(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    (house / f"torch-2.13.0+cpu-{TAG}-{TAG}-manylinux_2_28_x86_64.whl").write_bytes(b"")
    bin_dir = tmp_path / "bin"  # an NVIDIA machine: a CPU wheelhouse still gives the CPU plan
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 580.65.06\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    for path in (None, bin_dir):
        rc, cmds, err = plan(tmp_path, "--wheelhouse", str(house), path=path)
        py = tmp_path / "venv" / "bin" / "python"
        off = [*PIP, "--no-index", "--find-links", house]
        assert rc == 0, err
        assert cmds == [line(sys.executable, "-m", "venv", tmp_path / "venv"),
                        line(py, *off, "torch==2.13.0"), line(py, *off, "-e", "'.[dev,groot]'"),
                        line(py, *off, "--no-deps", "lerobot==0.4.4")]
        assert "index-url" not in " ".join(cmds)


def test_install_from_a_cuda_wheelhouse_adds_the_jax_plugin(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    (house / f"torch-2.13.0-{TAG}-{TAG}-manylinux_2_28_x86_64.whl").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 580.65.06\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    rc, cmds, err = plan(tmp_path, "--wheelhouse", str(house), path=bin_dir)
    assert rc == 0, err
    assert cmds[-1].endswith(line("--no-index", "--find-links", house, "'jax[cuda13]==0.10.2'"))


def test_a_missing_or_incomplete_wheelhouse_is_an_error(tmp_path):
    rc, cmds, err = plan(tmp_path, "--wheelhouse", str(tmp_path / "nope"))
    assert rc == 2 and "is not a folder" in err and "make wheelhouse" in err
    (tmp_path / "house").mkdir()
    rc, cmds, err = plan(tmp_path, "--wheelhouse", str(tmp_path / "house"))
    assert rc == 2 and "no torch 2.13.0 wheel" in err


def test_make_passes_the_wheelhouse_on():
    r = subprocess.run(["make", "-n", "install", "WHEELHOUSE=/w", "VENV=/nonexistent/v"], cwd=ROOT,
                       capture_output=True, text=True)
    assert "tools/install_plan.py" in r.stdout and "--wheelhouse /w" in r.stdout, r.stderr
    r = subprocess.run(["make", "-n", "wheelhouse", "PYTHON_VERSION=3.12", "WHEELHOUSE=/w"], cwd=ROOT,
                       capture_output=True, text=True)
    assert "tools/wheelhouse.py --out /w --python-version 3.12" in r.stdout, r.stderr


def test_closure_ships_what_the_target_lacks_or_has_too_old(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "app", "1.0", {"app/__init__.py": b""}, ["lib>=2", "base", "hub<1.0", "gone; extra == 'x'"])
    make_wheel(index, "lib", "2.5", {"lib/__init__.py": b""}, ["tiny"])
    make_wheel(index, "hub", "0.35.3", {"hub/__init__.py": b""})
    make_wheel(index, "tiny", "0.1", {"tiny/__init__.py": b""})
    make_wheel(index, "solo", "3.0", {"solo/__init__.py": b""}, ["never-followed"])

    def fake_download(python, dest, reqs, *args, **kw):
        for req in reqs:
            name, spec, _ = wh.parse_requirement(req)
            found = [w for w in index.glob("*.whl") if wh.wheel_name_version(w.name)[0] == name
                     and wh.version_matches(wh.wheel_name_version(w.name)[1], spec)]
            assert found, req
            (dest / found[0].name).write_bytes(found[0].read_bytes())

    monkeypatch.setattr(wh, "pip_download", fake_download)
    monkeypatch.setattr(wh, "NO_DEPS", {"solo"})
    present = {"base": None, "hub": "1.33.0", "lib": "1.0"}
    stage = tmp_path / "stage"
    stage.mkdir()
    r = wh.closure("python3", stage, {"app": "==1.0", "solo": ""}, present, set(), "3.12", "2.28")
    assert r["shipped"] == {"app": "1.0", "hub": "0.35.3", "lib": "2.5", "tiny": "0.1", "solo": "3.0"}
    assert r["assumed_compatible"] == {"base": ""} and r["conflicts"] == []
    stage2 = tmp_path / "stage2"
    stage2.mkdir()  # the target's own build of lib is preferred: kept, and the clash is reported
    r = wh.closure("python3", stage2, {"app": "==1.0"}, present, {"hub"}, "3.12", "2.28", prefer={"lib"})
    assert set(r["shipped"]) == {"app"} and r["excluded"] == {"hub": "<1.0"}
    assert sorted(r["conflicts"]) == ["app needs hub<1.0, gets 1.33.0", "app needs lib>=2, gets 1.0"]
