"""Write a whole output directory atomically (demos, BC weights, residual exports)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_directory(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty hidden sibling `.<out>.tmp-<pid>` to write into. On success it becomes
    `out` (an existing `out`, allowed only with `force`, is swapped out and then removed); on
    any error it is removed and `out` is left as it was. A killed process leaves only the hidden
    directory behind, never a partial `out`."""
    out = Path(out).resolve()
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists: pass --force to replace it (nothing was written)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        yield tmp
        if out.exists():
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
