"""How much of a base's failure is its jitter? A base alone and through the residual layer's
setpoint filter (`EnvConfig.base_filter`, `mjx_env.control.filtered_base`) with a zero residual (no
learning), on the trainer's evaluation episodes.

The filter sends `last + k (base - last)` instead of the base's target (`last`: the previous
control step's setpoint). k = 1 is the base alone; a smaller k averages a base's independent
per-step noise out (its std in the setpoint: sqrt(k / (2 - k)) x the base's) and lags its
intended motion by (1 - k) / k steps. What a residual starts from before it has learned anything.

    python -m benchmarks.setpoint_filter [--base scripted:0.03] [--gains 1 0.5 0.3] [--episodes 128]

Episodes: `ppo.evaluate.EVAL_SEED`, the end-of-run evaluation's (`ppo.train.report`), impl="jax".
Writes benchmarks/results/setpoint_filter_<cpu|gpu>.json (--out) and prints a table.
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402

from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from bridge.base import make_base  # noqa: E402
from mjx_env.paper_return import make  # noqa: E402
from ppo.evaluate import EVAL_SEED, SeededEvaluation, summary  # noqa: E402

KEEP = ("plausible_success_rate", "plausible_ci95", "success_rate", "ci95", "episodes",
        "mean_return", "implausible_episodes")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="scripted:0.03",
                   help="a JAX base spec (scripted[:<noise>], zero)")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 0.5, 0.3])
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if not (a.episodes > 0 and all(0 < k <= 1 for k in a.gains)):
        p.error("need --episodes > 0 and every gain in (0, 1]")
    rows = []
    for k in a.gains:
        start = time.monotonic()
        env = make(impl="jax", base_filter=k)
        base = make_base(a.base, env)
        zero = lambda params, state, base_action: jp.zeros_like(base_action)  # noqa: E731
        run = SeededEvaluation(env, base, zero, a.episodes)
        s = summary(run(None, a.episodes, EVAL_SEED, progress=f"k = {k}"))
        rows.append({"gain": k, **{key: s[key] for key in KEEP},
                     "wall_s": round(time.monotonic() - start, 1)})
    print(f"\n{'gain k':>7}{'plausible success (95% CI)':>30}{'success':>9}{'implausible eps':>17}")
    for r in rows:
        lo, hi = r["plausible_ci95"]
        print(f"{r['gain']:>7}{r['plausible_success_rate']:>13.1%} ({lo:.1%}-{hi:.1%})"
              f"{r['success_rate']:>9.1%}{r['implausible_episodes']:>17.1%}")
    dev = "gpu" if jax.default_backend() == "gpu" else "cpu"
    out = a.out or Path(__file__).resolve().parent / "results" / f"setpoint_filter_{dev}.json"
    out.write_text(json.dumps(metadata() | {
        "scene": scene_settings(), "impl": "jax", "base": a.base, "eval_seed": EVAL_SEED,
        "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
