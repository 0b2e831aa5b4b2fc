"""Load an exported residual (`python -m ppo.export`) without the trainer: JAX, jax.export, torch.

    policy = load("exports/zero_cpu-150")       # checks manifest.json and the params' hash
    target = policy(obs, base_action)           # (25,), (6,) or (B, 25), (B, 6) -> (..., 6) rad
    module = to_torch("exports/zero_cpu-150")   # the same residual as a torch.nn.Module

The control law is the env's: `target = clip(base + alpha * action_scale * residual, joint
limits)` with `residual = tanh(actor(normalise([obs, base_in])))`, float32, sim radians
(order `mjx_env.scene.ARM_JOINTS`). For an inactive base (`zero`) the network saw `base_in = 0`
in training and the env added the residual to the previous target: pass the previous target as
`base_action`. This module imports no trainer code (no ppo.train, ppo.agent, torch at load).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jp
import numpy as np
import orbax.checkpoint as ocp

from mjx_env import control
from mjx_env.scene import ARM_JOINTS
from mjx_env.task import OBS_SIZE, OBS_SLICES
from ppo.networks import RunningStats, normalize, squash

FORMAT = "paper_return-residual-policy"
FORMAT_VERSION = 2  # 2: tanh-squashed residual (1: clipped mean)
ACTION_SIZE = 6
POLICY_INPUT = OBS_SIZE + ACTION_SIZE  # observation + base action
MANIFEST, PARAMS_DIR, JAX_EXPORT = "manifest.json", "params", "policy.jax_export"
ACTIVATION = "swish"


class ExportError(ValueError):
    """An export directory that this loader refuses: the message names the mismatch."""


class Actor(nn.Module):
    """The actor branch of `ppo.networks.ActorCritic`, same layer names (Dense_0..Dense_n):
    normalised input (..., 31) -> pre-squash mean (..., 6); the residual is tanh of it."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.swish(nn.Dense(width)(x))
        return nn.Dense(ACTION_SIZE)(x)


@partial(jax.jit, static_argnames=("hidden", "scale", "base_active"))
def joint_target(actor, stats, lower, upper, obs, base_action, *, hidden, scale, base_active):
    """Joint target (..., 6) rad of obs (..., 25) and base action (..., 6) rad, float32."""
    x = normalize(stats, jp.concatenate([obs, base_action * base_active], axis=-1))
    residual = squash(Actor(hidden).apply({"params": actor}, x))
    return control.joint_target(base_action, residual, 1.0, scale, lower, upper)


@dataclass(frozen=True)
class Policy:
    """A loaded export; `policy(obs, base_action) -> joint_target`, jitted per input shape."""

    actor: dict  # Flax params {"Dense_i": {"kernel", "bias"}}
    stats: RunningStats  # normaliser of the policy input (31,)
    hidden: tuple[int, ...]
    scale: float  # alpha * action_scale, rad per unit residual (a Python float, as in the env)
    base_active: float  # 1: the network sees base_action; 0: it sees zeros (hold base)
    joint_lower: jax.Array  # (6,) rad
    joint_upper: jax.Array  # (6,) rad
    manifest: dict

    def __call__(self, obs, base_action) -> jax.Array:
        obs, base_action = check_inputs(obs, base_action)
        return joint_target(self.actor, self.stats, self.joint_lower, self.joint_upper, obs,
                            base_action, hidden=self.hidden, scale=self.scale,
                            base_active=self.base_active)


def check_inputs(obs, base_action) -> tuple[jax.Array, jax.Array]:
    """float32 obs (25,)|(B, 25) and base action (6,)|(B, 6), or ValueError naming the shapes."""
    obs, base_action = jp.asarray(obs, jp.float32), jp.asarray(base_action, jp.float32)
    if (obs.ndim not in (1, 2) or obs.shape[-1] != OBS_SIZE or base_action.shape[-1:] != (ACTION_SIZE,)
            or obs.shape[:-1] != base_action.shape[:-1]):
        raise ValueError(f"expected obs ({OBS_SIZE},) and base_action ({ACTION_SIZE},), or "
                         f"(B, {OBS_SIZE}) and (B, {ACTION_SIZE}); got {obs.shape} and {base_action.shape}")
    return obs, base_action


# --- hashes -------------------------------------------------------------------------------
def list_files(root: Path) -> dict[str, int]:
    """{relative posix path: size in bytes} of every file under `root`, sorted by path."""
    files = {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    return dict(sorted(files.items()))


def hash_files(root: Path) -> str:
    """sha256 over the files under `root` in sorted relative-path order: path, size, bytes."""
    h = hashlib.sha256()
    for rel in list_files(root):
        data = (root / rel).read_bytes()
        h.update(rel.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def hash_arrays(tree) -> str:
    """sha256 over the arrays of a pytree in key-path order: path, dtype, shape, bytes."""
    h = hashlib.sha256()
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    for path, x in sorted((jax.tree_util.keystr(p), np.asarray(x)) for p, x in leaves):
        h.update(f"{path}|{x.dtype.str}|{x.shape}".encode() + np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- manifest checks ----------------------------------------------------------------------
def _layout() -> dict[str, list[int]]:
    return {name: [s.start, s.stop] for name, s in OBS_SLICES.items()}


REQUIRED = ("params.files", "params.sha256", "params.arrays_sha256", "network.hidden",
            "action.alpha", "action.action_scale", "base_policy.active")


def check_manifest(m: dict, where: Path) -> dict:
    """`m` if it matches this loader (format, sizes, joint order, layout), else ExportError
    naming every mismatch."""
    if not isinstance(m, dict):
        raise ExportError(f"{where}: the manifest is not a JSON object")
    expect = [("format", FORMAT), ("format_version", FORMAT_VERSION), ("obs_size", OBS_SIZE),
              ("action_size", ACTION_SIZE), ("policy_input_size", POLICY_INPUT),
              ("joint_order", list(ARM_JOINTS))]
    bad = [f"manifest {key} {m.get(key)!r} != {want!r}" for key, want in expect if m.get(key) != want]
    for key in REQUIRED:
        section, field = key.split(".")
        if not isinstance(m.get(section), dict) or field not in m[section]:
            bad.append(f"manifest lacks {key}")
    layout = {o.get("name"): o.get("slice") for o in m.get("observation", []) if isinstance(o, dict)}
    if layout != _layout():
        bad.append(f"manifest observation layout {layout} != {_layout()}")
    if (act := m.get("network", {}).get("activation")) != ACTIVATION:
        bad.append(f"manifest network activation {act!r} != {ACTIVATION!r}")
    limits = [m.get("action", {}).get(k) for k in ("joint_lower", "joint_upper")]
    if not all(isinstance(v, list) and len(v) == ACTION_SIZE for v in limits):
        bad.append(f"manifest joint limits {limits} are not two lists of {ACTION_SIZE} angles")
    if bad:
        raise ExportError(f"{where}: " + "; ".join(bad))
    return m


def read_manifest(out_dir: Path) -> dict:
    """The checked manifest.json of an export directory (ExportError if missing or mismatched)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise ExportError(f"{path} missing: not an export, or an interrupted one")
    try:
        return check_manifest(json.loads(path.read_text()), path)
    except json.JSONDecodeError as e:
        raise ExportError(f"{path} is not valid JSON ({e}): truncated or modified?") from None


def check_params_files(out_dir: Path, manifest: dict) -> None:
    """ExportError unless the files under params/ are exactly those the manifest lists, with
    their sizes and hash."""
    root, want = Path(out_dir) / PARAMS_DIR, manifest["params"]
    have = list_files(root) if root.is_dir() else {}
    bad = [f"params file {rel} missing" for rel in want["files"] if rel not in have]
    bad += [f"params file {rel} is {have[rel]} bytes, manifest says {size} (truncated or modified?)"
            for rel, size in want["files"].items() if rel in have and have[rel] != size]
    bad += [f"unexpected params file {rel}" for rel in have if rel not in want["files"]]
    if not bad and (got := hash_files(root)) != want["sha256"]:
        bad.append(f"params hash mismatch: manifest {want['sha256'][:16]}..., files {got[:16]}... "
                   "(file truncated or modified?)")
    if bad:
        raise ExportError(f"{out_dir}: " + "; ".join(bad))


def params_template(hidden: Sequence[int]) -> dict:
    """ShapeDtypeStructs of the saved tree {"actor": ..., "stats": ...} (restored as numpy)."""
    sizes = [POLICY_INPUT, *hidden, ACTION_SIZE]
    f32 = partial(jax.ShapeDtypeStruct, dtype=np.float32)
    actor = {f"Dense_{i}": {"kernel": f32((a, b)), "bias": f32((b,))}
             for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))}
    return {"actor": actor, "stats": {"count": f32(()), "mean": f32((POLICY_INPUT,)),
                                      "m2": f32((POLICY_INPUT,))}}


# --- loaders ------------------------------------------------------------------------------
def load(out_dir, manifest: dict | None = None) -> Policy:
    """The exported residual as a jitted JAX policy; ExportError if the export does not match.
    `manifest` (checked) replaces manifest.json: the exporter loads what it wrote before that."""
    out_dir = Path(out_dir).resolve()
    m = read_manifest(out_dir) if manifest is None else check_manifest(manifest, out_dir)
    check_params_files(out_dir, m)
    hidden = tuple(m["network"]["hidden"])
    try:
        tree = ocp.StandardCheckpointer().restore(out_dir / PARAMS_DIR, params_template(hidden))
    except Exception as e:  # noqa: BLE001  (orbax raises many kinds)
        raise ExportError(f"{out_dir / PARAMS_DIR}: orbax could not restore the params ({e})") from e
    if (got := hash_arrays(tree)) != m["params"]["arrays_sha256"]:
        raise ExportError(f"{out_dir}: params arrays hash mismatch: manifest "
                          f"{m['params']['arrays_sha256'][:16]}..., restored {got[:16]}...")
    act, s = m["action"], tree["stats"]
    return Policy(
        actor=jax.tree.map(jp.asarray, tree["actor"]),
        stats=RunningStats(jp.asarray(s["count"]), jp.asarray(s["mean"]), jp.asarray(s["m2"])),
        hidden=hidden, scale=float(act["alpha"]) * float(act["action_scale"]),
        base_active=float(m["base_policy"]["active"]),
        joint_lower=jp.asarray(act["joint_lower"], jp.float32),
        joint_upper=jp.asarray(act["joint_upper"], jp.float32), manifest=m)


@dataclass(frozen=True)
class ExportedPolicy:
    """The deserialized `jax.export` artefact: `policy(obs, base_action) -> joint_target`."""

    exported: jax.export.Exported
    manifest: dict

    def __call__(self, obs, base_action) -> jax.Array:
        obs, base_action = check_inputs(obs, base_action)
        if obs.ndim == 1:
            return self.exported.call(obs[None], base_action[None])[0]
        return self.exported.call(obs, base_action)


def load_exported(out_dir, manifest: dict | None = None) -> ExportedPolicy:
    """The serialized `jax.export` function (params baked in) of an export, hash-checked."""
    out_dir = Path(out_dir).resolve()
    m = read_manifest(out_dir) if manifest is None else check_manifest(manifest, out_dir)
    info, path = m.get("jax_export") or {}, out_dir / JAX_EXPORT
    if not info.get("file"):
        raise ExportError(f"{out_dir} has no {JAX_EXPORT}: {info.get('missing_reason', 'not exported')}")
    if not path.is_file():
        raise ExportError(f"{path} missing")
    data = path.read_bytes()
    if (got := hash_bytes(data)) != info["sha256"]:
        raise ExportError(f"{JAX_EXPORT} hash mismatch: manifest {info['sha256'][:16]}..., file "
                          f"{got[:16]}... (file truncated or modified?)")
    return ExportedPolicy(jax.export.deserialize(bytearray(data)), m)


def to_torch(out_dir):
    """The exported residual as a float32 `torch.nn.Module` (eval mode, no grad):
    `forward(obs (B, 25) | (25,), base_action (B, 6) | (6,)) -> joint target (..., 6) rad`.
    The class is local (torch is imported here only): keep its `state_dict`, or
    `torch.jit.trace` it, rather than pickling the module."""
    policy = load(out_dir)
    import torch  # lazy: no module under ppo/ imports torch at top level

    f32 = lambda a: torch.from_numpy(np.array(a, np.float32))  # noqa: E731
    stats = jax.tree.map(lambda a: np.asarray(a, np.float32), policy.stats)
    std = np.sqrt(stats.m2 / stats.count + np.float32(1e-8))  # as ppo.networks.normalize

    class ResidualPolicy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList()
            for i in range(len(policy.hidden) + 1):
                p = policy.actor[f"Dense_{i}"]
                layer = torch.nn.Linear(*p["kernel"].shape)
                layer.weight.data.copy_(f32(p["kernel"]).T)
                layer.bias.data.copy_(f32(p["bias"]))
                self.layers.append(layer)
            for name, value in (("mean", stats.mean), ("std", std), ("joint_lower", policy.joint_lower),
                                ("joint_upper", policy.joint_upper)):
                self.register_buffer(name, f32(value))
            self.scale, self.base_active = policy.scale, policy.base_active

        def forward(self, obs, base_action):
            x = torch.cat([obs, base_action * self.base_active], dim=-1)
            x = torch.clamp((x - self.mean) / self.std, -10.0, 10.0)
            for layer in self.layers[:-1]:
                x = torch.nn.functional.silu(layer(x))  # swish
            residual = torch.tanh(self.layers[-1](x))
            return torch.clamp(base_action + self.scale * residual, self.joint_lower, self.joint_upper)

    return ResidualPolicy().eval().requires_grad_(False)
