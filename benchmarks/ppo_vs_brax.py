"""Our residual PPO (its defaults) against Brax's PPO (Playground's manipulation settings): a
learning comparison in one run, same env (paper_return, zero base, DR on, the device's MJX
impl), same env-step budget, same evaluation.

Both are evaluated at the same `--evals` points with deterministic policies on the same
`--eval-episodes` fixed-seed episodes of our evaluator (`ppo.evaluate.evaluate_base`; Brax's own eval numbers are
recorded beside it): plausible success there gives the env steps and training wall-clock to
80% plausible success. Training wall-clock excludes evaluation; ours excludes compilation
(reported apart); Brax's `training/walltime` includes its one compilation of the training
step. Env steps/s: ours over the training chunks; Brax's `training/sps` of its last epoch.
Differences that remain by design: Playground's settings (2048 envs, unroll 10, 8 unrolls per
env per update, a 4 x 32 policy and 5 x 256 value network, entropy 2e-2, clip 0.3) against our
defaults (`ppo.agent.PPOConfig`); Brax masks time-out steps out of its loss (ours bootstraps).

    python -m benchmarks.ppo_vs_brax                                  # CPU: tiny, ~15 minutes
    python -m benchmarks.ppo_vs_brax --env-steps 8000000 --evals 8    # GPU
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
from importlib import metadata  # noqa: E402

import jax  # noqa: E402

from ppo import brax_baseline  # noqa: E402
from ppo.config import CPU_DEFAULTS, PPOConfig  # noqa: E402
from ppo.evaluate import TARGET, evaluate_base, summary  # noqa: E402
from ppo.config import TrainConfig, with_values  # noqa: E402
from ppo.train import build, make_train  # noqa: E402



def _episode(args) -> dict:
    return {"episode_length": args.episode_length} if getattr(args, "episode_length", None) else {}


def first_reach(points: list[dict]) -> dict | None:
    return next(({"env_steps": p["env_steps"], "wall_s": p["wall_s"]} for p in points
                 if p["plausible_success_rate"] >= TARGET), None)


def run_ours(args, ppo: PPOConfig, evaluator) -> dict:
    per_iter = ppo.num_envs * ppo.unroll_length
    iterations = max(args.evals, round(args.env_steps / per_iter / args.evals) * args.evals)
    chunk = iterations // args.evals
    agent, _ = make_train(with_values(TrainConfig(ppo=ppo), iterations=iterations, impl=args.impl,
                                      seed=args.seed, **_episode(args)))
    start = time.monotonic()
    ts = jax.jit(agent.init)(jax.random.PRNGKey(args.seed))
    step = jax.jit(lambda t: jax.lax.scan(lambda c, _: agent.iteration(c), t, None, chunk))
    step = step.lower(ts).compile()
    compile_s, wall, points = time.monotonic() - start, 0.0, []
    for k in range(args.evals):
        tick = time.monotonic()
        ts, _ = step(ts)
        jax.block_until_ready(ts.params)
        wall += time.monotonic() - tick
        ev = evaluator(lambda o, b, t=ts: agent.deterministic_residual(t.params, t.stats, o, b))
        points.append({"env_steps": (k + 1) * chunk * per_iter, "wall_s": wall, **ev})
        print(f"[ours] {points[-1]['env_steps']:>10d} env steps {wall:7.1f} s  plausible success "
              f"{ev['plausible_success_rate']:.3f}", flush=True)
    return {"settings": dataclasses.asdict(ppo), "iterations": iterations, "compile_s": compile_s,
            "env_steps": points[-1]["env_steps"], "env_steps_per_s": points[-1]["env_steps"] / wall,
            "points": points, "reached_80": first_reach(points)}


def run_brax(args, evaluator) -> dict:
    settings = brax_baseline.playground_settings(args.brax_num_envs)
    points = []

    make_policy, _, rows = brax_baseline.train(
        settings, args.env_steps, args.seed, num_evals=args.evals + 1, num_eval_envs=args.eval_episodes,
        impl=args.impl, params_fn=lambda steps, p: steps > 0 and points.append((steps, p)), **_episode(args))
    out = []
    metrics = dict(rows)
    for steps, p in points:
        policy = make_policy(p, deterministic=True)
        ev = evaluator(lambda o, b, pol=policy: pol(o, jax.random.PRNGKey(0))[0])
        m = metrics.get(steps, {})
        out.append({"env_steps": int(steps), "wall_s": m.get("training/walltime", float("nan")),
                    "brax_eval_success": m.get("eval/episode_success"),
                    "brax_eval_plausible_success": m.get("eval/episode_plausible_success"), **ev})
        print(f"[brax] {steps:>10d} env steps {out[-1]['wall_s']:7.1f} s  plausible success "
              f"{ev['plausible_success_rate']:.3f}", flush=True)
    last = rows[-1][1]
    return {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
            "env_steps": out[-1]["env_steps"] if out else rows[-1][0],
            "env_steps_per_s": last.get("training/sps", float("nan")), "points": out,
            "reached_80": first_reach(out)}


def main(argv=None) -> dict:
    """Run both trainers, write the record (--out) and return it."""
    gpu = jax.default_backend() == "gpu"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env-steps", type=int, default=8_000_000 if gpu else 40_960)
    p.add_argument("--evals", type=int, default=8 if gpu else 2, help="evaluation points")
    p.add_argument("--num-envs", type=int, default=None, help="ours (default: ppo.train's)")
    p.add_argument("--brax-num-envs", type=int, default=2048 if gpu else 16)
    p.add_argument("--eval-episodes", type=int, default=128 if gpu else 16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", choices=["jax", "warp"], default=None)
    p.add_argument("--episode-length", type=int, default=None, help="control steps (default: EnvConfig's)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    cpu = {k: v for k, v in CPU_DEFAULTS.items() if k in {f.name for f in dataclasses.fields(PPOConfig)}}
    ppo = PPOConfig() if gpu else PPOConfig(**cpu)  # CPU_DEFAULTS holds run fields too
    ppo = dataclasses.replace(ppo, num_envs=args.num_envs or ppo.num_envs)
    _, eval_agent = build(with_values(TrainConfig(ppo=ppo), impl=args.impl, **_episode(args)))

    def evaluator(residual) -> dict:
        s = summary(evaluate_base(eval_agent.env, eval_agent.base, args.eval_episodes, residual=residual))
        return {k: s[k] for k in ("success_rate", "plausible_success_rate", "plausible_ci95",
                                  "mean_return", "arm_depth_max", "paper_lift_max")}

    results = {"ours": run_ours(args, ppo, evaluator), "brax": run_brax(args, evaluator)}
    o, b = results["ours"], results["brax"]
    ratios = {"env_steps_per_s_ours_over_brax": o["env_steps_per_s"] / b["env_steps_per_s"]}
    if o["reached_80"] and b["reached_80"]:
        ratios["env_steps_to_80_brax_over_ours"] = b["reached_80"]["env_steps"] / o["reached_80"]["env_steps"]
        ratios["wall_s_to_80_brax_over_ours"] = b["reached_80"]["wall_s"] / o["reached_80"]["wall_s"]
    device = jax.devices()[0]
    record = {
        "question": "Does our PPO with its defaults learn faster than Brax PPO with Playground's "
                    "manipulation settings, on the same env and budget?",
        "command": " ".join(["python -m benchmarks.ppo_vs_brax", *sys.argv[1:]]),
        "device": {"device_kind": device.device_kind, "platform": device.platform,
                   "impl": eval_agent.env.impl},
        "versions": {**{k: metadata.version(k) for k in ("jax", "brax", "flax", "optax", "mujoco",
                                                         "mujoco-mjx", "warp-lang")},
                     "python": platform.python_version()},
        "env": {"base": "zero", "sim_dt": eval_agent.env.config.sim_dt,
                "solver_iterations": int(eval_agent.env.mj_model.opt.iterations),
                "eval_episodes": args.eval_episodes, "env_step_budget": args.env_steps},
        "results": results, "ratios": ratios,
    }
    print(f"\n{'trainer':>8} {'env steps':>10} {'steps/s':>9} {'final plausible':>16} "
          f"{'steps to 80%':>13} {'s to 80%':>9}")
    for name, r in results.items():
        reach = r["reached_80"]
        print(f"{name:>8} {r['env_steps']:>10d} {r['env_steps_per_s']:>9.0f} "
              f"{r['points'][-1]['plausible_success_rate']:>16.1%} "
              f"{reach['env_steps'] if reach else '-':>13} {round(reach['wall_s']) if reach else '-':>9}")
    print("ratios:", {k: round(v, 2) for k, v in ratios.items()})
    out = args.out or Path(__file__).parent / "results" / f"ppo_vs_brax_{device.platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"results written to {out}")
    return record


if __name__ == "__main__":
    main()
