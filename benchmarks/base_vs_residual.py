"""The comparison the product exists for: each base alone vs base + residual, same budget, several
training seeds.

Bases (--rows): scripted (the privileged JAX expert), bc (the learned vision base, `make base`:
bridge.bc_policy run as a torch base through the bridge: rendered frames, DLPack, 16-step
chunks), zero (no base), and the base-quality sweep `scripted:<noise>` (--noise: the expert plus
Gaussian noise of that std, rad, per joint and step). Every (base, training seed) trains residual
PPO exactly as `ppo.train` does, with the same settings (--learning-rate, --init-log-std; the bc
base sees the units and frame size recorded in its policy.json), budget (--iterations x
--num-envs x 16 env steps) and best-checkpoint selection (every --select-every iterations on
--select-episodes fixed-seed episodes, the base alone once), then `ppo.train`'s own end-of-run
evaluation: --episodes fixed-seed episodes (ppo.evaluate.EVAL_SEED) of the base alone and of the
*kept* checkpoint, plausible success with 95% Wilson CIs, and the selection's verdict.

Run: python -m benchmarks.base_vs_residual [--rows scripted bc] [--noise 0.03] [--seeds 0 1]
[--impl jax|warp] [--num-envs 16 --iterations 150] [--out ...]
Writes benchmarks/results/residual_vs_base_{cpu,gpu}.json (by the JAX backend): {"rows":
[{"base", "seed", "alone": {...}, "residual": {..., "checkpoint"}, "seeds", "env_steps",
"timestamp", "device", "command", "settings", "selection", "curve"}]}, one row per base and
training seed, written after every row; rows of other (base, seed) pairs already in the file are
kept. The README's results table is generated from it (tools/readme_table.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402

from bridge.units import BridgeConfig  # noqa: E402
from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from ppo.config import PPOConfig  # noqa: E402
from mjx_env import control  # noqa: E402
from ppo.config import TrainConfig, with_values  # noqa: E402
from ppo.train import report, train  # noqa: E402

BC_WEIGHTS = "bases/bc/policy.safetensors"
RESULTS = Path(__file__).parent / "results"


def run_row(spec: str, seed: int, args, bridge: BridgeConfig, horizon: int | None) -> dict:
    """Train residual PPO on base `spec` with training seed `seed` as `ppo.train` does (best-
    checkpoint selection included), then its own end-of-run evaluation (`ppo.train.report`):
    the base alone and the kept checkpoint on --episodes fixed-seed episodes. One JSON row."""
    print(f"\n=== --base {spec} --seed {seed} ===", flush=True)
    start = time.monotonic()
    env = {"reward_implausible": args.reward_implausible, "base_filter": args.base_filter}
    if args.action_scale is not None:
        env["action_scale"] = args.action_scale
    with tempfile.TemporaryDirectory() as tmp:
        cfg = with_values(TrainConfig(ppo=ppo_config(args), bridge=bridge), base=spec,
                          base_horizon=horizon, iterations=args.iterations, seed=seed,
                          impl=args.impl, checkpoint_every=args.iterations,
                          select_every=args.select_every, select_episodes=args.select_episodes,
                          eval_episodes=args.episodes, video=0, out=tmp, **env)
        agent, ts, history = train(cfg)
        result = report(agent, ts, history, cfg)
    alone, plus, chosen = result["base_alone"], result["base_plus_residual"], result["selection"]
    keep = ("plausible_success_rate", "plausible_ci95", "success_rate", "ci95", "episodes",
            "mean_return", "implausible_episodes", "deploy_stop_episodes", "arm_depth_max",
            "paper_lift_max")
    row = {"base": spec, "seed": seed, "impl": agent.env.impl, "horizon": agent.base.horizon,
           "residual_scale_rad": control.residual_scale(agent.env.config, agent.base.active),
           "env_steps": int(ts.env_steps),
           "alone": {k: alone[k] for k in keep},
           "residual": {**{k: plus[k] for k in keep}, "checkpoint": chosen["checkpoint"],
                        "final_iteration": chosen["final_iteration"]},
           "selection": {k: chosen.get(k) for k in ("residual_helped", "verdict", "episodes",
                                                     "evaluations")},
           "training_first_80_plausible": result["training_first_80_plausible"],
           "wall_s": time.monotonic() - start,
           "curve": {k: [h[k] for h in history] for k in (
               "iteration", "env_steps", "episodes", "success_rate", "plausible_success_rate", "episode_return")}}
    print(f"{spec} seed {seed}: alone {alone['plausible_success_rate']:.1%} plausible, + residual "
          f"(checkpoint {chosen['checkpoint']}) {plus['plausible_success_rate']:.1%}; "
          f"{chosen.get('verdict', '')}", flush=True)
    return row


def ppo_config(args) -> PPOConfig:
    # 4 x 4 updates per batch: 16 envs x 16 steps is too small a batch for the GPU defaults' 32
    # minibatches (and base_vs_residual.json was recorded with 4 x 4)
    return PPOConfig(num_envs=args.num_envs, learning_rate=args.learning_rate,
                     init_log_std=args.init_log_std, critic_warmup=args.critic_warmup,
                     ent_coef=args.ent_coef, num_minibatches=4, update_epochs=4)


def bc_bridge(weights: str) -> BridgeConfig:
    """How the bc base sees the sim: the units and frame size it was trained with."""
    config = json.loads(Path(weights).with_suffix(".json").read_text())
    return BridgeConfig(units=config["units"], render_size=config["size"])


def print_table(rows: list[dict]) -> None:
    """Plausible success (the physical one: mjx_env.plausibility) with 95% CIs, per base and seed."""
    def pct(r):
        lo, hi = r["plausible_ci95"]
        return f"{r['plausible_success_rate']:6.1%} ({lo:.0%}-{hi:.0%})"
    print(f"\n{'base':<44}{'seed':>5}{'alone':>18}{'+ residual (kept)':>22}{'checkpoint':>12}")
    for r in rows:
        print(f"{r['base']:<44}{r['seed']:>5}{pct(r['alone']):>18}{pct(r['residual']):>22}"
              f"{r['residual']['checkpoint']:>12}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="*", default=["scripted", "bc"])
    p.add_argument("--noise", type=float, nargs="*", default=[0.03])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds")
    p.add_argument("--iterations", type=int, default=150)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--select-every", type=int, default=25)
    p.add_argument("--select-episodes", type=int, default=32)
    p.add_argument("--impl", choices=["jax", "warp"], default=None,
                   help="MJX backend (default: the faster on this device, as in training)")
    p.add_argument("--bc-weights", default=BC_WEIGHTS)
    p.add_argument("--bc-horizon", type=int, default=16)
    # Residual settings for every row: a small learning rate and little exploration noise keep
    # the residual from undoing a good base early on (docs/bases.md; measured on scripted).
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--init-log-std", type=float, default=-2.0)
    p.add_argument("--ent-coef", type=float, default=PPOConfig().ent_coef,
                   help="entropy bonus weight (default: PPOConfig's)")
    p.add_argument("--critic-warmup", type=int, default=0,
                   help="iterations at the start in which only the critic learns")
    p.add_argument("--action-scale", type=float, default=None,
                   help="rad per unit residual with an active base (default: EnvConfig's)")
    p.add_argument("--reward-implausible", type=float, default=TrainConfig().env.reward_implausible,
                   help="cost of each implausible step (default: EnvConfig's)")
    p.add_argument("--base-filter", type=float, default=TrainConfig().env.base_filter,
                   help="the residual layer's setpoint filter gain, 1 = off (default: EnvConfig's)")
    p.add_argument("--out", type=Path, default=None,
                   help="default: benchmarks/results/residual_vs_base_{cpu,gpu}.json")
    args = p.parse_args()
    if "bc" in args.rows and not Path(args.bc_weights).exists():
        p.error(f"{args.bc_weights} not found: run `make base` first (or drop bc from --rows)")
    unknown = set(args.rows) - {"zero", "scripted", "bc"}
    if unknown:
        p.error(f"unknown --rows {sorted(unknown)}: expected zero, scripted, bc")
    out = args.out or RESULTS / f"residual_vs_base_{'cpu' if jax.default_backend() == 'cpu' else 'gpu'}.json"
    specs = {"zero": ("zero", None), "scripted": ("scripted", None),
             "bc": (f"torch:bridge.bc_policy:{args.bc_weights}", args.bc_horizon)}
    todo = [specs[name] for name in args.rows] + [(f"scripted:{n:g}", None) for n in args.noise]
    saved = json.loads(out.read_text()) if out.exists() else {}
    rows = saved.get("rows", [])
    command = shlex.join([sys.executable, "-m", "benchmarks.base_vs_residual", *sys.argv[1:]])
    cfg = ppo_config(args)
    for spec, horizon in todo:
        bridge = bc_bridge(args.bc_weights) if spec.startswith("torch:") else BridgeConfig()
        for seed in args.seeds:
            row = run_row(spec, seed, args, bridge, horizon)
            meta = metadata()
            row.update(seeds=list(args.seeds), device=meta["device"], timestamp=meta["timestamp"],
                       command=command,
                       bridge=dataclasses.asdict(bridge), settings={
                           "iterations": args.iterations, "num_envs": args.num_envs,
                           "unroll_length": cfg.unroll_length, "learning_rate": cfg.learning_rate,
                           "init_log_std": cfg.init_log_std, "critic_warmup": cfg.critic_warmup,
                           "ent_coef": cfg.ent_coef,
                           "action_scale": args.action_scale or TrainConfig().env.action_scale,
                           "reward_implausible": args.reward_implausible,
                           "base_filter": args.base_filter,
                           "select_every": args.select_every,
                           "select_episodes": args.select_episodes, "episodes": args.episodes})
            rows = [r for r in rows if (r["base"], r["seed"]) != (spec, seed)] + [row]
            result = {**meta, "scene": scene_settings(), "rows": rows}
            out.write_text(json.dumps(result, indent=1))  # after every row: nothing lost
    print_table(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
