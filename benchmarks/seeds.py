"""How reliably do the defaults learn? N seeds (x hyperparameter values) side by side in one jit.

`ppo.train.make_train`'s agent, `jax.vmap`ped over seeds and over the values of one float
hyperparameter (`--sweep ent_coef=0.003,0.01`), run in chunks of `--chunk` iterations so the
curves have wall-clock times (compilation excluded, reported apart). Then each run's final
policy is evaluated on `--eval-episodes` fixed-seed deterministic episodes (the same episodes
for every run), and the base alone once. Reports, per run and as mean with a 95% CI over
seeds: success and plausible success (Wilson CIs per run), the env steps and wall-clock at
which the training curve first reaches 80% plausible success, arm depth / sheet lift p95 and
max, and env steps/s. Writes benchmarks/results/<name>.json and <name>.png (mean and 95% CI
of the training plausible success against env steps and wall-clock).

    python -m benchmarks.seeds                                   # CPU: 2 seeds, a few minutes
    python -m benchmarks.seeds --seeds 3 --name learning_gpu     # GPU: the defaults, 3 seeds
    python -m benchmarks.seeds --seeds 2 --sweep ent_coef=0.003,0.01 --iterations 100
"""
from __future__ import annotations

import sys
from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag first)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from importlib import metadata  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats as sps  # noqa: E402

from ppo.agent import HPARAMS, hparams  # noqa: E402
from ppo.config import CPU_DEFAULTS, PPOConfig  # noqa: E402
from ppo.evaluate import (TARGET, episode_window, evaluate_base, first_crossing, summary,  # noqa: E402
                          windowed_rate)
from ppo.config import TrainConfig, with_values  # noqa: E402
from ppo.train import CPU_ITERATIONS, GPU_ITERATIONS, build, make_train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "warp-lang", "flax", "optax")


def mean_ci(values, lo=-np.inf, hi=np.inf) -> dict:
    """Mean and 95% Student-t CI over runs, clipped to [lo, hi] (None where fewer than 2 finite
    values)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return {"mean": None, "ci95": None, "n": 0}
    if len(v) < 2:
        return {"mean": float(v.mean()), "ci95": None, "n": 1}
    half = sps.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return {"mean": float(v.mean()), "ci95": [float(max(lo, v.mean() - half)),
                                              float(min(hi, v.mean() + half))], "n": len(v)}


def first_reach(curve: np.ndarray, env_steps: np.ndarray, wall: np.ndarray) -> dict | None:
    """Env steps and wall-clock (s) of the first iteration whose windowed training plausible
    success (`ppo.evaluate.windowed_rate`) is >= TARGET; None if never."""
    i = first_crossing(curve)
    if i is None:
        return None
    return {"iteration": i + 1, "env_steps": int(env_steps[i]), "wall_s": float(wall[i])}


def parse_sweep(text: str | None) -> tuple[str | None, list[float]]:
    if not text:
        return None, [None]
    name, _, values = text.partition("=")
    if name not in HPARAMS or not values:
        raise SystemExit(f"--sweep NAME=v1,v2 with NAME one of {HPARAMS}; got {text!r}")
    return name, [float(v) for v in values.split(",")]


def train_side_by_side(args, cfg: TrainConfig, sweep_name, sweep_values):
    """Train every (seed, value) pair at once; returns agent, final states and curves."""
    run, ppo = cfg.run, cfg.ppo
    runs = [(s, v) for v in sweep_values for s in range(args.seeds)]
    agent, _ = make_train(cfg, copies=len(runs))
    keys = jp.stack([jax.random.PRNGKey(s) for s, _ in runs])
    hp = jax.tree.map(lambda *x: jp.stack(x), *[
        hparams(ppo, **({sweep_name: v} if sweep_name else {})) for _, v in runs])
    start = time.monotonic()
    ts = jax.jit(jax.vmap(agent.init))(keys, hp)
    chunk = jax.jit(jax.vmap(lambda t: jax.lax.scan(lambda c, _: agent.iteration(c), t, None, args.chunk)))
    compiled = chunk.lower(ts).compile()
    compile_s = time.monotonic() - start
    print(f"{len(runs)} runs x {ppo.num_envs} envs side by side; compiled in {compile_s:.0f} s", flush=True)
    metrics, walls, elapsed = [], [], 0.0
    for done in range(args.chunk, run.iterations + 1, args.chunk):
        tick = time.monotonic()
        ts, m = compiled(ts)
        m = jax.device_get(m)
        seconds = time.monotonic() - tick
        walls.append(elapsed + seconds * np.arange(1, args.chunk + 1) / args.chunk)
        elapsed += seconds
        metrics.append(m)
        plaus = np.nanmean(m["plausible_success_rate"][:, -max(1, args.chunk // 2):], axis=1)
        print(f"it {done:>5d}  {done * ppo.num_envs * ppo.unroll_length / 1e6:7.2f}M env steps/run  "
              f"{len(runs) * args.chunk * ppo.num_envs * ppo.unroll_length / seconds:9.0f} env steps/s  "
              f"{elapsed:6.0f} s  plausible success per run {np.round(plaus, 2).tolist()}", flush=True)
    curves = {k: np.concatenate([m[k] for m in metrics], axis=1) for k in metrics[0]}
    return agent, ts, runs, curves, np.concatenate(walls), compile_s


def evaluate_runs(args, cfg: TrainConfig, ts, runs) -> tuple[dict, list[dict]]:
    """The base alone, then each run's deterministic residual, on the same fixed episodes."""
    _, agent = build(cfg)
    base_alone = summary(evaluate_base(agent.env, agent.base, args.eval_episodes))
    out = []
    for i in range(len(runs)):
        params, stats = jax.tree.map(lambda x: x[i], (ts.params, ts.stats))
        residual = lambda obs, b, p=params, s=stats: agent.deterministic_residual(p, s, obs, b)  # noqa: E731
        out.append(summary(evaluate_base(agent.env, agent.base, args.eval_episodes, residual=residual)))
    return base_alone, out


def plot(path: Path, plausible: np.ndarray, env_steps, wall, runs, sweep_name) -> None:
    """plausible: (runs, iterations) windowed training plausible success."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for value in dict.fromkeys(v for _, v in runs):
        idx = [i for i, (_, v) in enumerate(runs) if v == value]
        y = plausible[idx]
        mean = y.mean(0)
        half = (sps.t.ppf(0.975, len(idx) - 1) * y.std(0, ddof=1) / np.sqrt(len(idx))
                if len(idx) > 1 else np.zeros_like(mean))
        label = f"{sweep_name}={value}" if sweep_name else "defaults"
        for ax, x in ((axes[0], env_steps / 1e6), (axes[1], wall)):
            ax.plot(x, mean, label=f"{label} (mean of {len(idx)} seeds)")
            ax.fill_between(x, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1), alpha=0.25)
    for ax, xlabel in zip(axes, ("env steps per run (M)", "wall-clock, all runs at once (s)")):
        ax.axhline(TARGET, color="grey", lw=0.8, ls="--")
        ax.set(xlabel=xlabel, ylabel="plausible success, last episode length", ylim=(-0.02, 1.02))
    axes[0].legend(fontsize=8)
    fig.suptitle("plausible success while training: mean and 95% CI over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None, bridge=None) -> dict:
    """Run, write <out-dir>/<name>.json (+ .png) and return the result; `bridge`: a
    `BridgeConfig` for a model base (default: TrainConfig's)."""
    warnings.filterwarnings("ignore", "Mean of empty slice")  # iterations where no episode ended
    gpu = jax.default_backend() == "gpu"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3 if gpu else 2)
    p.add_argument("--base", default="zero")
    p.add_argument("--iterations", type=int, default=GPU_ITERATIONS if gpu else CPU_ITERATIONS)
    p.add_argument("--num-envs", type=int, default=None, help="per run (default: ppo.train's)")
    p.add_argument("--chunk", type=int, default=10, help="iterations per timed call")
    p.add_argument("--sweep", default=None, help=f"NAME=v1,v2: one of {', '.join(HPARAMS)}")
    p.add_argument("--eval-episodes", type=int, default=128)
    p.add_argument("--impl", choices=["jax", "warp"], default=None)
    p.add_argument("--episode-length", type=int, default=None, help="control steps (default: EnvConfig's)")
    p.add_argument("--name", default=f"learning_{'gpu' if gpu else 'cpu'}")
    p.add_argument("--out-dir", type=Path, default=RESULTS, help="where <name>.json and .png go")
    p.add_argument("--no-plot", action="store_true", help="write no .png (no matplotlib needed)")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.chunk < 1 or args.iterations % args.chunk:
        p.error("--seeds and --chunk must be >= 1 and --iterations a multiple of --chunk")
    sweep_name, sweep_values = parse_sweep(args.sweep)
    cpu = {k: v for k, v in CPU_DEFAULTS.items() if k in {f.name for f in dataclasses.fields(PPOConfig)}}
    ppo = PPOConfig() if gpu else PPOConfig(**cpu)  # CPU_DEFAULTS holds run fields too
    ppo = dataclasses.replace(ppo, num_envs=args.num_envs or ppo.num_envs)
    cfg = with_values(TrainConfig(ppo=ppo), base=args.base, iterations=args.iterations, impl=args.impl,
                      **({"episode_length": args.episode_length} if args.episode_length else {}))
    if bridge is not None:
        cfg = dataclasses.replace(cfg, bridge=bridge)
    run = cfg.run
    agent, ts, runs, curves, wall, compile_s = train_side_by_side(args, cfg, sweep_name, sweep_values)
    env_steps = np.arange(1, run.iterations + 1) * ppo.num_envs * ppo.unroll_length
    base_alone, evals = evaluate_runs(args, cfg, ts, runs)
    window = episode_window(cfg.env.episode_length, ppo.unroll_length)
    plausible = windowed_rate(curves["plausible_success_rate"], curves["episodes"], window)
    per_run = []
    for i, ((seed, value), ev) in enumerate(zip(runs, evals)):
        per_run.append({"seed": seed, **({sweep_name: value} if sweep_name else {}),
                        "first_80_plausible": first_reach(plausible[i], env_steps, wall),
                        "final_train_plausible_success": float(plausible[i][-1]),
                        "final_entropy": float(curves["entropy"][i][-1]),
                        "final_policy_std_mean": float(curves["policy_std_mean"][i][-1]),
                        "eval": ev})
    groups = {}
    for value in sweep_values:
        rows = [r for r, (_, v) in zip(per_run, runs) if v == value]
        reach = [r["first_80_plausible"] for r in rows]
        groups[f"{sweep_name}={value}" if sweep_name else "defaults"] = {
            "plausible_success": mean_ci([r["eval"]["plausible_success_rate"] for r in rows], 0, 1),
            "success": mean_ci([r["eval"]["success_rate"] for r in rows], 0, 1),
            "runs_with_eval_plausible_ge_80": sum(r["eval"]["plausible_success_rate"] >= TARGET
                                                  for r in rows),
            "runs_whose_training_curve_reached_80": sum(x is not None for x in reach), "runs": len(rows),
            "env_steps_to_80": mean_ci([x["env_steps"] if x else None for x in reach], 0),
            "wall_s_to_80": mean_ci([x["wall_s"] if x else None for x in reach], 0)}
    total_sps = len(runs) * run.iterations * ppo.num_envs * ppo.unroll_length / wall[-1]
    result = {
        "question": "Do the defaults learn the task, reliably across seeds (plausible success)?",
        "command": " ".join(["python -m benchmarks.seeds", *sys.argv[1:]]),
        "device": {"device_kind": jax.devices()[0].device_kind, "platform": jax.default_backend(),
                   "impl": agent.env.impl},
        "versions": {**{n: metadata.version(n) for n in PACKAGES}, "python": platform.python_version()},
        "settings": {"base": run.base, "num_envs_per_run": ppo.num_envs, "runs_side_by_side": len(runs),
                     "iterations": run.iterations, "env_steps_per_run": int(env_steps[-1]),
                     "ppo": dataclasses.asdict(ppo), "alpha": cfg.env.alpha, "episode_length": cfg.env.episode_length,
                     "sim_dt": agent.env.config.sim_dt, "ctrl_dt": agent.env.config.ctrl_dt,
                     "solver_iterations": int(agent.env.mj_model.opt.iterations),
                     "eval_episodes": args.eval_episodes, "sweep": args.sweep},
        "compile_s": compile_s, "train_wall_s": float(wall[-1]),
        "env_steps_per_s_all_runs": total_sps, "env_steps_per_s_per_run": total_sps / len(runs),
        "base_alone": base_alone, "groups": groups, "runs": per_run,
        "curves": {"env_steps": env_steps.tolist(), "wall_s": wall.tolist(), "window": window,
                   "plausible_success_windowed": np.round(plausible, 4).tolist(),
                   **{k: np.round(curves[k], 4).tolist() for k in (
                       "plausible_success_rate", "success_rate", "episodes", "episode_return", "entropy",
                       "arm_depth_max", "paper_lift_max")}},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(result, indent=1, default=lambda x: None))
    if not args.no_plot:
        plot(args.out_dir / f"{args.name}.png", plausible, env_steps, wall, runs, sweep_name)
    print(f"\nbase alone ({run.base}): plausible success {base_alone['plausible_success_rate']:.1%}")
    print(f"{'run':>24} {'success':>8} {'plausible':>10} {'95% CI':>14} {'steps to 80%':>13} "
          f"{'s to 80%':>9} {'depth max mm':>12} {'lift max mm':>11}")
    for r, (seed, value) in zip(per_run, runs):
        ev, reach = r["eval"], r["first_80_plausible"]
        name = f"seed {seed}" + (f" {sweep_name}={value}" if sweep_name else "")
        lo, hi = ev["plausible_ci95"]
        print(f"{name:>24} {ev['success_rate']:>8.1%} {ev['plausible_success_rate']:>10.1%} "
              f"{lo:>6.1%}..{hi:<6.1%} {reach['env_steps'] if reach else '-':>13} "
              f"{round(reach['wall_s']) if reach else '-':>9} {ev['arm_depth_max'] * 1e3:>12.2f} "
              f"{ev['paper_lift_max'] * 1e3:>11.2f}")
    print(f"env steps/s, all runs together: {total_sps:.0f}; results in {args.out_dir / args.name}.json")
    return result


if __name__ == "__main__":
    main()
