"""GR00T N1.5 checkpoints as they exist: where they come from, what they hold, how they load.

    --base gr00t:<hub id>    e.g. gr00t:phospho-app/gr00t-paper_return-7w9itxzsox (@<revision>
                             optional): through the Hugging Face cache (`snapshot_download`:
                             downloaded once with progress; with HF_HUB_OFFLINE=1 or no network
                             the cache is used, or one line names the command that fills it)
    --base gr00t:<dir>       a local checkpoint directory

Two formats, detected from the files (`read_checkpoint`), both loaded with LeRobot 0.4.4's model
code (`lerobot.policies.groot.groot_n1.GR00TN15`, pip; NVIDIA's Isaac-GR00T package is not used):

  isaac    Isaac-GR00T N1.5 (`model.save_pretrained` + the runner's `experiment_cfg/`):
           config.json (model_type gr00t_n1_5), model.safetensors or shards with
           model.safetensors.index.json (keys without prefix), experiment_cfg/metadata.json
           {embodiment tag: {statistics: {state|action: {key: {min, max, mean, std, q01, q99}}},
           modalities: {video: {key: {resolution [W, H], channels, fps}}, state|action: {key:
           {shape [d], ...}}}, embodiment_tag}} (schema: Isaac-GR00T n1.5-release
           gr00t/data/schema.py `DatasetMetadata`). Keys and their order, statistics and camera
           resolutions come from metadata.json; its conventions: crop 0.95 + resize, the plain
           task text as Isaac-GR00T's Gr00tPolicy.get_action hands it over (bridge.gr00t_transforms
           "isaac"; "isaac_train" = the plain string of training). The normalisation mode is the data
           config's, which the checkpoint does not store: min_max (every SO-100/101 data config,
           the fine-tuning service's included).
  lerobot  a LeRobot `groot` policy (`lerobot-train --policy.type=groot`, pretrained_model/):
           config.json (type groot: input/output features, base_model_path,
           tokenizer_assets_repo, embodiment_tag, use_bf16), model.safetensors (one file, keys
           prefixed `_groot_model.`), policy_preprocessor.json + its groot_pack_inputs_v3 state
           file (statistics flattened as `observation.state.min`, ...), policy_postprocessor.json.
           The architecture is base_model_path's config.json (its weights are not needed).
           Conventions: min_max over the whole state/action vectors, cameras in sorted key
           order, no crop, the task as `str([task])` (bridge.gr00t_transforms "lerobot").

Eagle's processor/tokenizer assets are read where LeRobot reads them:
`HF_LEROBOT_HOME/<tokenizer_assets_repo>` (default `lerobot/eagle2hg-processor-groot-n1p5`;
LeRobot copies its vendored Eagle `*.py` there and downloads the JSON/vocab files). A real
checkpoint never runs with a stand-in tokenizer: missing real assets are an error naming
`python -m bridge.gr00t_checkpoint fetch <id>`, which fills both caches.

`write_random_checkpoint(out_dir, "tiny" | "full")` writes an Isaac-format directory with random
weights (sharded, with metadata.json for SO-101's 6 joints) plus stand-in Eagle assets under
`HF_LEROBOT_HOME/bridge-random/...`; it loads through the same code as a real checkpoint.

CLI: python -m bridge.gr00t_checkpoint fetch <hub id>      fill the caches (checkpoint + Eagle)
     python -m bridge.gr00t_checkpoint info <hub id | dir> what the checkpoint holds
     python -m bridge.gr00t_checkpoint random <dir> --size tiny|full
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ISAAC, LEROBOT = "isaac", "lerobot"
EAGLE_ASSETS_REPO = "lerobot/eagle2hg-processor-groot-n1p5"
# What LeRobot's ensure_eagle_cache_ready (lerobot/policies/groot/utils.py) downloads.
EAGLE_ASSETS = ("vocab.json", "merges.txt", "added_tokens.json", "chat_template.json",
                "special_tokens_map.json", "config.json", "generation_config.json",
                "preprocessor_config.json", "processor_config.json", "tokenizer_config.json")
STAND_IN = "bridge_stand_in.json"  # marks stand-in Eagle assets (random-weights checkpoints)
RANDOM_MARK = "bridge_random.json"  # marks a write_random_checkpoint directory
RANDOM_ASSETS_REPO = "bridge-random/eagle2hg-processor-{size}"
SIZES = ("tiny", "full")
NORM_MODES = ("min_max", "q99", "mean_std")
# Isaac-GR00T's EMBODIMENT_TAG_MAPPING (gr00t/data/embodiment_tags.py), and LeRobot's
# GrootPackInputsStep.embodiment_mapping (two more tags) for its own checkpoints; the same as
# bridge.gr00t_transforms' (not imported here: this module's readers must not import torch).
EMBODIMENT_IDS = {"new_embodiment": 31, "oxe_droid": 17, "agibot_genie1": 26, "gr1": 24}
LEROBOT_EMBODIMENT_IDS = {**EMBODIMENT_IDS, "so100": 2, "unitree_g1": 3}
# backbone_cfg.eagle_path of nvidia/GR00T-N1.5-3B's config.json (LeRobot ignores it).
ISAAC_EAGLE_PATH = "NVEagle/eagle_er-qwen3_1_7B-Siglip2_400M_stage1_5_128gpu_er_v7_1mlp_nops"
PREPROCESSOR, POSTPROCESSOR = "policy_preprocessor.json", "policy_postprocessor.json"
PACK_STEP, UNPACK_STEP = "groot_pack_inputs_v3", "groot_action_unpack_unnormalize_v1"
LEGACY_LAYOUT = ("groot_n15.json", "stats.json")  # this project's old invented layout
# What a hub download fetches (not optimizer states or other training leftovers a repo may hold).
CHECKPOINT_FILES = ["*.json", "*.safetensors", "experiment_cfg/*"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message is one line."""


def fetch_command(source: str) -> str:
    return f"python -m bridge.gr00t_checkpoint fetch {source}"


# ---------------------------------------------------------------------------------------------
# Where a checkpoint is: a local directory or a hub id through the Hugging Face cache

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def is_hub_id(source: str) -> bool:
    """`org/name` or `org/name@revision` that is not an existing local path."""
    return bool(HUB_ID.match(source)) and not Path(source).exists()


def offline() -> bool:
    from huggingface_hub import constants
    env = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.HF_HUB_OFFLINE) or env


def resolve(source: str, allow_patterns: list[str] | None = None, hint: str | None = None) -> Path:
    """The local directory of `source`: itself if it is a directory, else the hub id's snapshot
    in the Hugging Face cache (downloaded with progress when missing and the hub is reachable).
    CheckpointError (one line) when neither works; `hint` names the command that fills the
    cache (default: `fetch_command(source)`)."""
    if Path(source).is_dir():
        return Path(source).resolve()
    if not is_hub_id(source):
        raise CheckpointError(f"GR00T checkpoint directory {source} not found (and it is not a "
                              "hub id org/name[@revision])")
    repo, _, revision = source.partition("@")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, HfHubHTTPError, LocalEntryNotFoundError
    hint = hint or fetch_command(source)
    try:
        return Path(snapshot_download(repo, revision=revision or None, repo_type="model",
                                      allow_patterns=allow_patterns,
                                      local_files_only=offline())).resolve()
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE=1" if offline() else "the hub is not reachable"
        raise CheckpointError(f"{source} is neither a local directory nor in the Hugging Face cache "
                              f"({constants.HF_HUB_CACHE}), and {why}: fill the cache with `{hint}` on "
                              "a machine with network (then copy the cache) and run again") from None
    except (HFValidationError, HfHubHTTPError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{source}: cannot download it from the hub ({first}); "
                              f"fill the cache with `{hint}`") from None


# ---------------------------------------------------------------------------------------------
# What a checkpoint holds

@dataclass(frozen=True)
class Field:
    """One state or action key: its width, statistics and normalisation mode."""

    key: str  # as the model's observation/output dict names it: "state.arm_0", "action"
    dim: int
    stats: dict  # {"min", "max", "mean", "std", "q01", "q99"}: lists of `dim` floats (some)
    mode: str = "min_max"


@dataclass(frozen=True)
class Camera:
    key: str  # "video.image_cam_0", "observation.images.top"
    resolution: tuple[int, int] | None  # (width, height) of the training frames; None: unknown


@dataclass(frozen=True)
class Checkpoint:
    """A GR00T N1.5 checkpoint read from its files (nothing loaded into torch yet)."""

    source: str  # what the user named: a directory or a hub id
    path: Path  # local directory
    format: str  # ISAAC | LEROBOT
    model_config: dict  # the GR00TN15 config (config.json of the model / of base_model_path)
    weights: tuple[Path, ...]  # safetensors files
    embodiment_tag: str
    embodiment_id: int
    video: tuple[Camera, ...]  # in the order the model sees them
    state: tuple[Field, ...]  # in concatenation order
    action: tuple[Field, ...]  # in split order
    assets_repo: str  # Eagle processor assets: HF_LEROBOT_HOME/<assets_repo>
    random: bool = False  # written by write_random_checkpoint (stand-in Eagle assets allowed)
    weight_prefix: str = ""  # "_groot_model." for LeRobot's model.safetensors
    compute_dtype: str = "float32"
    notes: tuple[str, ...] = field(default=())

    @property
    def convention(self) -> str:
        """Which input transforms the model was trained with (bridge.gr00t_transforms)."""
        return self.format

    def describe(self) -> str:
        cams = ", ".join(f"{c.key} {c.resolution[0]}x{c.resolution[1]}" if c.resolution else c.key
                         for c in self.video)
        keys = lambda fs: ", ".join(f"{f.key} ({f.dim}, {f.mode})" for f in fs)  # noqa: E731
        return (f"GR00T N1.5 checkpoint {self.source} [{self.format} format"
                f"{', random weights' if self.random else ''}]: embodiment {self.embodiment_tag} "
                f"(id {self.embodiment_id}); cameras {cams}; state {keys(self.state)}; action "
                f"{keys(self.action)}; {len(self.weights)} weight file(s)")


def detect_format(path: Path) -> str:
    """ISAAC or LEROBOT from the files in `path`; CheckpointError naming what is missing."""
    cfg = path / "config.json"
    if not cfg.is_file():
        if all((path / n).exists() for n in LEGACY_LAYOUT):
            raise CheckpointError(legacy_message(path))
        raise CheckpointError(f"{path} is not a GR00T N1.5 checkpoint: it lacks config.json "
                              "(expected Isaac-GR00T's config.json + safetensors + "
                              "experiment_cfg/metadata.json, or a LeRobot groot policy)")
    try:
        config = json.loads(cfg.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cfg}: not JSON ({e})") from None
    if config.get("type") == "groot" or (path / PREPROCESSOR).exists():
        return LEROBOT
    if config.get("model_type") == "gr00t_n1_5":
        return ISAAC
    raise CheckpointError(f"{cfg} is neither a GR00T N1.5 config (model_type gr00t_n1_5, got "
                          f"{config.get('model_type')!r}) nor a LeRobot groot policy (type groot)")


def legacy_message(path) -> str:
    return (f"{path} has this project's old invented layout (groot_n15.json, stats.json, eagle/), "
            "which no real checkpoint has and the bridge no longer reads: re-create a random one "
            "with `--base gr00t:<new dir> --random-weights tiny` (or `python -m "
            "bridge.gr00t_checkpoint random <new dir> --size tiny`), or pass a real checkpoint")


def read_checkpoint(source: str, embodiment_tag: str = "new_embodiment") -> Checkpoint:
    """The checkpoint `source` (directory or hub id) names, checked: the files its format needs
    exist, the requested embodiment is in it, its keys and statistics are consistent. Every
    problem is one CheckpointError line."""
    path = resolve(source, allow_patterns=CHECKPOINT_FILES)
    fmt = detect_format(path)
    if fmt == ISAAC:
        return _read_isaac(source, path, embodiment_tag)
    return _read_lerobot(source, path, embodiment_tag)


def _weights(path: Path, single: bool = False) -> tuple[Path, ...]:
    index = path / "model.safetensors.index.json"
    if index.is_file() and not single:
        try:
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError) as e:
            raise CheckpointError(f"{index}: unreadable shard index ({e})") from None
        missing = [f for f in files if not (path / f).is_file()]
        if missing:
            raise CheckpointError(f"{path} lacks {len(missing)} of the {len(files)} weight shards "
                                  f"its model.safetensors.index.json names (e.g. {missing[0]}): "
                                  "an interrupted download? fetch it again")
        return tuple(path / f for f in files)
    if (path / "model.safetensors").is_file():
        return (path / "model.safetensors",)
    raise CheckpointError(f"{path} lacks its weights (model.safetensors or "
                          "model.safetensors.index.json + shards)")


def _floats(v, what: str) -> list[float]:
    import math
    try:
        out = [float(x) for x in (v if isinstance(v, (list, tuple)) else list(v))]
    except (TypeError, ValueError):
        raise CheckpointError(f"{what}: expected a list of numbers, got {str(v)[:60]}") from None
    if not all(math.isfinite(x) for x in out):
        raise CheckpointError(f"{what}: non-finite statistics {out}")
    return out


def _field(key: str, dim: int, stats: dict, where: str, mode: str = "min_max") -> Field:
    need = {"min_max": ("min", "max"), "q99": ("q01", "q99"), "mean_std": ("mean", "std")}[mode]
    clean = {}
    for name, v in stats.items():
        if name in ("min", "max", "mean", "std", "q01", "q99"):
            clean[name] = _floats(v, f"{where} {key}.{name}")
            if len(clean[name]) != dim:
                raise CheckpointError(f"{where}: {key}.{name} has {len(clean[name])} values, the "
                                      f"key is {dim} wide")
    missing = [n for n in need if n not in clean]
    if missing:
        raise CheckpointError(f"{where}: {key} lacks the {'/'.join(missing)} statistics its "
                              f"{mode} normalisation needs")
    return Field(key, dim, clean, mode)


def _read_isaac(source: str, path: Path, tag: str) -> Checkpoint:
    meta_path = path / "experiment_cfg" / "metadata.json"
    weights = _weights(path)
    if not meta_path.is_file():
        raise CheckpointError(f"{source}: Isaac-GR00T checkpoint without experiment_cfg/metadata.json "
                              "(its normalisation statistics, keys and camera resolutions): "
                              "copy experiment_cfg/ from the training output into the checkpoint")
    try:
        metas = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta_path}: not JSON ({e})") from None
    if tag not in metas:
        raise CheckpointError(f"{source}: metadata.json has embodiment {sorted(metas)}, not the "
                              f"requested {tag!r} (--embodiment-tag)")
    meta = metas[tag]
    if tag not in EMBODIMENT_IDS:
        raise CheckpointError(f"{source}: embodiment {tag!r} has no projector id known to GR00T N1.5 "
                              f"(known: {sorted(EMBODIMENT_IDS)})")
    where = f"{meta_path.name}[{tag}]"
    try:
        modalities, statistics = meta["modalities"], meta["statistics"]
        videos = modalities["video"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{where}: lacks {e} (schema: Isaac-GR00T DatasetMetadata)") from None
    cams = []
    for key, v in videos.items():
        res = v.get("resolution")
        if not (isinstance(res, (list, tuple)) and len(res) == 2):
            raise CheckpointError(f"{where}: video {key} has no resolution [width, height]")
        cams.append(Camera(f"video.{key}", (int(res[0]), int(res[1]))))
    fields = {}
    for kind in ("state", "action"):
        out = []
        for key, m in modalities.get(kind, {}).items():
            shape = m.get("shape") or []
            if len(shape) != 1:
                raise CheckpointError(f"{where}: {kind} {key} shape {shape}, expected [d]")
            if key not in statistics.get(kind, {}):
                raise CheckpointError(f"{where}: {kind} {key} has no statistics")
            out.append(_field(f"{kind}.{key}", int(shape[0]), statistics[kind][key], where))
        if not out:
            raise CheckpointError(f"{where}: no {kind} keys")
        fields[kind] = tuple(out)
    if not cams:
        raise CheckpointError(f"{where}: no video keys")
    config = json.loads((path / "config.json").read_text())
    backbone = config.get("backbone_cfg", {})
    return Checkpoint(source, path, ISAAC, config, weights, tag, EMBODIMENT_IDS[tag], tuple(cams),
                      fields["state"], fields["action"],
                      backbone.get("tokenizer_assets_repo", EAGLE_ASSETS_REPO),
                      random=(path / RANDOM_MARK).is_file(),
                      compute_dtype=config.get("compute_dtype", "float32"))


def _step(path: Path, name: str, registry: str) -> tuple[dict, Path | None]:
    file = path / name
    if not file.is_file():
        raise CheckpointError(f"LeRobot groot policy {path} lacks {name} (its normalisation steps)")
    try:
        steps = json.loads(file.read_text())["steps"]
    except (json.JSONDecodeError, KeyError) as e:
        raise CheckpointError(f"{file}: unreadable ({e})") from None
    for step in steps:
        if step.get("registry_name") == registry:
            state = step.get("state_file")
            return step.get("config", {}), (path / state if state else None)
    raise CheckpointError(f"{file} has no {registry} step (not a LeRobot 0.4 groot policy?)")


def _flat_stats(file: Path | None, what: str) -> dict:
    """{"observation.state": {"min": [...], ...}, "action": {...}} from a step's safetensors."""
    if file is None or not file.is_file():
        raise CheckpointError(f"{what}: its statistics file "
                              f"{file.name if file else '(state_file)'} is missing")
    from safetensors.torch import load_file
    out: dict = {}
    for k, t in load_file(str(file)).items():
        key, _, stat = k.rpartition(".")
        out.setdefault(key, {})[stat] = t.flatten().tolist()
    return out


def _read_lerobot(source: str, path: Path, tag: str) -> Checkpoint:
    config = json.loads((path / "config.json").read_text())
    weights = _weights(path, single=True)
    pack, pack_state = _step(path, PREPROCESSOR, PACK_STEP)
    unpack, unpack_state = _step(path, POSTPROCESSOR, UNPACK_STEP)
    saved_tag = pack.get("embodiment_tag") or config.get("embodiment_tag", "new_embodiment")
    if saved_tag != tag:
        raise CheckpointError(f"{source}: LeRobot groot policy for embodiment {saved_tag!r}, not "
                              f"the requested {tag!r} (--embodiment-tag)")
    mapping = {**LEROBOT_EMBODIMENT_IDS, **pack.get("embodiment_mapping", {})}
    if tag not in mapping:
        raise CheckpointError(f"{source}: embodiment {tag!r} has no projector id")
    feats_in, feats_out = config.get("input_features", {}), config.get("output_features", {})
    cams = []
    for key in sorted(k for k, f in feats_in.items() if f.get("type") == "VISUAL"):
        shape = feats_in[key].get("shape") or []
        res = (int(shape[2]), int(shape[1])) if len(shape) == 3 else None  # (C, H, W)
        cams.append(Camera(key, res))
    if not cams:
        raise CheckpointError(f"{path / 'config.json'}: no VISUAL input feature")
    stats = _flat_stats(pack_state, f"{path / PREPROCESSOR} {PACK_STEP}")
    post = _flat_stats(unpack_state, f"{path / POSTPROCESSOR} {UNPACK_STEP}")
    fields = {}
    for kind, key, feats, st in (("state", "observation.state", feats_in, stats),
                                 ("action", "action", feats_out, post)):
        if key not in feats or key not in st:
            raise CheckpointError(f"{source}: LeRobot groot policy lacks {key} "
                                  f"({'a feature' if key not in feats else 'statistics'})")
        dim = int((feats[key].get("shape") or [0])[0])
        fields[kind] = (_field(key, dim, st[key], f"{path.name} {kind}"),)
    if not pack.get("normalize_min_max", True) or not unpack.get("normalize_min_max", True):
        notes = ("normalize_min_max is false in the saved processor; LeRobot 0.4.4 forces it on at "
                 "load (factory.make_pre_post_processors), as the bridge does",)
    else:
        notes = ()
    base = config.get("base_model_path") or "nvidia/GR00T-N1.5-3B"
    base_dir = resolve(base, allow_patterns=["config.json"], hint=fetch_command(source))
    try:
        model_config = json.loads((base_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{source}: cannot read its base model's config.json ({base}: {e}); "
                              f"fill the cache with `{fetch_command(source)}`") from None
    compute = "bfloat16" if config.get("use_bf16", True) else model_config.get("compute_dtype", "float32")
    return Checkpoint(source, path, LEROBOT, model_config, weights, tag, int(mapping[tag]),
                      tuple(cams), fields["state"], fields["action"],
                      config.get("tokenizer_assets_repo") or EAGLE_ASSETS_REPO,
                      random=(path / RANDOM_MARK).is_file(), weight_prefix="_groot_model.",
                      compute_dtype=compute, notes=notes)


# ---------------------------------------------------------------------------------------------
# The checkpoint against a key layout and the sim's frames

def check_layout(ckpt: Checkpoint, layout, layout_name: str, frame_size: int | None) -> None:
    """CheckpointError (one line) unless `layout` (bridge.units.KeyLayout) maps exactly the
    checkpoint's keys with their widths, and `frame_size` (square frames, px) is the
    resolution every camera was trained at (None: not checked)."""
    have_cams = [c.key for c in ckpt.video]
    lay_cams = [k for k, _ in layout.video]
    for c in have_cams:
        if c not in lay_cams:
            raise CheckpointError(f"the checkpoint's camera {c} is not in --layout {layout_name} "
                                  f"(it maps {lay_cams}); pass a layout that maps every camera "
                                  f"of {have_cams}")
    extra = [c for c in lay_cams if c not in have_cams]
    if extra:
        raise CheckpointError(f"--layout {layout_name} maps camera(s) {extra} the checkpoint does not "
                              f"have (it has {have_cams})")
    for kind in ("state", "action"):
        lay = {k: b - a for k, a, b in getattr(layout, kind)}
        have = {f.key: f.dim for f in getattr(ckpt, kind)}
        for key, dim in have.items():
            if key not in lay:
                raise CheckpointError(f"the checkpoint's {kind} key {key} ({dim}) is not in --layout "
                                      f"{layout_name} (it maps {sorted(lay)})")
            if lay[key] != dim:
                raise CheckpointError(f"{kind} key {key}: the checkpoint's is {dim} wide, --layout "
                                      f"{layout_name} maps {lay[key]} joints to it")
        extra = sorted(set(lay) - set(have))
        if extra:
            raise CheckpointError(f"--layout {layout_name} maps {kind} key(s) {extra} the checkpoint "
                                  f"does not have (it has {sorted(have)})")
    if frame_size is not None:
        for c in ckpt.video:
            if c.resolution is not None and c.resolution != (frame_size, frame_size):
                w, h = c.resolution
                hint = (f"render at --render-size {w}" if w == h else
                        "the sim renders square frames only: this checkpoint cannot see sim frames")
                raise CheckpointError(f"camera {c.key} was trained on {w}x{h} frames "
                                      f"({'metadata.json' if ckpt.format == ISAAC else 'config.json'})"
                                      f", the bridge would feed {frame_size}x{frame_size}: {hint}")


# ---------------------------------------------------------------------------------------------
# Units: what the state statistics say about the units the model was trained in

UNIT_OVERSHOOT = 0.25  # of a joint's range: beyond this the statistics cannot be that joint's


def _state_ranges(ckpt: Checkpoint, layout) -> tuple[list[float], list[float]]:
    """Per arm joint (ARM_JOINTS order) the state statistics' (min, max), through `layout`."""
    lo, hi = [0.0] * 6, [0.0] * 6
    slices = {k: (a, b) for k, a, b in layout.state}
    for f in ckpt.state:
        a, b = slices[f.key]
        lo[a:b], hi[a:b] = f.stats["min"], f.stats["max"]
    return lo, hi


def units_fit(ckpt: Checkpoint, layout, units: dict | None = None) -> dict:
    """How the checkpoint's state statistics fit each units preset (bridge.units.UNITS, or
    `units` {name: JointUnits}): per preset the worst overshoot of the recorded range beyond a
    joint's limits (fraction of that joint's range; 0 = inside), and a score (overshoot, then
    how far the recorded spans are from the joints' spans in those units: lower fits better).
    Returns {"best": name, "presets": {name: {"overshoot", "joint", "score"}}}."""
    import math

    import numpy as np

    from bridge.units import UNITS, sim_range
    from mjx_env.scene import ARM_JOINTS
    units = units or {n: f() for n, f in UNITS.items()}
    lo, hi = (np.asarray(v, float) for v in _state_ranges(ckpt, layout))
    out = {}
    for name, u in units.items():
        ends = [u.to_robot(np.array([sim_range(j)[i] for j in ARM_JOINTS], float)) for i in (0, 1)]
        rlo, rhi = np.minimum(*ends), np.maximum(*ends)
        span = rhi - rlo
        over = np.maximum(np.maximum(rlo - lo, hi - rhi), 0) / span
        ratio = np.maximum(hi - lo, 1e-9) / span
        score = 10 * float(over.sum()) + float(np.mean([abs(math.log(r)) for r in ratio]))
        j = int(np.argmax(over))
        out[name] = {"overshoot": float(over[j]), "joint": ARM_JOINTS[j], "score": score,
                     "recorded": [float(lo[j]), float(hi[j])], "limits": [float(rlo[j]), float(rhi[j])]}
    best = min(out, key=lambda n: out[n]["score"])
    return {"best": best, "presets": out}


def check_units(ckpt: Checkpoint, layout, name: str, units) -> None:
    """CheckpointError (one line) if the state statistics cannot be the robot's joints in
    `units` (--units `name`): a recorded range beyond a joint's limits by more than
    UNIT_OVERSHOOT of its range."""
    fit = units_fit(ckpt, layout, {name: units})["presets"][name]
    if fit["overshoot"] > UNIT_OVERSHOOT:
        best = units_fit(ckpt, layout)["best"]
        (a, b), (c, d) = fit["recorded"], fit["limits"]
        raise CheckpointError(f"the checkpoint's state statistics put {fit['joint']} in [{a:.3g}, {b:.3g}], "
                              f"but in --units {name} that joint lies in [{c:.3g}, {d:.3g}]: the model "
                              f"was trained in other units (closest preset: {best}; or pass a "
                              "calibration file --units robot.json)")


# ---------------------------------------------------------------------------------------------
# Eagle assets (LeRobot's cache) and the model

def lerobot_home() -> Path:
    """HF_LEROBOT_HOME as LeRobot's groot code resolves it (its module's own constant)."""
    from bridge.lerobot_groot import import_groot
    return Path(import_groot().HF_LEROBOT_HOME)


def eagle_dir(ckpt: Checkpoint, download: bool | None = None) -> Path:
    """HF_LEROBOT_HOME/<assets repo> with LeRobot's vendored Eagle code and the processor
    assets, downloaded as LeRobot does when missing and the hub is reachable; CheckpointError
    naming the fetch command when they cannot be had, or when a real checkpoint would run with
    stand-in assets."""
    from bridge.lerobot_groot import import_groot
    groot = import_groot()
    target = Path(groot.HF_LEROBOT_HOME) / ckpt.assets_repo
    missing = [n for n in EAGLE_ASSETS if not (target / n).is_file()]
    download = (not offline()) if download is None else download
    if missing and not ckpt.random and download:
        from lerobot.policies.groot.utils import ensure_eagle_cache_ready
        try:
            with contextlib.redirect_stdout(sys.stderr):
                ensure_eagle_cache_ready(groot.DEFAULT_VENDOR_EAGLE_PATH, target, ckpt.assets_repo)
        except Exception as e:  # network, auth: one line below
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"cannot download the Eagle processor assets {ckpt.assets_repo} "
                                  f"into {target} ({first}): run `{fetch_command(ckpt.source)}`") from None
        missing = [n for n in EAGLE_ASSETS if not (target / n).is_file()]
    if missing:
        raise CheckpointError(f"the Eagle processor assets {ckpt.assets_repo} are not in LeRobot's cache "
                              f"({target} lacks {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''})"
                              f": run `{fetch_command(ckpt.source)}` on a machine with network")
    if (target / STAND_IN).exists() and not ckpt.random:
        raise CheckpointError(f"{target} holds stand-in Eagle assets (random-weights tests), not the "
                              f"real tokenizer: a real checkpoint never runs with them; remove that "
                              f"directory and run `{fetch_command(ckpt.source)}`")
    vendor = Path(groot.DEFAULT_VENDOR_EAGLE_PATH)
    for py in vendor.glob("*.py"):  # LeRobot copies its vendored Eagle code there on every build
        if not (target / py.name).is_file() or (target / py.name).read_bytes() != py.read_bytes():
            shutil.copy(py, target / py.name)
    return target


def load_tokenizer(assets: Path):
    from transformers import AutoTokenizer
    with contextlib.redirect_stdout(sys.stderr):
        tok = AutoTokenizer.from_pretrained(str(assets), trust_remote_code=True)
    tok.padding_side = "left"
    return tok


def load_model(ckpt: Checkpoint, device: str = "cpu"):
    """LeRobot's GR00TN15 with the checkpoint's weights, eval mode, on `device` (bf16 on a GPU
    when the checkpoint computes in bf16, float32 on the CPU). The Eagle assets must be in
    place (`eagle_dir`)."""
    import torch

    from bridge.lerobot_groot import import_groot, quiet_build
    groot = import_groot()
    dtype = torch.bfloat16 if ckpt.compute_dtype == "bfloat16" and device != "cpu" else torch.float32
    with quiet_build():
        if ckpt.format == ISAAC:  # LeRobot's own loader reads the Isaac directory as is
            model = groot.GR00TN15.from_pretrained(str(ckpt.path), dtype=dtype)
            _check_weight_names(model, ckpt)
        else:
            config = groot.GR00TN15Config(**{k: v for k, v in ckpt.model_config.items()
                                             if k not in ("architectures", "transformers_version")})
            config.backbone_cfg = {**config.backbone_cfg, "tokenizer_assets_repo": ckpt.assets_repo}
            model = groot.GR00TN15(config, local_model_path=str(ckpt.path))
            _load_lerobot_weights(model, ckpt)
    model.compute_dtype = "bfloat16" if dtype == torch.bfloat16 else "float32"
    model.config.compute_dtype = model.compute_dtype
    return model.to(device=device, dtype=dtype).eval()


def _weight_names(ckpt: Checkpoint) -> set[str]:
    from safetensors import safe_open
    names = set()
    for file in ckpt.weights:
        with safe_open(str(file), "pt") as f:
            names.update(f.keys())
    return {n.removeprefix(ckpt.weight_prefix) for n in names}


def _check_weight_names(model, ckpt: Checkpoint) -> None:
    """CheckpointError if the model has weights the files lack (they would stay random);
    weights the model does not use are only reported."""
    have = _weight_names(ckpt)
    want = set(model.state_dict())
    missing = sorted(k for k in want - have if not k.endswith("lm_head.weight"))  # tied
    if missing:
        raise CheckpointError(f"{ckpt.source}: its weights lack {len(missing)} of the model's "
                              f"(e.g. {missing[:2]}): config.json and the safetensors do not fit")
    unused = sorted(have - want)
    if unused:
        print(f"GR00T: {len(unused)} weights of {ckpt.source} are not used by the model (e.g. "
              f"{unused[:2]})", file=sys.stderr)


def _load_lerobot_weights(model, ckpt: Checkpoint) -> None:
    from safetensors.torch import load_file
    state = load_file(str(ckpt.weights[0]))
    state = {k.removeprefix(ckpt.weight_prefix): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embedding
    if missing or unexpected:
        raise CheckpointError(f"{ckpt.weights[0]} does not fit its base model's config.json: "
                              f"{len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} "
                              f"unexpected (e.g. {unexpected[:2]}) weights")


# ---------------------------------------------------------------------------------------------
# Writing checkpoints: random weights (Isaac format), and both formats from a model (tests)

def isaac_metadata(layout, stats: dict, resolution: tuple[int, int], tag: str = "new_embodiment",
                   fps: float = 30.0) -> dict:
    """metadata.json for `layout`'s keys (bridge.units.KeyLayout) with `stats`
    {"state"|"action": {"min": [6], "max": [6]}} over the 6 joints in robot units: per key its
    slice, with mean/std/q01/q99 made up from the range (uniform over it)."""
    def entry(lo, hi):
        mean = [(a + b) / 2 for a, b in zip(lo, hi)]
        std = [(b - a) / 12 ** 0.5 for a, b in zip(lo, hi)]
        q01 = [a + 0.01 * (b - a) for a, b in zip(lo, hi)]
        q99 = [a + 0.99 * (b - a) for a, b in zip(lo, hi)]
        return {"max": list(hi), "min": list(lo), "mean": mean, "std": std, "q01": q01, "q99": q99}

    statistics, modalities = {}, {"video": {k.split(".", 1)[1]: {"resolution": list(resolution),
                                                                 "channels": 3, "fps": fps}
                                            for k, _ in layout.video}}
    for kind in ("state", "action"):
        lo, hi = stats[kind]["min"], stats[kind]["max"]
        statistics[kind] = {k.split(".", 1)[1]: entry(lo[a:b], hi[a:b]) for k, a, b in getattr(layout, kind)}
        modalities[kind] = {k.split(".", 1)[1]: {"absolute": True, "rotation_type": None, "shape": [b - a],
                                                 "continuous": True} for k, a, b in getattr(layout, kind)}
    return {tag: {"statistics": statistics, "modalities": modalities, "embodiment_tag": tag}}


def save_isaac(model, out_dir: str | Path, metadata: dict, max_shard_size: str | int = "5GB",
               assets_repo: str | None = None) -> Path:
    """`model` (GR00TN15) saved as Isaac-GR00T saves it: `save_pretrained` (config.json,
    safetensors, sharded with an index above `max_shard_size`) + experiment_cfg/metadata.json.
    config.json's backbone_cfg is Isaac's (eagle_path, no tokenizer_assets_repo: LeRobot then
    reads the default Eagle assets) unless `assets_repo` names other assets."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):
        model.save_pretrained(str(out), max_shard_size=max_shard_size, safe_serialization=True)
    cfg = json.loads((out / "config.json").read_text())
    cfg["architectures"] = ["GR00T_N1_5"]  # Isaac-GR00T's class name
    backbone = cfg["backbone_cfg"]
    backbone.pop("tokenizer_assets_repo", None)
    backbone.setdefault("eagle_path", ISAAC_EAGLE_PATH)
    if assets_repo:
        backbone["tokenizer_assets_repo"] = assets_repo
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "experiment_cfg").mkdir(exist_ok=True)
    (out / "experiment_cfg" / "metadata.json").write_text(json.dumps(metadata, indent=4))
    return out


def save_lerobot(model, out_dir: str | Path, stats: dict, cameras: dict[str, tuple[int, int]],
                 base_model_path: str, assets_repo: str = EAGLE_ASSETS_REPO,
                 tag: str = "new_embodiment", use_bf16: bool = False) -> Path:
    """`model` saved as LeRobot 0.4.4's `GrootPolicy.save_pretrained` and its processor
    pipelines save it (file names and keys of lerobot/processor/pipeline.py `_save_pretrained`,
    policies/pretrained.py, processor_groot.py): `stats` {"observation.state"|"action": {"min",
    "max", ...}}, `cameras` {"observation.images.<name>": (width, height)}."""
    import torch
    from safetensors.torch import save_file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {f"_groot_model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()
             if not k.endswith("lm_head.weight")}  # save_model drops the tied head
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    dim = lambda k: len(stats[k]["min"])  # noqa: E731
    config = {"type": "groot", "n_obs_steps": 1, "chunk_size": 50, "n_action_steps": 50,
              "input_features": {**{k: {"type": "VISUAL", "shape": [3, h, w]} for k, (w, h) in cameras.items()},
                                 "observation.state": {"type": "STATE", "shape": [dim("observation.state")]}},
              "output_features": {"action": {"type": "ACTION", "shape": [dim("action")]}},
              "device": "cpu", "use_amp": False, "max_state_dim": 64, "max_action_dim": 32,
              "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
              "image_size": [224, 224], "base_model_path": base_model_path,
              "tokenizer_assets_repo": assets_repo, "embodiment_tag": tag, "tune_llm": False,
              "tune_visual": False, "tune_projector": True, "tune_diffusion_model": True,
              "use_bf16": use_bf16}
    (out / "config.json").write_text(json.dumps(config, indent=4))
    flat = {f"{k}.{s}": torch.as_tensor(v, dtype=torch.float32) for k, d in stats.items() for s, v in d.items()}
    pre = {"name": "policy_preprocessor", "steps": [
        {"registry_name": "rename_observations_processor", "config": {"rename_map": {}}},
        {"registry_name": "to_batch_processor", "config": {}},
        {"registry_name": PACK_STEP, "config": {
            "state_horizon": 1, "action_horizon": 16, "max_state_dim": 64, "max_action_dim": 32,
            "language_key": "task", "formalize_language": False, "embodiment_tag": tag,
            "embodiment_mapping": dict(LEROBOT_EMBODIMENT_IDS), "normalize_min_max": True},
         "state_file": f"policy_preprocessor_step_2_{PACK_STEP}.safetensors"},
        {"registry_name": "groot_eagle_encode_v3", "config": {}},
        {"registry_name": "groot_eagle_collate_v3", "config": {}},
        {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}}]}
    post = {"name": "policy_postprocessor", "steps": [
        {"registry_name": UNPACK_STEP, "config": {"env_action_dim": dim("action"), "normalize_min_max": True},
         "state_file": f"policy_postprocessor_step_0_{UNPACK_STEP}.safetensors"},
        {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}}]}
    save_file(flat, str(out / pre["steps"][2]["state_file"]))
    save_file(flat, str(out / post["steps"][0]["state_file"]))
    (out / PREPROCESSOR).write_text(json.dumps(pre, indent=2))
    (out / POSTPROCESSOR).write_text(json.dumps(post, indent=2))
    return out


def write_stand_in_assets(size: str) -> str:
    """Stand-in Eagle assets for a random-weights model of `size`, laid out where LeRobot's cache
    puts assets (HF_LEROBOT_HOME/bridge-random/eagle2hg-processor-<size>): the Eagle config
    (the architecture), a byte-level tokenizer with GR00T's special tokens, LeRobot's vendored
    Eagle code, and placeholder files for the rest of LeRobot's asset list. Marked stand-in.
    Returns the assets repo name."""
    from bridge.lerobot_groot import architecture, import_groot, write_tokenizer
    repo = RANDOM_ASSETS_REPO.format(size=size)
    target = lerobot_home() / repo
    target.mkdir(parents=True, exist_ok=True)
    write_tokenizer(target)
    tok = load_tokenizer(target)
    from bridge.gr00t_transforms import IMG_CONTEXT
    arch = architecture(size, 151680 if size == "full" else len(tok), tok.convert_tokens_to_ids(IMG_CONTEXT))
    (target / "config.json").write_text(json.dumps(arch["eagle"], indent=1))
    vocab = json.loads((target / "tokenizer.json").read_text())["model"]["vocab"]
    placeholders = {"vocab.json": json.dumps(vocab), "merges.txt": "#version: 0.2\n",
                    "chat_template.json": json.dumps({"chat_template": ""}),
                    "generation_config.json": "{}", "preprocessor_config.json": "{}",
                    "processor_config.json": "{}", "added_tokens.json": "{}"}
    for name, text in placeholders.items():
        if not (target / name).exists():
            (target / name).write_text(text)
    (target / STAND_IN).write_text(json.dumps({"stand_in": True, "size": size, "note":
                                               "not the real Qwen3 tokenizer: random-weights models only"}))
    vendor = Path(import_groot().DEFAULT_VENDOR_EAGLE_PATH)
    for py in vendor.glob("*.py"):
        shutil.copy(py, target / py.name)
    return repo


def random_model(size: str, seed: int = 0, device: str = "cpu"):
    """LeRobot's GR00TN15 at `size` with random weights (seeded), its stand-in assets written;
    `device` "meta" builds the shapes only (parameter counts)."""
    import torch

    from bridge.lerobot_groot import architecture, import_groot, quiet_build
    if size not in SIZES:
        raise CheckpointError(f"--random-weights must be one of {SIZES}, got {size!r}")
    repo = write_stand_in_assets(size)
    arch = architecture(size, 0, 0)
    arch.pop("eagle")
    arch["backbone_cfg"]["tokenizer_assets_repo"] = repo
    groot = import_groot()
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if size == "full" else torch.float32
    previous, validate = torch.get_default_dtype(), torch.distributions.Distribution._validate_args
    torch.set_default_dtype(dtype)
    torch.distributions.Distribution.set_default_validate_args(False)  # the head's Beta: meta-safe
    try:
        with quiet_build(), torch.device(device):
            model = groot.GR00TN15(groot.GR00TN15Config(**arch), local_model_path="")
    finally:
        torch.set_default_dtype(previous)
        torch.distributions.Distribution.set_default_validate_args(validate)
    return model.eval()


def write_random_checkpoint(out_dir: str | Path, size: str, *, layout: str = "paper_return",
                            units: str = "paper_return", resolution: int = 224, seed: int = 0,
                            max_shard_size: str | int | None = None) -> Path:
    """An Isaac-format GR00T N1.5 directory with random weights at `size` ("tiny": toy widths
    for CPU tests, sharded; "full": the N1.5-3B shapes, bf16) and experiment_cfg/metadata.json
    for SO-101's 6 joints in `layout`'s keys, statistics = the sim joint ranges in `units`,
    frames of `resolution` px. Stand-in Eagle assets go to HF_LEROBOT_HOME/bridge-random/...
    Load it with `--base gr00t:<out_dir>` (bridge.base.make_base), like a real checkpoint."""
    import torch

    from bridge.units import BridgeConfig
    if size not in SIZES:
        raise CheckpointError(f"--random-weights must be one of {SIZES}, got {size!r}")
    out = Path(out_dir)
    cfg = BridgeConfig(layout=layout, units=units)
    device = "cuda" if size == "full" and torch.cuda.is_available() else "cpu"
    model = random_model(size, seed, device)
    shard = max_shard_size or ("1MB" if size == "tiny" else "5GB")
    save_isaac(model, out, isaac_metadata(cfg.key_layout(), default_stats(cfg), (resolution, resolution)),
               shard, assets_repo=model.config.backbone_cfg["tokenizer_assets_repo"])
    (out / RANDOM_MARK).write_text(json.dumps({"size": size, "seed": seed, "layout": layout,
                                               "units": units, "resolution": resolution}))
    del model
    return out


def default_stats(config) -> dict:
    """Min-max statistics for a random-weights model: the sim joint ranges in robot units."""
    import numpy as np

    from bridge.units import sim_range
    from mjx_env.scene import ARM_JOINTS
    units = config.joint_units()
    ends = [units.to_robot(np.array([sim_range(j)[i] for j in ARM_JOINTS], np.float64)) for i in (0, 1)]
    lo, hi = np.minimum(*ends), np.maximum(*ends)
    return {k: {"min": lo.tolist(), "max": hi.tolist()} for k in ("state", "action")}


# ---------------------------------------------------------------------------------------------
# CLI

def fetch(source: str, embodiment_tag: str = "new_embodiment") -> Checkpoint:
    """Download `source` (hub id) into the Hugging Face cache, its base model's config.json
    (LeRobot format) and the Eagle assets into LeRobot's cache; returns the checkpoint."""
    ckpt = read_checkpoint(source, embodiment_tag)
    eagle_dir(ckpt, download=True)
    return ckpt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bridge.gr00t_checkpoint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="fill the caches: the checkpoint and its Eagle assets")
    f.add_argument("source", help="hub id (org/name[@revision]) or directory")
    f.add_argument("--embodiment-tag", default="new_embodiment")
    i = sub.add_parser("info", help="what a checkpoint holds (format, keys, statistics)")
    i.add_argument("source")
    i.add_argument("--embodiment-tag", default="new_embodiment")
    r = sub.add_parser("random", help="write an Isaac-format checkpoint with random weights")
    r.add_argument("out_dir")
    r.add_argument("--size", choices=SIZES, default="tiny")
    r.add_argument("--layout", default="paper_return")
    r.add_argument("--units", default="paper_return")
    r.add_argument("--resolution", type=int, default=224)
    args = p.parse_args(argv)
    try:
        if args.command == "fetch":
            ckpt = fetch(args.source, args.embodiment_tag)
            print(ckpt.describe())
            print(f"cached: {ckpt.path}; Eagle assets: {lerobot_home() / ckpt.assets_repo}")
        elif args.command == "info":
            ckpt = read_checkpoint(args.source, args.embodiment_tag)
            print(ckpt.describe())
            for f_ in ckpt.state + ckpt.action:
                print(f"  {f_.key}: min {[round(x, 4) for x in f_.stats['min']]} "
                      f"max {[round(x, 4) for x in f_.stats['max']]}")
        else:
            out = write_random_checkpoint(args.out_dir, args.size, layout=args.layout, units=args.units,
                                          resolution=args.resolution)
            print(f"wrote {out} ({args.size}, random weights, Isaac format)")
    except CheckpointError as e:
        p.exit(2, f"python -m bridge.gr00t_checkpoint: error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
