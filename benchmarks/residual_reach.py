"""How far can a residual of bounded reach repair a noisy base? The oracle answer.

The base is `scripted:<noise>` (the bridge's rule: the expert plus Gaussian noise of std <noise>
rad per joint and control step). The oracle residual knows the noise-free expert target and
cancels as much of the noise as its reach allows: clip((expert - base) / reach, -1, 1), where
reach = alpha x action_scale rad per unit action (`mjx_env.control.residual_scale`, active
base). No learned residual can do better than this, so its success is the ceiling that the
reach sets for residual PPO on that base. Reach 0 is the base alone.

    python -m benchmarks.residual_reach                          # noise 0.05, 5 reaches, 128 episodes
    python -m benchmarks.residual_reach --noise 0.03 0.05 --reach 0 0.035 0.07 --episodes 64

Writes benchmarks/results/residual_reach_<cpu|gpu>.json and prints a table.
"""
from __future__ import annotations

from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402

from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from bridge.base import make_base  # noqa: E402
from mjx_env import control  # noqa: E402
from mjx_env.config import EnvConfig  # noqa: E402
from mjx_env.expert import ScriptedExpert  # noqa: E402
from mjx_env.outcome import plausibility_summary, rate_with_ci  # noqa: E402
from mjx_env.paper_return import PaperReturn  # noqa: E402
from ppo.evaluate import SeededEvaluation  # noqa: E402


def run(noise: float, reach: float, episodes: int, seed: int, impl: str | None) -> dict:
    """One row: `episodes` fixed-seed episodes of scripted:<noise> + the oracle of `reach` rad."""
    cfg = EnvConfig(impl=impl)
    if reach:
        cfg = dataclasses.replace(cfg, action_scale=reach / cfg.alpha)
    env = PaperReturn(cfg)
    expert, noisy = ScriptedExpert(env), make_base(f"scripted:{noise}", env)

    def oracle(params, state, base_action):  # (B, 6): the noisy base's offset from the expert
        offset = jax.vmap(expert)(state) - base_action
        return jp.clip(offset / control.residual_scale(cfg, 1.0), -1.0, 1.0)
    t0 = time.perf_counter()
    evaluation = SeededEvaluation(env, noisy, oracle if reach else None, episodes)
    result = evaluation(None, episodes, seed)
    return {"noise": noise, "reach": reach, "alpha": cfg.alpha,
            "action_scale": cfg.action_scale if reach else None,
            "episodes": episodes, "seed": seed, "impl": env.impl,
            "seconds": time.perf_counter() - t0,
            "success": rate_with_ci(result["success"]),
            "plausible_success": rate_with_ci(result["plausible_success"]),
            **plausibility_summary(result["trace"])}


def print_table(rows: list[dict]) -> None:
    print(f"{'noise rad':>10}{'reach rad':>10}{'action_scale':>13}{'plausible success (95% CI)':>30}"
          f"{'arm depth max mm':>18}")
    for r in rows:
        p = r["plausible_success"]
        lo, hi = p["ci95"]
        scale = f"{r['action_scale']:.3f}" if r["action_scale"] else "-"
        print(f"{r['noise']:>10.3f}{r['reach']:>10.3f}{scale:>13}"
              f"{p['rate']:>12.1%} ({lo:.1%}-{hi:.1%}){r['arm_depth_max'] * 1e3:>16.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--noise", type=float, nargs="+", default=[0.05])
    p.add_argument("--reach", type=float, nargs="+", default=[0.0, 0.035, 0.05, 0.07, 0.105],
                   help="alpha x action_scale, rad per unit action")
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--impl", choices=["jax", "warp"], default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if min(args.noise) < 0 or min(args.reach) < 0 or args.episodes < 1:
        p.error("--noise and --reach must be >= 0 rad and --episodes >= 1")
    rows = []
    for noise in args.noise:
        for reach in args.reach:
            rows.append(run(noise, reach, args.episodes, args.seed, args.impl))
            r = rows[-1]
            print(f"noise {noise:.3f} reach {reach:.3f}: plausible success "
                  f"{r['plausible_success']['rate']:.1%} ({r['seconds']:.0f} s)", flush=True)
    print_table(rows)
    kind = "gpu" if jax.default_backend() == "gpu" else "cpu"
    out = args.out or Path(__file__).parent / "results" / f"residual_reach_{kind}.json"
    out.write_text(json.dumps({**metadata(), "scene": scene_settings(), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
