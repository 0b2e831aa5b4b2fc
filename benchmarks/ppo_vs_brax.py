"""Our residual PPO against Brax's PPO (`brax.training.agents.ppo.train`) in one run.

Same env (paper_return, zero base, DR on, MJX impl of the device), same budget and PPO settings:
num_envs x unroll_length env steps per iteration, 4 epochs x 4 minibatches, learning rate,
discount, GAE lambda, clip, entropy cost, two 256-unit hidden layers, observation normalisation.
Reports training env steps/s (compilation excluded: ours times each jitted iteration; Brax's is
its own `training/sps` of its second training epoch, num_evals = 3, since its first includes
compiling) and the mean return of 64 deterministic evaluation episodes at equal env
steps. Differences that remain: Brax squashes actions with tanh (ours clips a Gaussian) and
masks time-out steps out of its loss (ours bootstraps them).

    python benchmarks/ppo_vs_brax.py                    # CPU: 16 envs, 100 iterations
    python benchmarks/ppo_vs_brax.py --num-envs 2048 --iterations 200   # GPU
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root, if not pip-installed
import mjx_env  # noqa: E402,F401  (XLA CPU flag first)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from ppo.agent import PPOConfig  # noqa: E402
from ppo import brax_baseline  # noqa: E402
from ppo.evaluate import evaluate_policy  # noqa: E402
from ppo.train import RunConfig, train  # noqa: E402

EVAL_EPISODES = 64


def run_ours(args, ppo: PPOConfig) -> dict:
    with tempfile.TemporaryDirectory() as out:
        run = RunConfig(iterations=args.iterations, episode_length=args.episode_length,
                        checkpoint_every=10**9, seed=args.seed, out=out, impl=args.impl)
        agent, ts, history = train(run, ppo, progress=False)
    ev = evaluate_policy(agent, ts, EVAL_EPISODES)["base_plus_residual"]
    return {"env_steps": int(ts.env_steps),
            "env_steps_per_s": float(np.median([h["env_steps_per_s"] for h in history])),
            "eval_return": ev["mean_return"], "eval_success": ev["success_rate"]}


def run_brax(args, ppo: PPOConfig) -> dict:
    steps = args.iterations * ppo.num_envs * ppo.unroll_length
    # num_evals 3: Brax's first training epoch includes compiling; its training/sps at the end
    # is the second epoch's.
    _, _, rows = brax_baseline.train(ppo, steps, args.seed, args.episode_length, num_evals=3,
                                     num_eval_envs=EVAL_EPISODES, impl=args.impl)
    final = rows[-1][1]
    return {"env_steps": rows[-1][0], "env_steps_per_s": final.get("training/sps", float("nan")),
            "eval_return": final["eval/episode_reward"],
            "eval_success": final.get("eval/episode_success", float("nan"))}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--episode-length", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", choices=["jax", "warp"], default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.num_envs % 4:
        p.error("--num-envs must be a multiple of 4 (4 minibatches)")
    ppo = PPOConfig(num_envs=args.num_envs, unroll_length=16)
    results = {}
    for name, fn in (("ours", run_ours), ("brax", run_brax)):
        start = time.monotonic()
        results[name] = fn(args, ppo)
        results[name]["wall_s"] = time.monotonic() - start
    ratio = results["ours"]["env_steps_per_s"] / results["brax"]["env_steps_per_s"]
    device = jax.devices()[0]
    record = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "device": f"{device.platform}:{device.device_kind} {platform.processor() or platform.machine()}",
        "versions": {k: metadata.version(k) for k in ("jax", "brax", "flax", "optax", "mujoco", "mujoco-mjx")},
        "num_envs": args.num_envs, "iterations": args.iterations, "ppo": vars(ppo) if hasattr(ppo, "__dict__") else str(ppo),
        "results": results, "steps_per_s_ratio_ours_over_brax": ratio,
    }
    print(f"{'trainer':>8} {'env steps':>10} {'steps/s':>10} {'eval return':>12} {'eval success':>13} {'wall s':>8}")
    for name, r in results.items():
        print(f"{name:>8} {r['env_steps']:>10d} {r['env_steps_per_s']:>10.0f} {r['eval_return']:>12.3f} "
              f"{r['eval_success']:>13.3f} {r['wall_s']:>8.1f}")
    print(f"steps/s ratio ours / brax: {ratio:.2f}")
    out = args.out or Path(__file__).parent / "results" / f"ppo_vs_brax_{device.platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
