"""Load an exported residual (`python -m ppo.export`) without the trainer: JAX, jax.export, torch.

    policy = load("exports/zero_cpu-150")       # checks every file, hash and value (below)
    target = policy(obs, base_action, last)     # (25,), (6,), (6,) or batched (B, ...) -> (..., 6) rad
    module = to_torch("exports/zero_cpu-150")   # the same residual as a torch.nn.Module

The control law is the env's: `target = clip(last + k (base - last) + alpha * action_scale *
residual, joint limits)` with `residual = tanh(actor(normalise([obs, base_in])))`, float32, sim
radians (order `mjx_env.scene.ARM_JOINTS`), `last` the previous setpoint sent (the measured
joints before the first) and `k` the residual layer's setpoint filter (`action.base_filter`; 1:
none, and then `last` may be left out). For an inactive base (`zero`) the network saw
`base_in = 0` in training and the env added the residual to the previous target: pass the
previous target as `base_action` (k is 1). This module imports no trainer code (no ppo.train,
ppo.agent, torch at load).

Every loader refuses (ExportError naming the file or field) an export whose files are missing,
truncated or altered: params/ and policy.jax_export against the manifest's hashes, the manifest
against integrity.json, and every manifest value that changes the robot's command (joint
limits, alpha x action_scale, base_filter, base_policy.active, network.hidden) against what the
artefact and the params actually do; so `load`, `load_exported` and `to_torch` agree or refuse.
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
from policy.networks import ACTION_SIZE, POLICY_INPUT, RunningStats, normalize, squash

FORMAT = "paper_return-residual-policy"
FORMAT_VERSION = 3  # 3: + the setpoint filter (input last_target); 2: tanh residual; 1: clipped
MANIFEST, PARAMS_DIR, JAX_EXPORT = "manifest.json", "params", "policy.jax_export"
INTEGRITY = "integrity.json"  # the manifest's hash, bound to the params' and artefact's hashes
ACTIVATION = "swish"


class ExportError(ValueError):
    """An export directory that this loader refuses: the message names the mismatch."""


class Actor(nn.Module):
    """The actor branch of `policy.networks.ActorCritic`, same layer names (Dense_0..Dense_n):
    normalised input (..., 31) -> pre-squash mean (..., 6); the residual is tanh of it."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.swish(nn.Dense(width)(x))
        return nn.Dense(ACTION_SIZE)(x)


def residual(actor, stats, obs, base_in, *, hidden) -> jax.Array:
    """Residual (..., 6) in (-1, 1) = tanh(actor(normalise([obs (..., 25), base_in (..., 6)])))."""
    x = normalize(stats, jp.concatenate([obs, base_in], axis=-1))
    return squash(Actor(hidden).apply({"params": actor}, x))


_residual = jax.jit(residual, static_argnames="hidden")


@partial(jax.jit, static_argnames=("hidden", "scale", "base_active", "base_filter"))
def joint_target(actor, stats, lower, upper, obs, base_action, last_target, *, hidden, scale,
                 base_active, base_filter):
    """Joint target (..., 6) rad of obs (..., 25), base action (..., 6) rad and the previous
    setpoint (..., 6) rad, float32."""
    r = residual(actor, stats, obs, base_action * base_active, hidden=hidden)
    base = control.filtered_base(base_action, last_target, base_filter)
    return control.joint_target(base, r, scale, lower, upper)


@dataclass(frozen=True)
class Policy:
    """A loaded export; `policy(obs, base_action, last_target) -> joint_target`, jitted per input
    shape (`last_target` may be left out where `base_filter` is 1)."""

    actor: dict  # Flax params {"Dense_i": {"kernel", "bias"}}
    stats: RunningStats  # normaliser of the policy input (31,)
    hidden: tuple[int, ...]
    scale: float  # alpha * action_scale, rad per unit residual (a Python float, as in the env)
    base_active: float  # 1: the network sees base_action; 0: it sees zeros (hold base)
    base_filter: float  # k of the setpoint filter: last + k (base - last); 1: none
    joint_lower: jax.Array  # (6,) rad
    joint_upper: jax.Array  # (6,) rad
    manifest: dict

    def __call__(self, obs, base_action, last_target=None) -> jax.Array:
        obs, base_action, last_target = check_inputs(obs, base_action, last_target,
                                                     self.base_filter)
        return joint_target(self.actor, self.stats, self.joint_lower, self.joint_upper, obs,
                            base_action, last_target, hidden=self.hidden, scale=self.scale,
                            base_active=self.base_active, base_filter=self.base_filter)


def require_last_target(base_filter: float) -> None:
    """ValueError where the law filters the base (`base_filter` < 1) and no last target came."""
    if base_filter != 1.0:
        raise ValueError(f"this export filters the base target (action.base_filter "
                         f"{base_filter:g}): pass last_target, the previous setpoint sent "
                         f"(rad; the measured joints before the first)")


def check_inputs(obs, base_action, last_target, base_filter: float
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """float32 obs (25,)|(B, 25), base action and last target (6,)|(B, 6) (None: the base
    action, allowed only where `base_filter` is 1), or ValueError naming the shapes."""
    if last_target is None:
        require_last_target(base_filter)
        last_target = base_action
    obs, base_action, last_target = (jp.asarray(x, jp.float32)
                                     for x in (obs, base_action, last_target))
    if (obs.ndim not in (1, 2) or obs.shape[-1] != OBS_SIZE or base_action.shape[-1:] != (ACTION_SIZE,)
            or obs.shape[:-1] != base_action.shape[:-1] or last_target.shape != base_action.shape):
        raise ValueError(f"expected obs ({OBS_SIZE},), base_action and last_target "
                         f"({ACTION_SIZE},), or (B, {OBS_SIZE}), (B, {ACTION_SIZE}), "
                         f"(B, {ACTION_SIZE}); got {obs.shape}, {base_action.shape} and "
                         f"{last_target.shape}")
    return obs, base_action, last_target


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
            "action.alpha", "action.action_scale", "action.base_filter", "base_policy.active")


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
    if not all(isinstance(v, list) and len(v) == ACTION_SIZE and all(map(_is_finite, v)) for v in limits):
        bad.append(f"manifest joint limits {limits} are not two lists of {ACTION_SIZE} angles")
    for key in ("action.alpha", "action.action_scale", "action.base_filter", "base_policy.active"):
        section, field = key.split(".")
        if field in m.get(section, {}) and not _is_finite(m[section][field]):
            bad.append(f"manifest {key} {m[section][field]!r} is not a finite number")
    if _is_finite(k := m.get("action", {}).get("base_filter")) and not 0 < k <= 1:
        bad.append(f"manifest action.base_filter {k!r} is not in (0, 1]")
    if bad:
        raise ExportError(f"{where}: " + "; ".join(bad))
    return m


def _is_finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and bool(np.isfinite(x))


def manifest_sha256(m: dict) -> str:
    """sha256 of a manifest's canonical JSON (sorted keys, no spaces)."""
    return hash_bytes(json.dumps(m, sort_keys=True, separators=(",", ":")).encode())


def integrity_record(m: dict) -> dict:
    """integrity.json: the manifest's hash beside the hashes it holds of the params and the
    artefact, so an edit of manifest.json alone (or of integrity.json alone) is detected."""
    return {"manifest_sha256": manifest_sha256(m), "params_sha256": m["params"]["sha256"],
            "params_arrays_sha256": m["params"]["arrays_sha256"],
            "jax_export_sha256": (m.get("jax_export") or {}).get("sha256")}


def check_integrity(out_dir: Path, m: dict) -> None:
    """ExportError unless integrity.json matches the manifest."""
    path = Path(out_dir) / INTEGRITY
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(f"{path} missing or unreadable ({type(e).__name__}): re-export the "
                          "checkpoint") from None
    want = integrity_record(m)
    bad = [k for k, v in want.items() if not isinstance(record, dict) or record.get(k) != v]
    if bad:
        raise ExportError(f"{out_dir}: {MANIFEST} does not match {INTEGRITY} ({', '.join(bad)} "
                          "differ): one of them was edited after export; re-export the checkpoint")


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
def restore_policy(out_dir: Path, m: dict) -> Policy:
    """The Policy of params/ under the (checked) manifest `m`: files, layer shapes and array
    hash checked; the manifest itself is not yet checked against integrity.json or the artefact."""
    check_params_files(out_dir, m)
    hidden = tuple(m["network"]["hidden"])
    template = params_template(hidden)
    try:
        tree = ocp.StandardCheckpointer().restore(out_dir / PARAMS_DIR, template)
    except Exception as e:  # noqa: BLE001  (orbax raises many kinds)
        raise ExportError(f"{out_dir / PARAMS_DIR}: orbax could not restore the params with "
                          f"manifest network.hidden {list(hidden)} ({e})") from e
    shapes = [np.shape(x) for x in jax.tree.leaves(tree)]
    if shapes != [x.shape for x in jax.tree.leaves(template)]:
        widths = [np.shape(tree["actor"][f"Dense_{i}"]["bias"])[0] for i in range(len(tree["actor"]) - 1)]
        raise ExportError(f"{out_dir}: manifest network.hidden {list(hidden)} does not match the "
                          f"params' layer widths {widths}")
    if (got := hash_arrays(tree)) != m["params"]["arrays_sha256"]:
        raise ExportError(f"{out_dir}: params arrays hash mismatch: manifest "
                          f"{m['params']['arrays_sha256'][:16]}..., restored {got[:16]}...")
    act, s = m["action"], tree["stats"]
    return Policy(
        actor=jax.tree.map(jp.asarray, tree["actor"]),
        stats=RunningStats(jp.asarray(s["count"]), jp.asarray(s["mean"]), jp.asarray(s["m2"])),
        hidden=hidden, scale=float(act["alpha"]) * float(act["action_scale"]),
        base_active=float(m["base_policy"]["active"]), base_filter=float(act["base_filter"]),
        joint_lower=jp.asarray(act["joint_lower"], jp.float32),
        joint_upper=jp.asarray(act["joint_upper"], jp.float32), manifest=m)


@dataclass(frozen=True)
class ExportedPolicy:
    """The deserialized `jax.export` artefact: `policy(obs, base_action, last_target) ->
    joint_target` (`last_target` may be left out where the manifest's base_filter is 1)."""

    exported: jax.export.Exported
    manifest: dict

    def __call__(self, obs, base_action, last_target=None) -> jax.Array:
        k = float(self.manifest["action"]["base_filter"])
        obs, base_action, last_target = check_inputs(obs, base_action, last_target, k)
        if obs.ndim == 1:
            return self.exported.call(obs[None], base_action[None], last_target[None])[0]
        return self.exported.call(obs, base_action, last_target)


def read_exported(out_dir: Path, m: dict) -> ExportedPolicy | None:
    """The hash-checked `jax.export` artefact, or None when the export has none (exported
    without `flatbuffers`)."""
    info, path = m.get("jax_export") or {}, Path(out_dir) / JAX_EXPORT
    if not info.get("file"):
        return None
    if not path.is_file():
        raise ExportError(f"{path} missing")
    data = path.read_bytes()
    if (got := hash_bytes(data)) != info.get("sha256"):
        raise ExportError(f"{JAX_EXPORT} hash mismatch: manifest {str(info.get('sha256'))[:16]}..., "
                          f"file {got[:16]}... (file truncated or modified?)")
    return ExportedPolicy(jax.export.deserialize(bytearray(data)), m)


def baked_control(policy: Policy, exported: ExportedPolicy) -> dict:
    """The control law the artefact applies, read off its outputs: the joint limits (a base far
    outside them is clipped onto them), and, on 16 fixed inputs inside the limits, the scale
    (rad per unit residual) and whether the network sees the base, by fitting target - base to
    the params' residual with (1) and without (0) the base as input; and the setpoint filter's
    k, from the same inputs with the previous setpoint 0.01 rad behind the base."""
    big = np.full((2, ACTION_SIZE), 1e3, np.float32) * np.array([[-1.0], [1.0]], np.float32)
    lower, upper = np.asarray(exported(np.zeros((2, OBS_SIZE), np.float32), big, big))
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(16, OBS_SIZE)).astype(np.float32)
    base = ((lower + upper) / 2 + (upper - lower) / 8 * rng.uniform(-1, 1, (16, ACTION_SIZE))
            ).astype(np.float32)
    delta = np.asarray(exported(obs, base, base), np.float64) - base
    fits = {}
    for active in (0.0, 1.0):
        r = np.asarray(_residual(policy.actor, policy.stats, obs, base * active,
                                 hidden=policy.hidden), np.float64)
        scale = float((delta * r).sum() / max((r * r).sum(), 1e-30))
        fits[active] = (float(np.abs(delta - scale * r).max()), scale)
    active = min(fits, key=lambda a: fits[a][0])
    behind = np.asarray(exported(obs, base, base - np.float32(0.01)), np.float64) - base - delta
    return {"joint_lower": lower, "joint_upper": upper, "base_active": active,
            "scale": fits[active][1], "fit_error": fits[active][0],
            "base_filter": float(1.0 + np.median(behind) / 0.01)}


def check_binding(policy: Policy, exported: ExportedPolicy, where) -> None:
    """ExportError naming every manifest value that reaches the robot (joint limits, alpha x
    action_scale, base_policy.active) and differs from what `policy.jax_export` applies."""
    got, act = baked_control(policy, exported), policy.manifest["action"]
    bad = []
    for name in ("joint_lower", "joint_upper"):
        want = np.asarray(act[name], np.float32)
        bad += [f"action.{name}[{i}] is {want[i]:.6g} rad, policy.jax_export clips at "
                f"{got[name][i]:.6g}" for i in np.flatnonzero(np.abs(got[name] - want) > 1e-6)]
    if got["fit_error"] > 1e-5:
        bad.append(f"policy.jax_export does not apply the residual of params/ (off by up to "
                   f"{got['fit_error']:.2g} rad): they come from different policies")
    else:
        if got["base_active"] != policy.base_active:
            bad.append(f"base_policy.active is {policy.base_active:g}, policy.jax_export's network "
                       f"sees {'the base action' if got['base_active'] else 'zeros'} "
                       f"(active {got['base_active']:g})")
        if not np.isclose(got["base_filter"], policy.base_filter, atol=1e-3):
            bad.append(f"action.base_filter is {policy.base_filter:g}, policy.jax_export filters "
                       f"the base with k = {got['base_filter']:.4g}")
        if not np.isclose(got["scale"], policy.scale, rtol=1e-4, atol=1e-7):
            bad.append(f"action.alpha x action.action_scale is {act['alpha']} x "
                       f"{act['action_scale']} = {policy.scale:.6g} rad, policy.jax_export applies "
                       f"{got['scale']:.6g} rad")
    if bad:
        raise ExportError(f"{where}: {MANIFEST} disagrees with {JAX_EXPORT}: " + "; ".join(bad))


def _open(out_dir) -> tuple[Policy, ExportedPolicy | None]:
    """Both forms of an export, after every check: manifest format, params files and arrays,
    the manifest's robot-facing values against the artefact, the manifest against integrity.json."""
    out_dir = Path(out_dir).resolve()
    m = read_manifest(out_dir)
    policy = restore_policy(out_dir, m)
    exported = read_exported(out_dir, m)
    if exported is not None:
        check_binding(policy, exported, out_dir)
    check_integrity(out_dir, m)
    return policy, exported


def load(out_dir) -> Policy:
    """The exported residual as a jitted JAX policy; ExportError (naming the file or field) if
    the export is incomplete, altered, or its files disagree."""
    return _open(out_dir)[0]


def load_exported(out_dir) -> ExportedPolicy:
    """The serialized `jax.export` function (params baked in), after the same checks as `load`."""
    policy, exported = _open(out_dir)
    if exported is None:
        info = policy.manifest.get("jax_export") or {}
        raise ExportError(f"{out_dir} has no {JAX_EXPORT}: {info.get('missing_reason', 'not exported')}")
    return exported


def to_torch(out_dir):
    """The exported residual as a float32 `torch.nn.Module` (eval mode, no grad):
    `forward(obs (B, 25) | (25,), base_action (B, 6) | (6,), last_target (as base_action))
    -> joint target (..., 6) rad` (`last_target`: the previous setpoint; None where the
    manifest's base_filter is 1).
    The class is local (torch is imported here only): keep its `state_dict`, or
    `torch.jit.trace` it, rather than pickling the module."""
    policy = load(out_dir)
    import torch  # lazy: no module under ppo/ imports torch at top level

    f32 = lambda a: torch.from_numpy(np.array(a, np.float32))  # noqa: E731
    stats = jax.tree.map(lambda a: np.asarray(a, np.float32), policy.stats)
    std = np.sqrt(stats.m2 / stats.count + np.float32(1e-8))  # as policy.networks.normalize

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
            self.base_filter = policy.base_filter

        def forward(self, obs, base_action, last_target=None):
            if last_target is None:
                require_last_target(self.base_filter)
                last_target = base_action
            x = torch.cat([obs, base_action * self.base_active], dim=-1)
            x = torch.clamp((x - self.mean) / self.std, -10.0, 10.0)
            for layer in self.layers[:-1]:
                x = torch.nn.functional.silu(layer(x))  # swish
            residual = torch.tanh(self.layers[-1](x))
            base = control.filtered_base(base_action, last_target, self.base_filter)
            return torch.clamp(base + self.scale * residual, self.joint_lower, self.joint_upper)

    return ResidualPolicy().eval().requires_grad_(False)
