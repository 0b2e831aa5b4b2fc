"""Which MJX impl should a CPU train with? jax vs warp on this CPU, measured on one trained policy.

    .venv/bin/python -m benchmarks.cpu_impl_choice runs/ppo            # a CPU `make train` run
    .venv/bin/python -m benchmarks.cpu_impl_choice runs/ppo --episodes 8 --out /tmp/c.json

Per impl, with the run's env config:
- env steps/s of the batched `env.step` at the CPU default env count (`ppo.config.CPU_DEFAULTS`),
  jitted, median of 3 timed runs of 20 steps after compilation (compile time reported apart);
- the run's kept policy (`ppo.evaluate`'s choice) replayed on the evaluation's fixed-seed
  episodes (`ppo.evaluate.EVAL_SEED`, the episodes of the run's eval.json): success, plausible
  success, implausible episodes, deploy stops, arm depth (collision geoms, worst substep), sheet
  lift and speed (ppo.evaluate's code, so the numbers are eval.json's for the run's own impl);
- on the impl the run trained with: every arm geom, visual ones included
  (`mjx_env.coverage.surface_points`: box grids, mesh vertices), at the end state of every
  control step of the same episodes, placed by MuJoCo C's kinematics: the deepest surface point
  below the table top and the geom it belongs to.
Writes benchmarks/results/cpu_impl_choice.json (with `choice`: the CPU default impl the
measurement supports) and prints a table.
"""
from __future__ import annotations

from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from bridge import chunk_cache, rollout  # noqa: E402
from mjx_env import coverage, plausibility  # noqa: E402
from mjx_env.paper_return import set_base  # noqa: E402
from mjx_env.scene import default_impl  # noqa: E402
from ppo import evaluate, evaluate_cli  # noqa: E402
from ppo.config import CPU_DEFAULTS  # noqa: E402


def throughput(env, num_envs: int, steps: int = 20, repeats: int = 3) -> dict:
    """env steps/s of the jitted batched step at `num_envs` (random actions in [-1, 1])."""
    keys = jax.random.split(jax.random.PRNGKey(0), num_envs)
    actions = jax.random.uniform(jax.random.PRNGKey(1), (steps, num_envs, 6), minval=-1, maxval=1)

    def run(state):
        return jax.lax.scan(lambda s, a: (env.step(s, a), None), state, actions)[0]

    run = jax.jit(run)
    state = env.reset(keys)
    t0 = time.perf_counter()
    jax.block_until_ready(run(state))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run(state))
        times.append(time.perf_counter() - t0)
    return {"num_envs": num_envs, "steps": steps, "compile_s": compile_s, "seconds_all": times,
            "env_steps_per_s": num_envs * steps / float(np.median(times))}


def arm_qpos_trace(env, base, residual, keys) -> np.ndarray:
    """(episodes, T, nq) qpos at the end of every control step of the deterministic policy's
    episodes from `keys` (NaN after an episode ended)."""
    b, length = keys.shape[0], env.config.episode_length

    def one(carry, _):
        state, cache, alive = carry
        cache, base_action = chunk_cache.next_action(cache, base, state)
        state = set_base(state, base_action, base.active)
        state = env.step(state, residual(state.obs, base_action))
        q = jp.where(alive[:, None], state.data.qpos, jp.nan)
        return (state, cache, alive & (state.done == 0)), q

    def run(keys):
        init = (env.reset(keys), chunk_cache.init(b, base.horizon), jp.ones(b, bool))
        return jax.lax.scan(one, init, None, length)[1].swapaxes(0, 1)

    return np.asarray(jax.jit(run)(keys))


class ArmSurface:
    """Surface points of every geom of the arm's bodies (visual and collision) for MuJoCo C."""

    def __init__(self, model: mujoco.MjModel):
        arm = plausibility._arm_bodies(model)
        self.model, self.data = model, mujoco.MjData(model)
        self.geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] in arm
                      and model.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE]
        pts = [coverage.surface_points(model, g) for g in self.geoms]
        self.points = np.concatenate(pts)
        self.owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(pts)])
        self.names = [model.geom(g).name or f"{model.body(model.geom_bodyid[g]).name}/geom {g}"
                      for g in self.geoms]
        self.visual = [not plausibility._collides_at_all(model, g) for g in self.geoms]

    def lowest(self, qpos: np.ndarray) -> tuple[float, int]:
        """(lowest surface point z m, index into `geoms`) at `qpos`."""
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        ids = np.asarray(self.geoms)[self.owner]
        rot_z = self.data.geom_xmat[ids].reshape(-1, 3, 3)[:, 2, :]
        z = self.data.geom_xpos[ids, 2] + np.sum(rot_z * self.points, axis=1)
        i = int(np.argmin(z))
        return float(z[i]), int(self.owner[i])


def deepest_geoms(surface: ArmSurface, trace: np.ndarray) -> dict:
    """The deepest arm surface point below z = 0 over every recorded state, per geom kind."""
    worst = {"all": (np.inf, -1), "visual": (np.inf, -1)}
    for q in trace.reshape(-1, trace.shape[-1]):
        if not np.all(np.isfinite(q)):
            continue
        z, g = surface.lowest(q)
        for kind in worst:
            if (kind == "all" or surface.visual[g]) and z < worst[kind][0]:
                worst[kind] = (z, g)
    return {f"{k}_depth_max_m": max(0.0, -z) if np.isfinite(z) else None for k, (z, _) in worst.items()} | {
        f"{k}_deepest_geom": surface.names[g] if g >= 0 else None for k, (_, g) in worst.items()}


def replay(config: dict, net: dict, hidden, impl: str, episodes: int, batch: int,
           geoms: bool) -> dict:
    env, base = evaluate_cli.build(config, impl)
    t0 = time.perf_counter()
    result = evaluate_cli.evaluate_net(env, base, net, hidden, episodes, evaluate.EVAL_SEED, batch,
                                       f"replay {impl}")
    row = evaluate.report(result, evaluate.summary(result), env.config)
    row["replay_s"] = time.perf_counter() - t0
    if not geoms:
        return row
    residual = functools.partial(evaluate_cli.actor_residual(hidden, base.active), net)
    keys = rollout.round_keys(evaluate.EVAL_SEED, episodes, batch)
    trace = np.concatenate([arm_qpos_trace(env, base, residual, keys[i:i + batch])
                            for i in range(0, len(keys), batch)])[:episodes]
    row.update(deepest_geoms(ArmSurface(env.mj_model), trace))
    return row


RULE = ("the faster impl, unless its replay has more than one implausible episode and the "
        "other's has at most one (the GPU default's record)")


def decide(rows: list[dict], episodes: int) -> dict:
    """{"impl", "rule", "why"}: the CPU default the rows support (RULE)."""
    def bad(r):
        return round(r["implausible_episodes"] * episodes) > 1
    by_speed = sorted(rows, key=lambda r: -r["throughput"]["env_steps_per_s"])
    fast, slow = by_speed
    pick = slow if bad(fast) and not bad(slow) else fast
    why = (f"{fast['impl']} is faster ({fast['throughput']['env_steps_per_s']:.0f} vs "
           f"{slow['throughput']['env_steps_per_s']:.0f} env steps/s)")
    why += (f" but its replay has {fast['implausible_episodes']:.1%} implausible episodes" if pick is slow
            else f"; implausible episodes {fast['implausible_episodes']:.1%} ({fast['impl']}) vs "
                 f"{slow['implausible_episodes']:.1%} ({slow['impl']})")
    return {"impl": pick["impl"], "rule": RULE, "why": why}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run dir, checkpoint dir or export dir (as python -m ppo.evaluate)")
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--num-envs", type=int, default=CPU_DEFAULTS["num_envs"],
                   help="envs of the throughput rows (default: the CPU default)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "cpu_impl_choice.json")
    a = p.parse_args(argv)
    kind, source = evaluate_cli._input_kind(Path(a.run))
    config, net, hidden = evaluate_cli.load_policy(kind, source)
    rows = []
    trained = config["env"].get("impl") or default_impl()  # the impl the run trained with
    for impl in ("jax", "warp"):
        env, _ = evaluate_cli.build(config, impl)
        row = {"impl": impl, "throughput": throughput(env, a.num_envs)}
        row.update(replay(config, net, hidden, impl, a.episodes, evaluate_cli.CPU_EVAL_ENVS,
                          geoms=impl == trained))
        rows.append(row)
        print(f"{impl}: {row['throughput']['env_steps_per_s']:.0f} env steps/s at {a.num_envs} envs, "
              f"implausible {row['implausible_episodes']:.1%}, deploy stops {row['deploy_stop_episodes']:.1%}, "
              f"lift max {row['paper_lift_max'] * 1e3:.1f} mm, speed max {row['paper_speed_max']:.2f} m/s",
              flush=True)
        if "all_depth_max_m" in row:
            print(f"  every arm geom: deepest {row['all_depth_max_m'] * 1e3:.1f} mm ({row['all_deepest_geom']}); "
                  f"visual only {row['visual_depth_max_m'] * 1e3:.1f} mm ({row['visual_deepest_geom']})")
    print(f"\n{'impl':5} {'steps/s':>8} {'success':>8} {'plaus.':>7} {'implaus.':>8} {'lift mm':>8} "
          f"{'speed':>6} {'geom mm':>8}")
    for r in rows:
        print(f"{r['impl']:5} {r['throughput']['env_steps_per_s']:8.0f} {r['success_rate']:8.1%} "
              f"{r['plausible_success_rate']:7.1%} {r['implausible_episodes']:8.1%} "
              f"{r['paper_lift_max'] * 1e3:8.1f} {r['paper_speed_max']:6.2f} "
              f"{r['all_depth_max_m'] * 1e3 if 'all_depth_max_m' in r else float('nan'):8.1f}")
    out = metadata() | {"scene": scene_settings(), "run": str(source), "kind": kind,
                        "trained_impl": trained, "episodes": a.episodes,
                        "eval_seed": evaluate.EVAL_SEED, "rows": rows,
                        "choice": decide(rows, a.episodes)}
    print(f"choice: {out['choice']['impl']}: {out['choice']['why']}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(f"wrote {a.out}")
    return out


if __name__ == "__main__":
    main()
