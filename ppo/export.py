"""`python -m ppo.export <checkpoint> [<out>]`: a trained residual as a self-contained export.

    python -m ppo.export runs/zero_cpu/checkpoints/150      # -> exports/zero_cpu-150
    python -m ppo.export runs/zero_cpu exports/zero --force  # a run dir: its kept checkpoint

A run dir exports the checkpoint its training kept (selection.json: the best evaluated one; the
latest when selection was off). If that checkpoint did not beat the base alone (the residual
did not help), the export of the run dir is refused (exit 2) unless --force is given or the
checkpoint is named by its path.

Writes, atomically (into a hidden sibling directory, manifest.json last, then one rename):
  params/            orbax: the actor's Flax params and the observation normaliser (float32)
  policy.jax_export  serialized `jax.export` of (obs (b, 25), base (b, 6), last target (b, 6))
                     -> joint target (b, 6) rad, params baked in, symbolic batch b, CPU and
                     CUDA (needs `flatbuffers`)
  manifest.json      observation layout and units, control law, joint order and limits, base
                     policy, network, the run's config, versions, sha256 of params and artefact
  integrity.json     sha256 of the canonical manifest, with the params' and artefact's hashes:
                     the loaders refuse a manifest edited after export, and check every value
                     that reaches the robot against what policy.jax_export does
Load it without the trainer: `policy.exported.load`, `load_exported`, `to_torch`.
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

import jax
import jax.numpy as jp
import orbax.checkpoint as ocp

from bridge.atomic import atomic_directory
from bridge.base import is_model_base, make_base
from mjx_env import control, task
from mjx_env.paper_return import PaperReturn
from mjx_env.scene import ARM_JOINTS
from policy import exported as pol
from policy import networks
from policy.networks import ActorCritic, RunningStats, normalize
from ppo import selection
from ppo.checkpoint import config_path, configs, find_checkpoint, restore_params
from ppo.config import PPOConfig, RunConfig

PLATFORMS = ("cpu", "cuda")  # lowered for both: the robot's computer may have either
PACKAGES = ("jax", "jaxlib", "flax", "orbax-checkpoint", "mujoco", "numpy")


def saved_tree(params: dict, stats: RunningStats, hidden) -> dict:
    """What params/ holds: the actor layers (Dense_0..Dense_n of ActorCritic) and the normaliser."""
    actor = {f"Dense_{i}": params["params"][f"Dense_{i}"] for i in range(len(hidden) + 1)}
    return {"actor": actor, "stats": stats._asdict()}


def observation_layout() -> list[dict]:
    """[{name, slice, unit, description}] from `task.OBS_LAYOUT`."""
    return [{"name": name, "slice": [task.OBS_SLICES[name].start, task.OBS_SLICES[name].stop],
             "unit": unit, "description": description}
            for name, _, unit, description in task.OBS_LAYOUT]


def versions() -> dict:
    out = {name: importlib.metadata.version(name) for name in PACKAGES}
    return {**out, "python": platform.python_version(), "manifest_format": pol.FORMAT_VERSION}


def base_identity(run: RunConfig, env: PaperReturn) -> dict:
    """Name, horizon and active flag of the run's base. Built-in bases (zero, scripted) are built
    by the trainer's `make_base` to read them (`scripted:<noise>` included); model bases
    (`bridge.base.is_model_base`) are not loaded: they are active, with the configured horizon
    (None: the model's chunk length)."""
    if is_model_base(run.base):
        return {"name": run.base, "horizon": run.base_horizon, "active": 1.0}
    base = make_base(run.base, env, run.base_horizon)
    return {"name": base.name, "horizon": base.horizon, "active": float(base.active)}


def manifest(checkpoint: Path, config: dict, env: PaperReturn, base: dict, hidden,
             params_dir: Path, tree: dict) -> dict:
    """manifest.json of an export (without its `jax_export` entry); see the README."""
    cfg = env.config
    return {
        "format": pol.FORMAT, "format_version": pol.FORMAT_VERSION,
        "obs_size": task.OBS_SIZE, "action_size": pol.ACTION_SIZE,
        "policy_input_size": pol.POLICY_INPUT, "joint_order": list(ARM_JOINTS),
        "observation": observation_layout(),
        "observation_frame": "world frame, table top at z = 0, robot base at "
                             f"{[round(float(x), 4) for x in env.robot_xy]} m (x, y)",
        "policy_input": "[obs (25), base_in (6) rad], normalised by params/stats: "
                        "clip((x - mean) / sqrt(m2 / count + 1e-8), -10, 10)",
        "action": {
            "unit": "sim radians (MuJoCo joint angles of assets/so101.xml, order joint_order); "
                    "converting to and from the robot's units is the bridge's job",
            "control_law": "target = clip(last_target + base_filter * (base_action - last_target) "
                           "+ alpha * action_scale * residual, joint_lower, joint_upper)",
            "alpha": cfg.alpha,
            "base_filter": cfg.base_filter if base["active"] else 1.0,
            "base_filter_note": "the residual layer's setpoint filter: last_target is the previous "
                                "setpoint sent (the measured joints before the first); 1: none",
            "action_scale": control.mode_action_scale(cfg, base["active"]),
            "action_scale_note": "rad per unit residual: an offset from the base's target with an "
                                 "active base (env action_scale), a step from the previous target "
                                 "without one (env hold_action_scale)",
            "joint_lower": [float(x) for x in env.joint_lower],
            "joint_upper": [float(x) for x in env.joint_upper],
            "control_hz": round(1.0 / cfg.ctrl_dt, 6),
        },
        "base_policy": {
            **base,
            "base_input": ("base_action: the base policy's joint target (rad)" if base["active"] else
                           "zeros: the base holds the pose; pass the previous joint target as "
                           "base_action (the network sees zeros, the residual is added to it)"),
        },
        "network": {"hidden": list(hidden), "activation": pol.ACTIVATION,
                    "layers": [f"Dense_{i}" for i in range(len(hidden) + 1)],
                    "output": "residual (6,) = tanh(last layer) in (-1, 1): the deterministic policy "
                              "(tanh of the squashed Gaussian's mean)"},
        "params": {"dir": pol.PARAMS_DIR, "files": pol.list_files(params_dir),
                   "sha256": pol.hash_files(params_dir), "arrays_sha256": pol.hash_arrays(tree),
                   "layout": "orbax StandardCheckpointer, float32: actor {Dense_i: kernel (in, out), "
                             "bias (out,)}, stats {count (), mean (31,), m2 (31,)}"},
        "source": {"checkpoint": str(checkpoint), "run": checkpoint.parent.parent.name,
                   "iteration": int(checkpoint.name) if checkpoint.name.isdigit() else None,
                   "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
        "training_config": config,
        "versions": versions(),
    }


def jax_exported(policy: pol.Policy) -> jax.export.Exported:
    """`jax.export` of obs (b, 25), base (b, 6), last target (b, 6) float32 -> joint target (b, 6)
    rad, params baked in."""
    def fn(obs, base_action, last_target):
        return pol.joint_target(policy.actor, policy.stats, policy.joint_lower, policy.joint_upper,
                                obs, base_action, last_target, hidden=policy.hidden,
                                scale=policy.scale, base_active=policy.base_active,
                                base_filter=policy.base_filter)
    (b,) = jax.export.symbolic_shape("b")
    f32 = lambda n: jax.ShapeDtypeStruct((b, n), jp.float32)  # noqa: E731
    return jax.export.export(jax.jit(fn), platforms=PLATFORMS)(
        f32(task.OBS_SIZE), f32(pol.ACTION_SIZE), f32(pol.ACTION_SIZE))


def write_jax_export(exported: jax.export.Exported, path: Path) -> dict:
    """Serialize `exported` to `path`; the manifest entry (without `flatbuffers`: none, and why)."""
    entry = {"file": None, "platforms": list(PLATFORMS), "inputs": ["obs (b, 25) float32",
             "base_action (b, 6) float32", "last_target (b, 6) float32"],
             "output": "joint target (b, 6) float32 rad",
             "calling_convention_version": exported.calling_convention_version}
    if importlib.util.find_spec("flatbuffers") is None:
        return {**entry, "missing_reason": "jax.export serialization needs the 'flatbuffers' "
                "package, which was not installed when this was exported"}
    data = bytes(exported.serialize())
    path.write_bytes(data)
    return {**entry, "file": path.name, "sha256": pol.hash_bytes(data)}


def verify(policy: pol.Policy, exported, ppo: PPOConfig, params: dict, stats: RunningStats,
           log=print) -> None:
    """The export, loaded back from disk, against the trainer's deterministic policy (the whole
    ActorCritic on the checkpoint's params; ExportError beyond 1e-5 rad, the tests check
    bit-exactness against `Agent.deterministic_residual`)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    obs = jax.random.normal(k1, (64, task.OBS_SIZE))
    base, last = (jax.random.uniform(k, (64, pol.ACTION_SIZE), minval=policy.joint_lower,
                                     maxval=policy.joint_upper) for k in (k2, k3))
    x = normalize(stats, jp.concatenate([obs, base * policy.base_active], axis=-1))
    mean, _, _ = ActorCritic(hidden=ppo.hidden, init_log_std=ppo.init_log_std).apply(params, x)
    want = control.joint_target(control.filtered_base(base, last, policy.base_filter),
                                networks.squash(mean), policy.scale, policy.joint_lower,
                                policy.joint_upper)
    errs = {name: float(jp.abs(fn(obs, base, last) - want).max())
            for name, fn in (("policy", policy), ("jax.export", exported))}
    text = ", ".join(f"{name} {e:.2g}" for name, e in errs.items())
    if not all(e <= 1e-5 for e in errs.values()):
        raise pol.ExportError(f"the export differs from the checkpoint's deterministic policy "
                              f"(max |diff| rad: {text})")
    log(f"verified against the trainer's deterministic policy on 64 random inputs "
        f"(max |diff| rad: {text})")


def write_json(path: Path, m: dict) -> None:
    with open(path, "w") as f:
        f.write(json.dumps(m, indent=1))
        f.flush()
        os.fsync(f.fileno())


def write(checkpoint: Path, tmp: Path, log=print) -> dict:
    """Write the export of `checkpoint` into the empty directory `tmp`; returns the manifest."""
    config = json.loads(config_path(checkpoint).read_text())
    cfg = configs(config)
    run, ppo, env_cfg = cfg.run, cfg.ppo, cfg.env
    env = PaperReturn(dataclasses.replace(env_cfg, impl="jax"))  # for its joint limits
    base = base_identity(run, env)
    params, stats = restore_params(checkpoint, ppo)
    log(f"checkpoint {checkpoint}: base {base['name']}, hidden {list(ppo.hidden)}, "
        f"alpha {env_cfg.alpha}, action_scale {control.mode_action_scale(env_cfg, base['active'])} rad")
    tree = saved_tree(params, stats, ppo.hidden)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(tmp / pol.PARAMS_DIR, tree)
    ckpt.wait_until_finished()
    m = manifest(checkpoint, config, env, base, ppo.hidden, tmp / pol.PARAMS_DIR, tree)
    policy = pol.restore_policy(tmp, pol.check_manifest(m, tmp))  # from the files just written
    exported = jax_exported(policy)
    m["jax_export"] = write_jax_export(exported, tmp / pol.JAX_EXPORT)
    if m["jax_export"]["file"] is None:
        log(f"warning: no {pol.JAX_EXPORT}: {m['jax_export']['missing_reason']}")
        exported = pol.ExportedPolicy(exported, m)  # check the in-memory one instead
    else:
        exported = pol.read_exported(tmp, m)
    pol.check_binding(policy, exported, tmp)
    verify(policy, exported, ppo, params, stats, log)
    write_json(tmp / pol.INTEGRITY, pol.integrity_record(m))
    write_json(tmp / pol.MANIFEST, m)  # last: a directory without it never loads
    return m


def export(checkpoint, out, force: bool = False, log=print) -> Path:
    """Export `checkpoint` (or a run dir's latest) to `out`, atomically: everything goes into a
    hidden sibling `.<out>.tmp-<pid>`, renamed to `out` at the end and removed on any error.
    An existing `out` is refused unless `force`."""
    checkpoint = find_checkpoint(checkpoint)
    out = Path(out).resolve()
    with atomic_directory(out, force) as tmp:
        write(checkpoint, tmp, log)
    log(f"exported to {out}")
    return out


def default_out(checkpoint: Path) -> Path:
    """exports/<run name>-<iteration>, relative to the working directory."""
    return Path("exports") / f"{checkpoint.parent.parent.name}-{checkpoint.name}"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ppo.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="runs/<name>/checkpoints/<iteration>, or a run dir (its latest)")
    p.add_argument("out", nargs="?", help="export directory (default exports/<run name>-<iteration>)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing export directory; export a run dir even when its "
                        "residual did not beat the base alone (selection.json)")
    return p.parse_args(argv)


def main(argv=None) -> Path:
    args = parse(argv)
    run_dir = Path(args.checkpoint)
    record = selection.read(run_dir) if (run_dir / "checkpoints").is_dir() else None
    if record and record.get("best"):
        if not record.get("residual_helped") and not args.force:
            print(f"ppo.export: {run_dir}: {selection.verdict(record)}: nothing exported (pass "
                  "--force, or the checkpoint's path, to export it anyway)", file=sys.stderr)
            raise SystemExit(2)
        print(f"ppo.export: {run_dir}: {selection.verdict(record)}; exporting that checkpoint "
              f"(selection.json)")
    try:
        checkpoint = find_checkpoint(args.checkpoint)
        return export(checkpoint, Path(args.out) if args.out else default_out(checkpoint), args.force)
    except (pol.ExportError, FileExistsError) as e:
        raise SystemExit(f"ppo.export: {e}") from None


if __name__ == "__main__":
    main()
