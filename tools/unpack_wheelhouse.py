"""Puts a wheelhouse archive written by `tools/wheelhouse.py --split` back together and installs it.

    python3 tools/unpack_wheelhouse.py DIR [DIR ...] --target /tmp/site
        the parts (wheelhouse.tar.xz.partNN) and wheelhouse.manifest.json, found in the DIRs
        (and in --into, where earlier calls stashed parts): checks each part's size and sha256
        and the whole archive's against the manifest, unpacks the wheels, checks each wheel's
        sha256, and runs `python -m pip install --no-index --no-deps --no-compile --upgrade
        --target TARGET` on them. Then `export PYTHONPATH=TARGET` puts them first on sys.path.
    python3 tools/unpack_wheelhouse.py --stash PART [PART ...] --into /tmp/wh
        copies parts (and the manifest beside them, if there is one) into a folder that outlasts
        the call, for parts that arrive in separate calls; the last call assembles with
        `... DIR --into /tmp/wh --target /tmp/site`.

Options: --wheels DIR (keep the unpacked wheels there; default a temporary folder),
--no-install (check and unpack only), --python (the interpreter whose pip installs; default
this one). Standard library only. Exit status 0 when everything checked and installed, 2 on a
missing or damaged part (the message names it), pip's own status when pip fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ARCHIVE = "wheelhouse.tar.xz"
MANIFEST = "wheelhouse.manifest.json"


class UnpackError(RuntimeError):
    """A part or the manifest is missing or damaged; the message says which."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_manifest(dirs: list[Path]) -> Path:
    for d in dirs:
        if (d / MANIFEST).is_file():
            return d / MANIFEST
    raise UnpackError(f"no {MANIFEST} in {', '.join(map(str, dirs))}")


def stash(parts: list[Path], into: Path) -> int:
    """Copies `parts` (and a manifest beside them) into `into`, checking each part against the
    manifest where one is at hand; says which parts are still missing."""
    into.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if not part.is_file():
            raise UnpackError(f"{part}: no such file")
        man = part.parent / MANIFEST
        if man.is_file():
            shutil.copy2(man, into / MANIFEST)
        shutil.copy2(part, into / part.name)
        print(f"stashed {part.name} ({part.stat().st_size} bytes) in {into}", flush=True)
    if (into / MANIFEST).is_file():
        manifest = json.loads((into / MANIFEST).read_text())
        known = {p["name"]: p for p in manifest["parts"]}
        for part in parts:
            entry = known.get(part.name)
            if entry is None:
                raise UnpackError(f"{part.name} is not a part named in {MANIFEST}")
            check_part(into / part.name, entry)
        missing = [n for n in known if not (into / n).is_file()]
        print(f"{len(known) - len(missing)} of {len(known)} parts in {into}"
              + (f"; still missing: {', '.join(missing)}" if missing else "; all there"))
    return 0


def check_part(path: Path, entry: dict) -> None:
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise UnpackError(f"{path.name}: {size} bytes, the manifest says {entry['bytes']}")
    if sha256_file(path) != entry["sha256"]:
        raise UnpackError(f"{path.name}: sha256 differs from the manifest's (damaged copy)")


def locate_parts(manifest: dict, dirs: list[Path]) -> list[Path]:
    """The manifest's parts in order, each from the first DIR that has it; checked."""
    found, missing = [], []
    for entry in manifest["parts"]:
        path = next((d / entry["name"] for d in dirs if (d / entry["name"]).is_file()), None)
        if path is None:
            missing.append(entry["name"])
            continue
        check_part(path, entry)
        found.append(path)
    if missing:
        raise UnpackError(f"missing part(s) {', '.join(missing)} (looked in "
                          f"{', '.join(map(str, dirs))}): stash each with --stash PART --into DIR")
    return found


class Joined:
    """A read-only stream over the parts, one after the other, hashing what it reads."""

    def __init__(self, paths: list[Path]):
        self.paths = list(paths)
        self.f = None
        self.hash = hashlib.sha256()
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        out = []
        while n != 0:
            if self.f is None:
                if not self.paths:
                    break
                self.f = open(self.paths.pop(0), "rb")
            chunk = self.f.read(n if n > 0 else 1 << 20)
            if not chunk:
                self.f.close()
                self.f = None
                continue
            out.append(chunk)
            if n > 0:
                n -= len(chunk)
        data = b"".join(out)
        self.hash.update(data)
        self.total += len(data)
        return data


def unpack(manifest: dict, parts: list[Path], wheels_dir: Path) -> list[Path]:
    """Decompresses the joined parts into `wheels_dir`; checks the archive's and each wheel's
    sha256 against the manifest. Returns the wheel paths."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    joined = Joined(parts)
    expected = {w["file"]: w for w in manifest["wheels"]}
    with lzma.open(joined, "rb") as xz, tarfile.open(fileobj=xz, mode="r|") as tar:
        for member in tar:
            name = Path(member.name).name
            if not member.isfile() or name != member.name or name not in expected:
                raise UnpackError(f"unexpected archive member {member.name!r}")
            with tar.extractfile(member) as src, open(wheels_dir / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        while xz.read(1 << 20):  # the tar's zero padding, and xz's own end checks
            pass
    while joined.read(1 << 20):  # anything after the xz stream counts too
        pass
    if joined.hash.hexdigest() != manifest["archive_sha256"] or joined.total != manifest["archive_bytes"]:
        raise UnpackError("the joined parts differ from the archive the manifest describes")
    out = []
    for file, entry in expected.items():
        path = wheels_dir / file
        if not path.is_file():
            raise UnpackError(f"{file} is named in the manifest but not in the archive")
        if sha256_file(path) != entry["sha256"]:
            raise UnpackError(f"{file}: sha256 differs from the manifest's")
        out.append(path)
    return out


def install(python: str, wheels: list[Path], target: Path) -> int:
    cmd = [python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
           "--no-cache-dir", "--disable-pip-version-check", "--upgrade", "--target", str(target),
           *map(str, wheels)]
    print(f"+ {python} -m pip install --no-index --no-deps --no-compile --upgrade --target {target} "
          f"({len(wheels)} wheels)", flush=True)
    return subprocess.run(cmd).returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="*", type=Path, help="folders holding parts and the manifest")
    p.add_argument("--stash", nargs="+", type=Path, metavar="PART", help="copy these parts into --into")
    p.add_argument("--into", type=Path, help="the folder where parts are stashed (and also looked for)")
    p.add_argument("--target", type=Path, help="pip install --target this folder")
    p.add_argument("--wheels", type=Path, help="unpack the wheels here (default: a temporary folder)")
    p.add_argument("--no-install", action="store_true", help="check and unpack only")
    p.add_argument("--python", default=sys.executable, help="the Python whose pip installs")
    args = p.parse_args(argv)
    try:
        if args.stash:
            if args.into is None:
                p.error("--stash needs --into DIR")
            return stash(args.stash, args.into)
        dirs = list(args.dirs) + ([args.into] if args.into else [])
        if not dirs:
            p.error("name the folder(s) with the parts")
        if args.target is None and not args.no_install:
            p.error("--target DIR is needed (or --no-install)")
        manifest = json.loads(find_manifest(dirs).read_text())
        parts = locate_parts(manifest, dirs)
        print(f"{len(parts)} parts checked ({sum(q['bytes'] for q in manifest['parts'])} bytes)", flush=True)
        with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
            wheels_dir = args.wheels or Path(tmp)
            wheels = unpack(manifest, parts, wheels_dir)
            print(f"{len(wheels)} wheels unpacked and checked in {wheels_dir}", flush=True)
            if args.no_install:
                return 0
            rc = install(args.python, wheels, args.target)
            if rc != 0:
                print(f"unpack_wheelhouse: error: pip exited {rc}", file=sys.stderr)
                return rc
        print(f"installed into {args.target}: export PYTHONPATH={args.target}")
        return 0
    except (UnpackError, lzma.LZMAError, tarfile.TarError, OSError, json.JSONDecodeError, KeyError) as e:
        print(f"unpack_wheelhouse: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
