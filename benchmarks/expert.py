"""Does the scripted expert succeed plausibly? Success and plausible success (95% Wilson CIs),
the plausibility audit (arm depth in the table, arm-table contact force, sheet lift and speed:
max and 95th percentile over every step) and episode length, per MJX impl, over fixed-seed randomised episodes.

    python -m benchmarks.expert                       # 128 episodes, jax and warp
    python -m benchmarks.expert --impls warp --episodes 1024 --out /tmp/expert.json

Writes benchmarks/results/expert_<cpu|gpu>.json and prints a table.
"""
from __future__ import annotations

from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from bridge.base import make_base  # noqa: E402
from mjx_env.outcome import plausibility_summary, rate_with_ci  # noqa: E402
from mjx_env.paper_return import make  # noqa: E402
from ppo.evaluate import evaluate_base  # noqa: E402


def run(impl: str, episodes: int, seed: int) -> dict:
    env = make(impl=impl)
    t0 = time.perf_counter()
    result = evaluate_base(env, make_base("scripted", env), episodes, seed=seed)
    return {"impl": impl, "episodes": episodes, "seed": seed, "seconds": time.perf_counter() - t0,
            "success": rate_with_ci(result["success"]),
            "plausible_success": rate_with_ci(result["plausible_success"]),
            "median_steps": float(np.median(result["steps"])),
            **plausibility_summary(result["trace"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--impls", nargs="+", default=["jax", "warp"], choices=["jax", "warp"])
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if a.episodes < 1:
        p.error("--episodes must be >= 1")
    rows = [run(impl, a.episodes, a.seed) for impl in a.impls]
    print(f"{'impl':<6}{'success (95% CI)':>26}{'plausible (95% CI)':>26}{'arm depth max':>15}"
          f"{'table force max/p95':>21}{'lift max':>10}{'speed p95':>11}{'steps':>7}")
    for r in rows:
        s, q = r["success"], r["plausible_success"]
        print(f"{r['impl']:<6}{s['rate']:>10.1%} ({s['ci95'][0]:.1%}-{s['ci95'][1]:.1%})"
              f"{q['rate']:>10.1%} ({q['ci95'][0]:.1%}-{q['ci95'][1]:.1%})"
              f"{r['arm_depth_max'] * 1e3:>12.2f} mm"
              f"{r['arm_table_force_max']:>11.2f} / {r['arm_table_force_p95']:.2f} N"
              f"{r['paper_lift_max'] * 1e3:>7.2f} mm"
              f"{r['paper_speed_p95']:>7.3f} m/s{r['median_steps']:>7.0f}")
    dev = "gpu" if jax.default_backend() == "gpu" else "cpu"
    out = a.out or Path(__file__).resolve().parent / "results" / f"expert_{dev}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metadata() | {"scene": scene_settings(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
