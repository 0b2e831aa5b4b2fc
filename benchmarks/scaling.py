"""Training env steps/s against device count: weak and strong scaling of `ppo.sharding`.

    python benchmarks/scaling.py                       # CPU: 4 forced host devices
    python benchmarks/scaling.py --envs-per-device 2048 --devices 1 2 4 8   # GPUs

Weak scaling keeps the envs per device (`--envs-per-device`) and grows the global batch;
strong scaling keeps the global batch (`--envs-per-device` x the largest device count) and
splits it. Each row times `--iterations` jitted training iterations (rollout + update) after
one warm-up, compilation excluded. Efficiency: weak = (steps/s on n) / (n x steps/s on 1);
strong = (steps/s on n) / (n x steps/s on 1 at the same global batch). The row "1 device,
plain jit" is the trainer's program before sharding (no mesh): the single-device path must be
no slower. On a CPU the forced host devices share the same cores, so the CPU numbers show the
overhead of partitioning, not a speed-up; real speed-ups need real devices.
"""
from __future__ import annotations

import os
import sys

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", "") \
        and "--no-force" not in sys.argv:
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

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


def time_iterations(num_envs: int, devices: int | None, args) -> dict:
    """Steps/s of `args.iterations` training iterations of `num_envs` envs on a mesh of
    `devices` (None: the plain single-device jit, no shardings)."""
    ppo = dataclasses.replace(PPOConfig(), num_envs=num_envs, num_minibatches=args.num_minibatches,
                              unroll_length=args.unroll_length, update_epochs=args.update_epochs)
    _, agent = build(with_values(TrainConfig(ppo=ppo), iterations=1000, impl=args.impl))
    key = np.asarray(jax.random.PRNGKey(0))
    if devices is None:
        init, step = jax.jit(agent.init), jax.jit(agent.iteration)
        ts = init(key)
    else:
        mesh = sharding.make_mesh(devices)
        shard = sharding.state_sharding(jax.eval_shape(agent.init, key), mesh)
        ts = jax.jit(agent.init, out_shardings=shard)(key)
        step = jax.jit(agent.iteration, in_shardings=(shard,),
                       out_shardings=(shard, sharding.replicated(mesh)))
    tick = time.monotonic()
    ts, m = step(ts)  # compile + warm-up
    jax.block_until_ready(m)
    compile_s = time.monotonic() - tick
    tick = time.monotonic()
    for _ in range(args.iterations):
        ts, m = step(ts)
    jax.block_until_ready(m)
    seconds = (time.monotonic() - tick) / args.iterations
    return {"devices": devices or 1, "plain_jit": devices is None, "num_envs": num_envs,
            "envs_per_device": num_envs // (devices or 1), "seconds_per_iteration": seconds,
            "env_steps_per_s": num_envs * ppo.unroll_length / seconds, "compile_s": compile_s}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, nargs="+", default=None, help="device counts (default 1 2 4 ...)")
    p.add_argument("--envs-per-device", type=int, default=8)
    p.add_argument("--unroll-length", type=int, default=16)
    p.add_argument("--num-minibatches", type=int, default=4)
    p.add_argument("--update-epochs", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--impl", default=None)
    p.add_argument("--no-force", action="store_true", help="do not force 4 CPU host devices")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    counts = args.devices or [n for n in (1, 2, 4, 8, 16) if n <= jax.device_count()]
    if max(counts) > jax.device_count():
        p.error(f"--devices: only {jax.device_count()} devices here")
    e = args.envs_per_device
    rows = [dict(time_iterations(e, None, args), mode="baseline")]
    rows += [dict(time_iterations(e * n, n, args), mode="weak") for n in counts]
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
    single = rows[0]["env_steps_per_s"], rows[1]["env_steps_per_s"]
    print(f"single device: plain jit {single[0]:.0f} vs 1-device mesh {single[1]:.0f} env steps/s "
          f"(ratio {single[1] / single[0]:.2f})")
    import mujoco
    result = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
              "device_count": jax.device_count(), "forced_host_devices": "--xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""),
              "cpu_count": os.cpu_count(), "jax": jax.__version__, "mujoco": mujoco.__version__,
              "impl": build(with_values(TrainConfig(), impl=args.impl))[0].impl,
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "command": "python benchmarks/scaling.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "single_device_mesh_vs_plain_jit": single[1] / single[0], "rows": rows}
    out = Path(args.out or RESULTS / f"scaling_{jax.default_backend()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
