"""Which test compiles what: a pytest plugin that records every XLA compilation of the suite
(JAX's persistent cache: a write is a program compiled, a hit a program loaded), and a summary.

    rm -rf /tmp/census /tmp/census_cache
    COMPILE_CENSUS=/tmp/census JAX_COMPILATION_CACHE_DIR=/tmp/census_cache \\
        .venv/bin/python -m pytest -p tools.compile_census -n 2 --dist loadfile --no-loadscope-reorder
    python3 tools/compile_census.py /tmp/census      # seconds compiled per test and per program

Start from an empty cache: a program found there is not compiled and not counted. Programs
compiled in subprocesses the tests start (test_distributed, test_sharding, the GPU suite's
smoke run) are not recorded. One JSON line per event in `<dir>/<xdist worker>.jsonl`: `ev`
(read/write), `module`, `key` (the cache key), `hit`, `compile_s`, `test` (node id).
The summary imports nothing but the stdlib; the plugin needs jax.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path

_current = {"test": None}


def _recorder(out_dir: Path):
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl"
    f = path.open("a")

    def record(**event):
        f.write(json.dumps({**event, "test": _current["test"]}) + "\n")
        f.flush()
    return record


def pytest_configure(config):
    """Wrap jax's cache read and write (jax._src.compiler, jax 0.10) to record each event."""
    out = os.environ.get("COMPILE_CENSUS")
    if not out:
        raise SystemExit("tools.compile_census: set COMPILE_CENSUS=<dir> (where to write the events)")
    from jax._src import compiler
    record = _recorder(Path(out))
    read, write = compiler._cache_read, compiler._cache_write

    def cache_read(module_name, cache_key, *args, **kwargs):
        executable, seconds = read(module_name, cache_key, *args, **kwargs)
        record(ev="read", module=module_name, key=cache_key, hit=executable is not None)
        return executable, seconds

    def cache_write(cache_key, compile_time_secs, module_name, *args, **kwargs):
        record(ev="write", module=module_name, key=cache_key, compile_s=compile_time_secs)
        return write(cache_key, compile_time_secs, module_name, *args, **kwargs)

    compiler._cache_read, compiler._cache_write = cache_read, cache_write


def pytest_runtest_logstart(nodeid, location):
    _current["test"] = nodeid


def summary(events: list[dict], top: int = 30) -> str:
    """Seconds compiled per test and per module name; keys compiled more than once."""
    writes = [e for e in events if e["ev"] == "write"]
    total = sum(e["compile_s"] for e in writes)
    per_test, per_module = collections.Counter(), collections.defaultdict(lambda: [0, 0.0])
    for e in writes:
        per_test[e["test"]] += e["compile_s"]
        per_module[e["module"]][0] += 1
        per_module[e["module"]][1] += e["compile_s"]
    by_key = collections.defaultdict(list)
    for e in writes:
        by_key[e["key"]].append(e["compile_s"])
    again = sum(sum(s) - s[0] for s in by_key.values())  # every compilation after the first
    lines = [f"{total:.0f} s compiling, {len(writes)} programs, {len(per_test)} tests; "
             f"{again:.0f} s on programs compiled more than once", "", "seconds  test"]
    lines += [f"{s:7.1f}  {t}" for t, s in per_test.most_common(top)]
    lines += ["", "seconds  programs  module"]
    lines += [f"{v[1]:7.1f}  {v[0]:8d}  {m}"
              for m, v in sorted(per_module.items(), key=lambda kv: -kv[1][1])[:top]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Summarise a compile census (see the module docstring).")
    p.add_argument("dir", type=Path, help="the COMPILE_CENSUS directory")
    p.add_argument("--top", type=int, default=30, help="rows per table (default 30)")
    args = p.parse_args(argv)
    files = sorted(args.dir.glob("*.jsonl"))
    if not files:
        print(f"no *.jsonl in {args.dir}: run the suite with the plugin first", file=sys.stderr)
        return 1
    events = [json.loads(line) for f in files for line in f.read_text().splitlines() if line]
    print(summary(events, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
