"""How hard does the scripted base press, on the sheet and on the table, with and without noise?

The scripted base (`scripted` or `scripted:<noise>`) alone, one episode on each of N envs
(fixed keys), impl="jax": at each control step's end state, the largest normal force (N) of the
contacts between an arm collision geom and the sheet, and between one and the table
(`mjx_env.plausibility.arm_table_force`, MuJoCo's `mj_contactForce`). The env's own
`arm_table_force` metric is the maximum over a step's 12 physics substeps; end states miss
short impacts, so this shows the sustained press, not the spikes.

    python -m benchmarks.expert_contact [--noise 0 0.03] [--envs 16] [--seed 5]

Writes benchmarks/results/expert_contact_<cpu|gpu>.json and prints a table.
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from bridge.base import make_base  # noqa: E402
from mjx_env import plausibility  # noqa: E402
from mjx_env.paper_return import make, set_base  # noqa: E402

def measure(noise: float, envs: int, seed: int) -> dict:
    """One episode per env under the scripted base with `noise` rad: per alive step, the
    arm-sheet and arm-table normal forces (N) of the step's end state, against the env's
    arm-table limit (`max_table_force`)."""
    env = make(impl="jax")
    limit = env.config.max_table_force
    m = env.mj_model
    sheet = [g for g in range(m.ngeom) if m.geom_bodyid[g] == m.body("paper").id]
    base = make_base(f"scripted:{noise}" if noise else "scripted", env)
    reset, step, chunk = jax.jit(env.reset), jax.jit(env.step), jax.jit(base.chunk)

    @jax.jit
    def forces(data):  # (envs, 2): arm-sheet, arm-table
        def one(d):
            on_sheet = jp.max(jp.stack([plausibility.arm_table_force(
                env.arm_geoms, g, env.mjx_model, d) for g in sheet]))
            return jp.stack([on_sheet, plausibility.arm_table_force(
                env.arm_geoms, env._table_geom, env.mjx_model, d)])
        return jax.vmap(one)(data)

    s = reset(jax.random.split(jax.random.PRNGKey(seed), envs))
    done = np.zeros(envs, bool)
    on_sheet, on_table, steps = [], [], np.zeros(envs, int)
    for _ in range(env.config.episode_length):
        s = step(set_base(s, chunk(s)[:, 0]), jp.zeros((envs, 6)))
        f = np.asarray(forces(s.data))
        on_sheet.append(f[~done, 0])
        on_table.append(f[~done, 1])
        steps += ~done
        done |= np.asarray(s.done) > 0
        if done.all():
            break
    sheet_f, table_f = np.concatenate(on_sheet), np.concatenate(on_table)
    touching = sheet_f > 0
    pct = lambda x, q: float(np.percentile(x, q)) if x.size else 0.0  # noqa: E731
    return {"base": base.name, "noise_rad": noise, "envs": envs, "seed": seed,
            "steps": int(sheet_f.size), "mean_episode_steps": float(steps.mean()),
            "sheet_contact_fraction": float(touching.mean()),
            "sheet_force_median_n": pct(sheet_f[touching], 50),
            "sheet_force_p90_n": pct(sheet_f[touching], 90),
            "sheet_force_max_n": float(sheet_f.max()), "limit_n": limit,
            "sheet_force_over_limit_fraction": float((sheet_f > limit).mean()),
            "table_force_over_limit_fraction": float((table_f > limit).mean()),
            "table_force_max_n": float(table_f.max())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.03])
    p.add_argument("--envs", type=int, default=16)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    rows = [measure(noise, a.envs, a.seed) for noise in a.noise]
    print(f"{'base':<16}{'steps':>7}{'ep len':>8}{'on sheet':>10}{'median N':>10}{'p90 N':>8}"
          f"{'max N':>8}{'table>lim':>11}{'table max':>11}")
    for r in rows:
        print(f"{r['base']:<16}{r['steps']:>7}{r['mean_episode_steps']:>8.0f}"
              f"{r['sheet_contact_fraction']:>9.1%} {r['sheet_force_median_n']:>9.1f}"
              f"{r['sheet_force_p90_n']:>8.1f}{r['sheet_force_max_n']:>8.1f}"
              f"{r['table_force_over_limit_fraction']:>10.2%} {r['table_force_max_n']:>10.1f}")
    dev = "gpu" if jax.default_backend() == "gpu" else "cpu"
    out = a.out or Path(__file__).resolve().parent / "results" / f"expert_contact_{dev}.json"
    out.write_text(json.dumps(metadata() | {"scene": scene_settings(), "impl": "jax", "rows": rows},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
