"""Does the constraint solver budget change task outcomes? Success of one base, alone, per MJX
impl and (iterations, ls_iterations), on the same fixed-seed episodes.

Why: impl="jax" and impl="warp" agree on short rollouts (tests) but, with the solver capped
at 6 iterations, not on whole episodes where the fingertip pushes the sheet (README "Backends").
The scene's budget (12 / 8) comes from this benchmark.

Run: python -m benchmarks.solver_iterations [--base scripted:0.02] [--settings jax:6:8 jax:12:8 ...]
Writes benchmarks/results/solver_iterations_<cpu|gpu>.json (override with --out).
"""
from __future__ import annotations

from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402

from bridge.base import make_base  # noqa: E402
from benchmarks.env_throughput import metadata  # noqa: E402
from mjx_env.paper_return import make  # noqa: E402
from ppo.evaluate import evaluate_base, summary  # noqa: E402

DEFAULT_SETTINGS = ["jax:6:8", "jax:12:8", "jax:30:30", "warp:6:8", "warp:12:8"]


def parse_setting(text: str) -> tuple[str, int, int]:
    """'impl:iterations:ls_iterations' -> (impl, iterations, ls_iterations)."""
    try:
        impl, iterations, ls = text.split(":")
        return impl, int(iterations), int(ls)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected impl:iterations:ls_iterations, got {text!r}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="scripted:0.02")
    p.add_argument("--settings", nargs="+", type=parse_setting,
                   default=[parse_setting(s) for s in DEFAULT_SETTINGS])
    p.add_argument("--num-envs", type=int, default=128, help="episodes side by side")
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--seed", type=int, default=1234, help="evaluation seed (as base_vs_residual)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    out = args.out or Path(__file__).parent / "results" / f"solver_iterations_{jax.default_backend()}.json"
    rows = []
    print(f"{'impl':<6}{'iterations':>11}{'ls':>5}{'success':>26}{'mean return':>13}{'wall s':>8}")
    for impl, iterations, ls in args.settings:
        start = time.monotonic()
        env = make(impl=impl, solver_iterations=iterations,
                   ls_iterations=ls)
        result = summary(evaluate_base(env, make_base(args.base, env), args.episodes, args.seed))
        row = {"impl": impl, "iterations": iterations, "ls_iterations": ls, **result,
               "wall_s": time.monotonic() - start}
        rows.append(row)
        lo, hi = result["ci95"]
        print(f"{impl:<6}{iterations:>11}{ls:>5}{result['success_rate']:>10.1%} ({lo:.1%}-{hi:.1%})"
              f"{result['mean_return']:>13.1f}{row['wall_s']:>8.0f}", flush=True)
        out.write_text(json.dumps({**metadata(), "base": args.base, "num_envs": args.num_envs,
                                   "episodes": args.episodes, "eval_seed": args.seed,
                                   "rows": rows}, indent=1))  # after every row: nothing lost
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
