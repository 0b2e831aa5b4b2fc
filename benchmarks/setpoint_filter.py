"""Is a noisy base's failure its noise? The scripted base with noise, alone and through a fixed
setpoint filter (no learning), on the trainer's evaluation episodes.

The filter sends `last + k (base - last)` instead of the base's target (`last`: the previous
control step's setpoint, `info["last_target"]`), as a residual through the env's own control
law (`mjx_env.control`: the offset is clipped to the residual's reach, alpha x action_scale).
k = 1 is the base alone; a smaller k averages the base's independent per-step noise out (its
std in the setpoint: sqrt(k / (2 - k)) x the base's) and lags its intended motion. It is a
diagnostic of what a residual that sees the last setpoint could reach, not a product feature.

    python -m benchmarks.setpoint_filter [--noise 0.03] [--gains 1 0.5 0.3] [--episodes 128]

Episodes: `ppo.evaluate.EVAL_SEED`, the end-of-run evaluation's (`ppo.train.report`), impl="jax".
Writes benchmarks/results/setpoint_filter_<cpu|gpu>.json and prints a table.
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
from mjx_env import control  # noqa: E402
from mjx_env.paper_return import make  # noqa: E402
from ppo.evaluate import EVAL_SEED, SeededEvaluation, summary  # noqa: E402

KEEP = ("plausible_success_rate", "plausible_ci95", "success_rate", "ci95", "episodes",
        "mean_return", "implausible_episodes")


def filter_residual(scale: float):
    """`residual(k, state, base_action (B, 6) rad) -> (B, 6)` in [-1, 1]: the action whose
    setpoint is `last + k (base - last)`, clipped to the reach `scale` rad."""
    def residual(k, state, base_action):
        last = state.info["last_target"]
        want = last + k * (base_action - last)
        return jp.clip((want - base_action) / scale, -1.0, 1.0)
    return residual


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--noise", type=float, default=0.03, help="the base's noise std, rad per step")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 0.5, 0.3])
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if not (a.noise >= 0 and a.episodes > 0 and all(0 < k <= 1 for k in a.gains)):
        p.error("need --noise >= 0, --episodes > 0 and every gain in (0, 1]")
    env = make(impl="jax")
    base = make_base(f"scripted:{a.noise}", env)
    scale = control.residual_scale(env.config, 1.0)
    run = SeededEvaluation(env, base, filter_residual(scale), a.episodes)
    rows = []
    for k in a.gains:
        start = time.monotonic()
        s = summary(run(jp.float32(k), a.episodes, EVAL_SEED, progress=f"k = {k}"))
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
        "scene": scene_settings(), "impl": "jax", "base": base.name, "noise_rad": a.noise,
        "reach_rad": scale, "eval_seed": EVAL_SEED, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
