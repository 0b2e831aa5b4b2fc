"""The deploy loop (python -m deploy) against the simulated robot: success with the sheet's true
pose vs the pose estimated from the top camera, scripted base alone and with an exported residual,
over fixed reset seeds; loop timing. Writes benchmarks/results/deploy_sim_cpu.json.

    MUJOCO_GL=egl .venv/bin/python -m benchmarks.deploy_sim --residual exports/scripted-40
    .venv/bin/python -m benchmarks.deploy_sim --episodes 4 --out /tmp/d.json   # quick look

Each episode: SimRobot (one MJX env, impl="jax", domain randomisation on as in training) reset
with key PRNGKey(seed); the loop reads joints in LeRobot degrees and a 224 px top-camera frame
(the project's MJX Warp renderer), estimates the pose (perception.estimate) or takes the true
one, builds the observation (finite-difference joint velocities, fingertip from forward
kinematics), runs the base (+ residual), rate-limits to the servo model and sends degrees. The
episode ends at the env's success / failure or after 300 steps. Success is the env's; plausible
success also needs every step plausible (arm depth <= 3 mm, sheet lift <= 3 mm:
mjx_env.plausibility). The missed-deadline stop is off here (the CPU is shared; misses are
counted), every other safety stop is on with the CLI's defaults. Reference row "env": the
scripted expert on the env's privileged observation, same seeds, no deploy loop.
"""
from __future__ import annotations

import argparse
import collections
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)


def wilson(k: int, n: int) -> dict:
    from mjx_env.outcome import wilson_interval

    lo, hi = wilson_interval(int(k), int(n))
    return {"rate": float(k / n), "ci95": [float(lo), float(hi)], "count": int(k), "episodes": int(n)}


def summarise(rows: list[dict], reports: list) -> dict:
    """Rates with Wilson 95% CIs, plausibility, stops, timing and in-loop pose error."""
    step = np.concatenate([r.step_ms for r in reports]) if reports else np.zeros(0)
    comp = np.concatenate([r.compute_ms for r in reports]) if reports else np.zeros(0)
    pct = lambda x, q: float(np.percentile(x, q)) if len(x) else None  # noqa: E731
    n = len(rows)
    out = {
        "success": wilson(sum(r["success"] for r in rows), n),
        "plausible_success": wilson(sum(r["plausible_success"] for r in rows), n),
        "steps_median": float(np.median([r["steps"] for r in rows])),
        "arm_depth_max_m": max(r["arm_depth_max"] for r in rows),
        "paper_lift_max_m": max(r["paper_lift_max"] for r in rows),
        "stops": dict(collections.Counter(r["stop"].split(":")[0] if "safety" not in r["stop"]
                                          else r["stop"].split(" (")[0] for r in rows)),
        "max_target_gap_deg": max(r["max_gap_deg"] for r in rows),
        "controller_ms": {"mean": float(comp.mean()) if len(comp) else None, "p95": pct(comp, 95)},
        "step_ms": {"mean": float(step.mean()) if len(step) else None, "p95": pct(step, 95)},
        "missed_deadlines": {"controller_over_period": int((comp > 1000 / 30).sum()),
                             "step_over_period": int((step > 1000 / 30).sum()), "steps": int(len(step))},
        "failed_seeds": [r["seed"] for r in rows if not r["plausible_success"]],
    }
    errs = [r for r in rows if len(r["pose_errors"])]
    if errs:
        e = np.concatenate([r["pose_errors"] for r in errs])
        out["pose_error_in_loop"] = {"frames": int(len(e)), "mm_mean": float(e[:, 0].mean()),
                                     "mm_p95": pct(e[:, 0], 95), "deg_mean": float(e[:, 1].mean()),
                                     "deg_p95": pct(e[:, 1], 95)}
    return out


def run_condition(env, robot, base: str, residual, pose: str, seeds, residual_policy=None):
    from deploy.config import LoopConfig, SafetyConfig
    from deploy.loop import run
    from deploy.session import Parts, Session

    session = Session(Parts(base, residual), env, residual=residual_policy)
    config = LoopConfig(realtime=False, pose=pose, safety=SafetyConfig(max_missed=10**9))
    rows, reports = [], []
    for seed in seeds:
        robot.seed, robot.render = seed, pose == "camera"
        robot.connect()
        controller = session.controller(config, truth=robot.true_pose)
        report = run(robot, controller, config, log=lambda s: None)
        rows.append({**robot.result(), "steps": report.steps, "seed": seed, "stop": report.stop,
                     "max_gap_deg": report.max_gap_deg,
                     "pose_errors": np.array(controller.pose_errors).reshape(-1, 2)})
        reports.append(report)
        print(f"  {base}{'+residual' if residual else ''} {pose} seed {seed}: success "
              f"{rows[-1]['plausible_success']:.0f} in {rows[-1]['steps']} steps; {report.stop}", flush=True)
    session.close()
    return summarise(rows, reports)


def env_reference(env, seeds) -> dict:
    """The scripted expert on the env's own (privileged) observation, same reset keys."""
    import jax
    import jax.numpy as jp

    from mjx_env.expert import ScriptedExpert
    from mjx_env.paper_return import set_base

    expert = ScriptedExpert(env)
    step = jax.jit(lambda s: env.step(set_base(s, expert(s)), jp.zeros(6)))
    reset = jax.jit(env.reset)
    rows = []
    for seed in seeds:
        s = reset(jax.random.PRNGKey(seed))
        for t in range(env.config.episode_length):
            s = step(s)
            if s.done > 0:
                break
        rows.append((float(s.metrics["success"]), float(s.metrics["plausible_success"]), t + 1))
    n = len(rows)
    return {"success": wilson(sum(r[0] for r in rows), n),
            "plausible_success": wilson(sum(r[1] for r in rows), n),
            "steps_median": float(np.median([r[2] for r in rows]))}


def residual_source(path: str) -> dict:
    m = json.loads((Path(path) / "manifest.json").read_text())
    t = m.get("training_config", {})
    return {"dir": str(path), "base": m["base_policy"]["name"], "source": m["source"],
            "num_envs": t.get("ppo", {}).get("num_envs"), "iterations": t.get("run", {}).get("iterations"),
            "hidden": m["network"]["hidden"]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--residual", required=True, help="export dir of a residual trained on the scripted base")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--seed", type=int, default=100, help="first reset seed (seeds seed..seed+episodes-1)")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/deploy_sim_cpu.json"))
    args = p.parse_args(argv)
    import jax

    from deploy.session import load_residual
    from deploy.sim_robot import SimRobot
    from mjx_env.paper_return import make

    t0 = time.perf_counter()
    env = make(impl="jax")
    robot = SimRobot(env)
    seeds = list(range(args.seed, args.seed + args.episodes))
    policy = load_residual(args.residual)
    results = {"env": env_reference(env, seeds)}
    print("env reference:", results["env"]["plausible_success"], flush=True)
    for residual in (None, args.residual):
        for pose in ("truth", "camera"):
            name = f"scripted{'+residual' if residual else ''}/{pose}"
            results[name] = run_condition(env, robot, "scripted", residual, pose, seeds,
                                          policy if residual else None)
            print(name, results[name]["plausible_success"], flush=True)
    versions = {k: importlib.metadata.version(k) for k in ("jax", "jaxlib", "mujoco", "mujoco-mjx",
                                                           "warp-lang", "numpy", "opencv-python-headless")}
    out = {"device": f"CPU: {platform.processor() or platform.machine()} ({__import__('os').cpu_count()} cores, "
                     "shared with two other engineers' runs)",
           "backend": jax.default_backend(), "versions": {**versions, "python": platform.python_version()},
           "command": " ".join(["MUJOCO_GL=egl .venv/bin/python -m benchmarks.deploy_sim", *(argv or sys.argv[1:])]),
           "seeds": seeds, "episode_length": env.config.episode_length, "render_size": 224,
           "domain_randomisation": "on (training defaults)", "residual": residual_source(args.residual),
           "safety": "defaults (max step 30 deg, 10 pose misses), missed-deadline stop off (counted)",
           "results": results, "wall_s": time.perf_counter() - t0}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out} in {out['wall_s']:.0f} s")
    return out


if __name__ == "__main__":
    main()
