"""The comparison the product exists for: each base alone vs base + residual after the same budget.

Rows (--rows): zero (no base), scripted (the privileged JAX expert), bc (the learned vision base,
`make base`: bridge.bc_policy run as a torch base through the bridge: rendered frames, DLPack,
16-step chunks), and the base-quality sweep `scripted:<noise>` (--noise: the expert plus
Gaussian noise of that std, rad, per joint and step). Every row trains residual PPO with the same
settings (--learning-rate, --init-log-std; the bc base sees the units and frame size recorded in
its policy.json) and budget (--iterations x --num-envs x 16 steps, seed --seed), then evaluates
--episodes fixed-seed episodes (seed 1234) with the deterministic residual, and with the base
alone (zero residual), success with 95% Wilson CIs. "env steps to 80%": the first training env
step count at which the success rate of training episodes (stochastic policy), pooled over the
iterations of the latest episode length (300 steps per env) and counted only after one episode
length per env, reaches 0.8 (0 if the base alone already evaluates at >= 80%; null if never
within the budget). Each row keeps its training curve.

Run: python benchmarks/base_vs_residual.py [--rows zero scripted bc] [--noise 0.005 0.01 0.02 0.05]
[--impl jax|warp] [--num-envs 16 --iterations 150] [--action-scale 0.1] [--out ...]
(--action-scale: the residual's rad per unit action with an active base, x alpha 0.7; rows at
0.05 and 0.1 are in results/base_vs_residual_scale{0.05,0.1}.json)
Rows already in the --out JSON are kept unless run again; each row records its MJX impl.
Writes benchmarks/results/base_vs_residual.json by default.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root, if not pip-installed
import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bridge.units import BridgeConfig  # noqa: E402
from env_throughput import metadata, scene_settings  # noqa: E402
from ppo.config import PPOConfig  # noqa: E402
from mjx_env import control  # noqa: E402
from ppo.evaluate import evaluate_policy  # noqa: E402
from ppo.config import TrainConfig, with_values  # noqa: E402
from ppo.train import train  # noqa: E402

BC_WEIGHTS = "bases/bc/policy.safetensors"


def steps_to(history: list[dict], window: int, warmup: int, threshold: float = 0.8,
             min_episodes: int = 32) -> int | None:
    """First env step count (>= `warmup`) at which the training success rate, pooled over the
    latest `window` iterations (one episode length per env), reaches `threshold` on >=
    `min_episodes` ended episodes. The window matters: all envs start together, so episodes end
    in waves (successes early, time-outs at once), and a shorter window reads one wave."""
    for i, h in enumerate(history):
        if h["env_steps"] < warmup:
            continue
        recent = history[max(0, i - window + 1):i + 1]
        episodes = sum(p["episodes"] for p in recent)
        successes = sum(p["success_rate"] * p["episodes"] for p in recent if p["episodes"] > 0)
        if episodes >= min_episodes and successes / episodes >= threshold:
            return h["env_steps"]
    return None


def run_row(name: str, spec: str, args, bridge: BridgeConfig, horizon: int | None) -> dict:
    """Train residual PPO on base `spec`, evaluate alone and with the residual; one JSON row."""
    print(f"\n=== {name}: --base {spec} ===", flush=True)
    start = time.monotonic()
    scale = {} if args.action_scale is None else {"action_scale": args.action_scale}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = with_values(TrainConfig(ppo=ppo_config(args), bridge=bridge), base=spec,
                          base_horizon=horizon, iterations=args.iterations, seed=args.seed,
                          impl=args.impl, checkpoint_every=args.iterations,
                          eval_episodes=args.episodes, out=tmp, **scale)
        agent, ts, history = train(cfg)
    result = evaluate_policy(agent, ts, args.episodes)
    alone, plus = result["base_alone"], result["base_plus_residual"]
    length, unroll = agent.env.config.episode_length, agent.cfg.unroll_length
    to80 = 0 if alone["success_rate"] >= 0.8 else steps_to(
        history, -(-length // unroll), args.num_envs * length)
    row = {"base": spec, "impl": agent.env.impl, "horizon": agent.base.horizon,
           "residual_scale_rad": control.residual_scale(agent.env.config, agent.base.active),
           "env_steps": int(ts.env_steps),
           "base_alone": alone, "base_plus_residual": plus, "env_steps_to_80pct": to80,
           "base_calls_per_step": float(np.mean([h["base_calls_per_step"] for h in history])),
           "final_training_success": history[-1]["success_rate"], "wall_s": time.monotonic() - start,
           "curve": {k: [h[k] for h in history] for k in (
               "env_steps", "episodes", "success_rate", "plausible_success_rate", "episode_return",
               "arm_depth_max", "paper_lift_max")},
           "command": shlex.join([sys.executable, *sys.argv])}
    print(f"{name}: alone {alone['success_rate']:.1%} (plausible {alone['plausible_success_rate']:.1%}), "
          f"+ residual {plus['success_rate']:.1%} (plausible {plus['plausible_success_rate']:.1%}), "
          f"to 80%: {to80}", flush=True)
    return row


def ppo_config(args) -> PPOConfig:
    # 4 x 4 updates per batch: 16 envs x 16 steps is too small a batch for the GPU defaults' 32
    # minibatches (and base_vs_residual.json was recorded with 4 x 4)
    return PPOConfig(num_envs=args.num_envs, learning_rate=args.learning_rate,
                     init_log_std=args.init_log_std, num_minibatches=4, update_epochs=4)


def bc_bridge(weights: str) -> BridgeConfig:
    """How the bc base sees the sim: the units and frame size it was trained with."""
    config = json.loads(Path(weights).with_suffix(".json").read_text())
    return BridgeConfig(units=config["units"], render_size=config["size"])


def row_order(item: tuple[str, dict]) -> tuple:
    """zero, scripted, bc, then the sweep by increasing noise."""
    name = item[0]
    if name.startswith("scripted:"):
        return (1, float(name.split(":")[1]))
    return (0, ("zero", "scripted", "bc").index(name))


def print_table(rows: dict) -> None:
    """Success and plausible success (the physical one: mjx_env.plausibility), 95% CIs."""
    def pct(r, key="success_rate", ci="ci95"):
        lo, hi = r[ci]
        return f"{r[key]:6.1%} ({lo:.0%}-{hi:.0%})"

    def both(r):
        return f"{pct(r)} / {pct(r, 'plausible_success_rate', 'plausible_ci95')}"
    print(f"\n{'row':<16}{'base alone: success / plausible':>40}"
          f"{'base + residual: success / plausible':>42}{'env steps to 80%':>18}")
    for name, r in rows.items():
        to80 = "-" if r["env_steps_to_80pct"] is None else str(r["env_steps_to_80pct"])
        print(f"{name:<16}{both(r['base_alone']):>40}{both(r['base_plus_residual']):>42}{to80:>18}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="*", default=["zero", "scripted", "bc"])
    p.add_argument("--noise", type=float, nargs="*", default=[0.005, 0.01, 0.02, 0.05])
    p.add_argument("--iterations", type=int, default=150)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", choices=["jax", "warp"], default=None,
                   help="MJX backend (default: the faster on this device, as in training)")
    p.add_argument("--bc-weights", default=BC_WEIGHTS)
    p.add_argument("--bc-horizon", type=int, default=16)
    # Residual settings for every row: a small learning rate and little exploration noise keep
    # the residual from undoing a good base early on (README "PPO"; measured on scripted).
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--init-log-std", type=float, default=-2.0)
    p.add_argument("--action-scale", type=float, default=None,
                   help="rad per unit residual with an active base (default: EnvConfig's)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "base_vs_residual.json")
    args = p.parse_args()
    if "bc" in args.rows and not Path(args.bc_weights).exists():
        p.error(f"{args.bc_weights} not found: run `make base` first (or drop bc from --rows)")
    specs = {"zero": ("zero", None), "scripted": ("scripted", None),
             "bc": (f"torch:bridge.bc_policy:{args.bc_weights}", args.bc_horizon)}
    todo = {name: specs[name] for name in args.rows}
    todo.update({f"scripted:{n:g}": (f"scripted:{n:g}", None) for n in args.noise})
    saved = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = saved.get("rows", {})
    for name, (spec, horizon) in todo.items():
        bridge = bc_bridge(args.bc_weights) if name == "bc" else BridgeConfig()
        rows[name] = run_row(name, spec, args, bridge, horizon)
        rows[name]["bridge"] = dataclasses.asdict(bridge) if name == "bc" else None
        rows = dict(sorted(rows.items(), key=row_order))
        cfg = ppo_config(args)
        result = {**metadata(), "scene": scene_settings(), "settings": {
            "iterations": args.iterations, "num_envs": args.num_envs,
            "unroll_length": cfg.unroll_length, "learning_rate": cfg.learning_rate,
            "init_log_std": cfg.init_log_std,
            "action_scale": args.action_scale or TrainConfig().env.action_scale,
            "episodes": args.episodes, "seed": args.seed,
            "eval_seed": 1234}, "rows": rows}
        args.out.write_text(json.dumps(result, indent=1))  # after every row: nothing lost
    print_table(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
