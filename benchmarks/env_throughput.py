"""Throughput of the SO-101 paper_return MJX env (impl "jax" and "warp") vs MuJoCo's C rollout.

What it measures, per (impl, num_envs):
  * env steps/s = num_envs * steps / seconds, where one env step is one 30 Hz control step
    (`env.n_substeps` physics steps: 12 at the scene's 360 Hz), and physics steps/s = env
    steps/s * n_substeps. `--sim-dt` adds rows at other physics steps (e.g. 1/240 s: the
    contact model's cost without the change of rate; solref is floored at 2 steps there).
    The timed call is one jitted `jax.lax.scan` of `--steps` vmapped `env.step` calls with
    uniform random actions in [-1, 1] drawn inside the scan, so Python dispatch is not timed.
    It includes the env's reward/observation/DR work, not only physics. No auto-reset: envs that
    finish keep stepping. Median of `--repeats` timings after one warm-up call.
  * compile s: `jit(...).lower(...).compile()` of that scan (a persistent JAX compilation cache,
    e.g. JAX_COMPILATION_CACHE_DIR set by `make bench`, makes it small; recorded in the JSON).
    The JSON's first_call_s is the untimed warm-up call (warp builds uncached kernels there).
  * peer: the same MJCF (`scene.load_mj_model(sim_dt)`) stepped by `mujoco.rollout` (C, nthread
    = os.cpu_count()) from num_envs initial states for steps * n_substeps physics steps, controls
    held for n_substeps physics steps (a random walk of joint targets, like the env's actions);
    physics only. Reported in control-step units so the ratio column compares like units.
  * on CPU, jax at 64 envs in two subprocesses: XLA flag --xla_cpu_use_fusion_emitters=false
    (what mjx_env sets) vs =true (XLA's default), to check the flag still pays.

Run: `make bench` (= `python -m benchmarks.env_throughput`), or e.g.
  python -m benchmarks.env_throughput --impls jax --num-envs 64 256 --steps 50
Writes benchmarks/results/env_throughput_<cpu|gpu>.json (override with --out) and prints a table.
"""
from __future__ import annotations

import sys
from pathlib import Path

import mjx_env  # noqa: E402,F401  (sets the XLA CPU flag before JAX starts; must come first)

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import time

import jax
import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from mjx_env.config import EnvConfig
from mjx_env.paper_return import make
from mjx_env.scene import ARM_JOINTS, load_mj_model, qpos_index

ROOT = Path(__file__).resolve().parent
SIM_DT = EnvConfig().sim_dt  # s, the product's physics step
DEFAULT_NUM_ENVS = {"cpu": {"jax": [16, 64, 256], "warp": [16, 64, 256]},
                    "gpu": {"jax": [256, 1024, 4096, 8192], "warp": [256, 1024, 4096, 8192]}}
FLAG_OFF, FLAG_ON = "--xla_cpu_use_fusion_emitters=false", "--xla_cpu_use_fusion_emitters=true"
NOTES: list[str] = []


def _substeps(sim_dt: float) -> int:
    return int(round(EnvConfig().ctrl_dt / sim_dt))


def bench_mjx(impl: str, num_envs: int, steps: int, repeats: int, seed: int = 0,
              sim_dt: float = SIM_DT) -> dict:
    """Compile and time `steps` control steps of `num_envs` envs in one jitted scan."""
    row = {"impl": impl, "num_envs": num_envs, "steps": steps, "sim_dt": sim_dt,
           "n_substeps": _substeps(sim_dt)}
    try:
        env = make(impl=impl, sim_dt=sim_dt)
        step = env.step

        def run(state, key):
            def body(carry, _):
                s, k = carry
                k, k_act = jax.random.split(k)
                action = jax.random.uniform(k_act, (num_envs, 6), minval=-1.0, maxval=1.0)
                return (step(s, action), k), None
            return jax.lax.scan(body, (state, key), None, length=steps)[0]

        key, k_reset = jax.random.split(jax.random.PRNGKey(seed))
        state = jax.block_until_ready(
            jax.jit(env.reset)(jax.random.split(k_reset, num_envs)))
        t0 = time.perf_counter()
        compiled = jax.jit(run).lower(state, key).compile()
        row["compile_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()  # warm-up; warp may build its CPU kernels lazily here
        state, key = jax.block_until_ready(compiled(state, key))
        row["first_call_s"] = time.perf_counter() - t0
        times_s = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            state, key = jax.block_until_ready(compiled(state, key))
            times_s.append(time.perf_counter() - t0)
        row["nan_physics_frac"] = float(np.mean(np.asarray(state.metrics["nan_physics"])))
        return _rates(row, times_s, num_envs, steps)
    except Exception as e:  # noqa: BLE001 (a failing impl is recorded, the others go on)
        row["error"] = f"{type(e).__name__}: {e}"[:2000]
        return row


def bench_c_rollout(num_envs: int, steps: int, repeats: int, seed: int = 0,
                    sim_dt: float = SIM_DT) -> dict:
    """The same MJCF in MuJoCo C (`mujoco.rollout`, os.cpu_count() threads), physics only."""
    nthread = os.cpu_count() or 1
    substeps = _substeps(sim_dt)
    row = {"impl": "c_rollout", "num_envs": num_envs, "steps": steps, "nthread": nthread,
           "sim_dt": sim_dt, "n_substeps": substeps}
    try:
        m = load_mj_model(sim_dt)
        rng = np.random.default_rng(seed)
        arm = np.array([qpos_index(m, j) for j in ARM_JOINTS])
        lo, hi = m.jnt_range[[m.joint(j).id for j in ARM_JOINTS]].T
        home = np.asarray(EnvConfig().home_qpos)
        d = mujoco.MjData(m)
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        init = np.empty((num_envs, mujoco.mj_stateSize(m, spec)))
        q0 = np.clip(home + rng.uniform(-0.05, 0.05, (num_envs, 6)), lo, hi)
        for i in range(num_envs):  # arm near home (as env.reset), paper at its qpos0 pose
            mujoco.mj_resetData(m, d)
            d.qpos[arm] = q0[i]
            mujoco.mj_forward(m, d)
            mujoco.mj_getState(m, d, init[i], spec)
        # Joint-target random walk with the env's per-step scale (alpha 0.7 * 0.05 rad), held
        # for substeps physics steps, as env.step does with uniform random actions.
        walk = np.cumsum(0.035 * rng.uniform(-1, 1, (num_envs, steps, 6)), axis=1)
        ctrl = np.repeat(np.clip(q0[:, None, :] + walk, lo, hi), substeps, axis=1)
        nstep = steps * substeps
        out_state = np.empty((num_envs, nstep, init.shape[1]))
        out_sensor = np.empty((num_envs, nstep, m.nsensordata))
        datas = [mujoco.MjData(m) for _ in range(nthread)]
        with mj_rollout.Rollout(nthread=nthread) as r:
            call = lambda: r.rollout(m, datas, init, ctrl, nstep=nstep, state=out_state,  # noqa: E731
                                     sensordata=out_sensor)
            call()  # warm-up
            times_s = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                call()
                times_s.append(time.perf_counter() - t0)
        row["nan_physics_frac"] = float(np.mean(~np.isfinite(out_state[:, -1]).all(axis=1)))
        return _rates(row, times_s, num_envs, steps)
    except Exception as e:  # noqa: BLE001
        row["error"] = f"{type(e).__name__}: {e}"[:2000]
        return row


def _rates(row: dict, times_s: list[float], num_envs: int, steps: int) -> dict:
    row["seconds_all"] = times_s
    row["seconds_median"] = sec = statistics.median(times_s)
    row["env_steps_per_s"] = num_envs * steps / sec
    row["physics_steps_per_s"] = row["env_steps_per_s"] * row["n_substeps"]
    return row


def flag_check(steps: int, repeats: int) -> list[dict]:
    """jax at 64 envs in fresh subprocesses with the fusion-emitter flag off (=mjx_env) and on."""
    rows = []
    for label, flags in (("fusion_emitters_off", FLAG_OFF), ("fusion_emitters_on", FLAG_ON)):
        cmd = [sys.executable, "-m", "benchmarks.env_throughput", "--single", "jax:64", "--steps",
               str(steps), "--repeats", str(repeats)]
        proc = subprocess.run(cmd, env={**os.environ, "XLA_FLAGS": flags}, cwd=ROOT.parent,
                              capture_output=True, text=True)
        try:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            row = {"impl": "jax", "num_envs": 64, "steps": steps,
                   "error": f"subprocess rc={proc.returncode}: {proc.stderr[-1500:]}"}
        row.update(impl=f"jax[{label}]", subprocess_xla_flags=flags)
        rows.append(row)
    return rows


def command() -> str:
    """The command line that is running: `python -m <the __main__ module> <args>` (the script's
    path where it was not run with -m)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = ["-m", spec.name] if spec is not None else [sys.argv[0]]
    return shlex.join([sys.executable, *program, *sys.argv[1:]])


def metadata() -> dict:
    def version(pkg: str) -> str | None:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    dev = jax.devices()[0]
    return {
        "command": command(),
        "device": {"device_kind": dev.device_kind, "platform": dev.platform, "cpu_model": cpu,
                   "cpu_count": os.cpu_count()},
        "versions": {p: version(p) for p in ("jax", "jaxlib", "mujoco", "mujoco-mjx", "warp-lang",
                                             "numpy")} | {"python": platform.python_version()},
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "jax_compilation_cache_dir": os.environ.get("JAX_COMPILATION_CACHE_DIR"),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def scene_settings() -> dict:
    """Solver and contact settings of the scene the rows ran (README "Contact")."""
    m = load_mj_model(SIM_DT)
    return {"iterations": int(m.opt.iterations), "ls_iterations": int(m.opt.ls_iterations),
            "cone": "pyramidal" if m.opt.cone == 0 else "elliptic", "impratio": float(m.opt.impratio),
            "contact_pairs": int(m.npair), "sim_dt": SIM_DT,
            "pair_solref": m.pair_solref[0].tolist(), "pair_solimp": m.pair_solimp[0].tolist()}


def print_table(rows: list[dict]) -> None:
    peer = {(r["num_envs"], r.get("sim_dt")): r.get("env_steps_per_s")
            for r in rows if r["impl"] == "c_rollout"}
    print(f"{'impl':<26}{'physics Hz':>11}{'num_envs':>9}{'env steps/s':>14}{'physics steps/s':>17}"
          f"{'compile s':>11}{'vs C':>8}")
    for r in rows:
        hz = f"{1 / r['sim_dt']:.0f}" if r.get("sim_dt") else "-"
        if "error" in r:
            print(f"{r['impl']:<26}{hz:>11}{r['num_envs']:>9}  FAILED: {r['error'][:80]}")
            continue
        c = peer.get((r["num_envs"], r.get("sim_dt")))
        r["ratio_vs_c"] = r["env_steps_per_s"] / c if c and r["impl"] != "c_rollout" else None
        ratio = f"{r['ratio_vs_c']:.3f}" if r["ratio_vs_c"] is not None else "-"
        comp = f"{r['compile_s']:.1f}" if "compile_s" in r else "-"
        print(f"{r['impl']:<26}{hz:>11}{r['num_envs']:>9}{r['env_steps_per_s']:>14.1f}"
              f"{r['physics_steps_per_s']:>17.1f}{comp:>11}{ratio:>8}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-envs", type=int, nargs="+", help="default: per device and impl")
    p.add_argument("--impls", nargs="+", default=["jax", "warp"], choices=["jax", "warp"])
    p.add_argument("--steps", type=int, help="timed control steps (default 20 CPU, 200 GPU)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls; the median is reported")
    p.add_argument("--out", type=Path, help="default benchmarks/results/env_throughput_<dev>.json")
    p.add_argument("--no-peer", action="store_true", help="skip the MuJoCo C rollout peer")
    p.add_argument("--skip-flag-check", action="store_true", help="skip the XLA flag comparison")
    p.add_argument("--sim-dt", type=float, nargs="+", default=[SIM_DT],
                   help=f"physics steps to run, s (default {SIM_DT:.6f}, the scene's)")
    p.add_argument("--single", help=argparse.SUPPRESS)  # "impl:num_envs" -> one JSON line
    a = p.parse_args()
    dev = "gpu" if jax.default_backend() == "gpu" else "cpu"
    steps = a.steps or (200 if dev == "gpu" else 20)
    if a.single:
        impl, n = a.single.split(":")
        print(json.dumps(bench_mjx(impl, int(n), steps, a.repeats, sim_dt=a.sim_dt[0])))
        return
    env_counts = {i: a.num_envs or DEFAULT_NUM_ENVS[dev][i] for i in a.impls}
    rows = []
    for dt in a.sim_dt:
        if not a.no_peer:
            for n in sorted({n for ns in env_counts.values() for n in ns}):
                rows.append(bench_c_rollout(n, steps, a.repeats, sim_dt=dt))
                print(f"c_rollout {n} dt {dt:.6f}: "
                      f"{rows[-1].get('env_steps_per_s', rows[-1].get('error'))}", flush=True)
        for impl in a.impls:
            for n in env_counts[impl]:
                rows.append(bench_mjx(impl, n, steps, a.repeats, sim_dt=dt))
                print(f"{impl} {n} dt {dt:.6f}: "
                      f"{rows[-1].get('env_steps_per_s', rows[-1].get('error'))}", flush=True)
    if dev == "cpu" and not a.skip_flag_check:
        rows += flag_check(steps, a.repeats)
    print_table(rows)
    result = metadata() | {"steps": steps, "repeats": a.repeats, "sim_dt": a.sim_dt,
                           "scene": scene_settings(), "num_envs": env_counts, "notes": NOTES,
                           "rows": rows}
    out = a.out or ROOT / "results" / f"env_throughput_{dev}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
