"""Training env steps/s against device count: weak and strong scaling of `ppo.sharding`.

    python -m benchmarks.scaling                       # CPU: 4 forced host devices
    python -m benchmarks.scaling --envs-per-device 2048 --devices 1 2 4 8   # GPUs

Weak scaling keeps the envs per device (`--envs-per-device`) and grows the global batch;
strong scaling keeps the global batch (`--envs-per-device` x the largest device count) and
splits it. Each row times `--iterations` jitted training iterations (rollout + update) after
one warm-up, compilation excluded. Efficiency: weak = (steps/s on n) / (n x steps/s on 1);
strong = (steps/s on n) / (n x steps/s on 1 at the same global batch). The single-device A/B
times the trainer's program before sharding (a plain jit, no mesh) against the 1-device mesh,
alternating rounds in the same process: the single-device path must be no slower. On a CPU the forced host devices share the same cores, so the CPU numbers show the
overhead of partitioning, not a speed-up; real speed-ups need real devices.
"""
from __future__ import annotations

import os
import sys

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", "") \
        and "--no-force" not in sys.argv:
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from ppo import sharding  # noqa: E402
from ppo.config import PPOConfig, TrainConfig, with_values  # noqa: E402
from ppo.train import build  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def prepare(num_envs: int, devices: int | None, args):
    """(compiled step, state, compile seconds) of `num_envs` envs on a mesh of `devices` (None:
    the plain single-device jit, no shardings)."""
    ppo = dataclasses.replace(PPOConfig(), num_envs=num_envs, num_minibatches=args.num_minibatches,
                              unroll_length=args.unroll_length, update_epochs=args.update_epochs)
    _, agent = build(with_values(TrainConfig(ppo=ppo), iterations=1000, impl=args.impl))
    key = np.asarray(jax.random.PRNGKey(0))
    if devices is None:
        ts = jax.jit(agent.init)(key)
        step = jax.jit(agent.iteration)
    else:
        mesh = sharding.make_mesh(devices)
        shard = sharding.state_sharding(jax.eval_shape(agent.init, key), mesh)
        ts = jax.jit(agent.init, out_shardings=shard)(key)
        step = jax.jit(agent.iteration, in_shardings=(shard,),
                       out_shardings=(shard, sharding.replicated(mesh)))
    tick = time.monotonic()
    step = step.lower(ts).compile()
    ts, m = step(ts)  # warm-up
    jax.block_until_ready(m)
    return step, ts, time.monotonic() - tick


def seconds_per_iteration(step, ts, iterations: int):
    """(state after, mean seconds per iteration over `iterations` iterations)."""
    tick = time.monotonic()
    for _ in range(iterations):
        ts, m = step(ts)
    jax.block_until_ready(m)
    return ts, (time.monotonic() - tick) / iterations


def time_iterations(num_envs: int, devices: int | None, args) -> dict:
    """Steps/s of `args.iterations` training iterations (compilation excluded)."""
    step, ts, compile_s = prepare(num_envs, devices, args)
    _, seconds = seconds_per_iteration(step, ts, args.iterations)
    return {"devices": devices or 1, "plain_jit": devices is None, "num_envs": num_envs,
            "envs_per_device": num_envs // (devices or 1), "seconds_per_iteration": seconds,
            "env_steps_per_s": num_envs * args.unroll_length / seconds, "compile_s": compile_s}


def single_device_ab(num_envs: int, args) -> dict:
    """The plain jit (before sharding) against the 1-device mesh, `args.ab_rounds` rounds of
    `args.iterations` iterations each, alternating, in this process: median seconds and ratio."""
    (a, ts_a, _), (b, ts_b, _) = prepare(num_envs, None, args), prepare(num_envs, 1, args)
    times = {"plain_jit": [], "mesh_1": []}
    for _ in range(args.ab_rounds):
        ts_a, sec = seconds_per_iteration(a, ts_a, args.iterations)
        times["plain_jit"].append(sec)
        ts_b, sec = seconds_per_iteration(b, ts_b, args.iterations)
        times["mesh_1"].append(sec)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {"num_envs": num_envs, "rounds": args.ab_rounds, "seconds_per_iteration": times,
            "median_s": med, "mesh_over_plain_steps_per_s": med["plain_jit"] / med["mesh_1"]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, nargs="+", default=None, help="device counts (default 1 2 4 ...)")
    p.add_argument("--envs-per-device", type=int, default=8)
    p.add_argument("--unroll-length", type=int, default=16)
    p.add_argument("--num-minibatches", type=int, default=4)
    p.add_argument("--update-epochs", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--impl", default=None)
    p.add_argument("--ab-rounds", type=int, default=5,
                   help="alternating rounds of the single-device A/B (plain jit vs 1-device mesh)")
    p.add_argument("--no-force", action="store_true", help="do not force 4 CPU host devices")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    counts = args.devices or [n for n in (1, 2, 4, 8, 16) if n <= jax.device_count()]
    if max(counts) > jax.device_count():
        p.error(f"--devices: only {jax.device_count()} devices here")
    e = args.envs_per_device
    ab = single_device_ab(e * max(counts), args)
    rows = [dict(time_iterations(e * n, n, args), mode="weak") for n in counts]
    rows += [dict(time_iterations(e * max(counts), n, args), mode="strong") for n in counts if n != max(counts)]
    weak1 = next(r for r in rows if r["mode"] == "weak" and r["devices"] == 1)["env_steps_per_s"]
    strong1 = next((r["env_steps_per_s"] for r in rows if r["mode"] == "strong" and r["devices"] == 1), None)
    for r in rows:
        if r["mode"] == "weak":
            r["efficiency"] = r["env_steps_per_s"] / (r["devices"] * weak1)
        if r["mode"] == "strong" or (r["mode"] == "weak" and r["devices"] == max(counts)):
            r["strong_efficiency"] = (r["env_steps_per_s"] / (r["devices"] * strong1)) if strong1 else None
    print(f"{'mode':<9}{'devices':>8}{'envs':>7}{'envs/dev':>9}{'env steps/s':>13}{'s/iter':>9}{'eff.':>7}")
    for r in rows:
        eff = r.get("efficiency", r.get("strong_efficiency"))
        print(f"{r['mode']:<9}{r['devices']:>8}{r['num_envs']:>7}{r['envs_per_device']:>9}"
              f"{r['env_steps_per_s']:>13.0f}{r['seconds_per_iteration']:>9.3f}"
              f"{(f'{eff:.2f}' if eff is not None else '-'):>7}")
    print(f"single device, {ab['num_envs']} envs, median of {ab['rounds']} alternating rounds: plain "
          f"jit {ab['median_s']['plain_jit']:.3f} s/iteration, 1-device mesh "
          f"{ab['median_s']['mesh_1']:.3f} s (mesh/plain steps/s {ab['mesh_over_plain_steps_per_s']:.2f})")
    import mujoco
    result = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
              "device_count": jax.device_count(), "forced_host_devices": "--xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""),
              "cpu_count": os.cpu_count(), "jax": jax.__version__, "mujoco": mujoco.__version__,
              "impl": build(with_values(TrainConfig(), impl=args.impl))[0].impl,
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "command": "python -m benchmarks.scaling " + " ".join(argv if argv is not None else sys.argv[1:]),
              "single_device_ab": ab, "rows": rows}
    out = Path(args.out or RESULTS / f"scaling_{jax.default_backend()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
