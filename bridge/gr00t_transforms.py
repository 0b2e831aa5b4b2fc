"""GR00T N1.5 input/output transforms as pure, batched torch functions (any device).

What a fine-tuned GR00T N1.5 checkpoint saw in training, and what the stock inference wrappers
feed it, reproduced without the reference packages. Two reference implementations exist and
differ; each function takes a ``convention``:

- ``"isaac"``: NVIDIA Isaac-GR00T N1.5 (tag ``n1.5-release``, commit 4af2b622) through its
  stock inference wrapper ``Gr00tPolicy.get_action`` (the checkpoint format with
  ``experiment_cfg/metadata.json``; e.g. the fine-tuning service's checkpoints).
- ``"isaac_train"``: the same code in training (only the task text differs, see `chat_text`).
- ``"lerobot"``: lerobot 0.4.4's ``lerobot.policies.groot`` processor steps.

Every function here is checked against numbers computed by the reference code itself
(``tests/fixtures/gr00t_golden/``, provenance in ``provenance.json`` there).

API
---
Frames (one camera view = one image; N = B * V, sample-major, views in the data config's
order):

    crop_box(height, width, scale=0.95) -> (top, left, crop_h, crop_w)
    crop_resize(frames, convention="isaac", size=224, scale=0.95) -> frames224
        (N, H, W, 3) uint8 -> (N, size, size, 3) uint8
    lerobot_to_uint8(images) -> (N, H, W, 3) uint8      LeRobot's float [0, 1] -> uint8 step
    eagle_pixel_values(frames224) -> (N, 3, 224, 224) float32 in [-1, 1]
    stack_views(frames_by_key, keys) -> (B * V, H, W, 3)    from {key: (B, [1,] H, W, 3)}

Text:

    chat_text(task, num_images, convention="isaac", image_tokens=256) -> str
        the exact string the tokenizer receives (image placeholders already expanded)
    prompt_ids(tokenizer, tasks, num_images, convention="isaac", image_tokens=256)
        -> (input_ids (B, L) int64, attention_mask (B, L) int64), padded on the left

State and action (stats: {"min", "max", "mean", "std", "q01", "q99"}: sequences or tensors of
length d, as in ``metadata.json``; modes ``min_max``, ``q99``, ``mean_std``, ``scale``,
``binary``):

    normalize(x, stats, mode) -> same shape as x (..., d)
    unnormalize(y, stats, mode) -> same shape as y (..., d)
    pad(x, dim=64) -> (padded (..., dim), mask (..., dim) bool)
    normalize_state(state_by_key, stats_by_key, keys, modes="min_max", max_dim=64)
        -> (state (B, 1, max_dim) float, mask (B, 1, max_dim) bool)
    split_action(chunk, keys_and_dims) -> {key: chunk[..., a:b]}
    unnormalize_action(pred, stats_by_key, keys_and_dims, modes="min_max") -> {key: (B, T, d)}

Checkpoint metadata:

    read_metadata(model_path, embodiment_tag="new_embodiment") -> metadata dict for the tag
    keys_and_dims(metadata, kind, keys) -> [(key, d), ...]   kind "state" | "action"
    EMBODIMENT_IDS (Isaac), LEROBOT_EMBODIMENT_IDS (LeRobot's mapping, two extra tags)

Conventions, as read from the reference source (see ``provenance.json`` for files and lines):

- Isaac frames: ``/255`` to float32, centre crop ``(int(H*0.95), int(W*0.95))`` at
  ``(round((H-h)/2), round((W-w)/2))`` (Python round: half to even), bilinear resize to 224x224
  with antialias (``torch.nn.functional.interpolate``), back to uint8 by truncation
  (``(x*255).to(uint8)``); always applied, also to 224x224 input (crop to 212 and scale back up).
- LeRobot frames: no crop; float images become uint8 by truncation (``(x.clamp(0,1)*255)
  .to(uint8)``); Eagle's image processor (one tile, no thumbnail) resizes to 224x224 bicubic
  with antialias through torchvision (on CPU the native uint8 kernel, elsewhere float then round
  and clamp); a frame already 224x224 is left as it is.
- Eagle pixels: ``(u8 - 127.5) / 127.5`` in float32 (mean 0.5, std 0.5, rescale 1/255 fused).
- Text: the Eagle chat template adds a system turn; each image becomes
  ``<image k><img>`` + 256 ``<IMG_CONTEXT>`` + ``</img>`` (no separator), then the task, then
  ``<|im_end|>\\n<|im_start|>assistant\\n``. The task: ``isaac_train`` the plain string (the
  dataset hands a ``list[str]``); ``isaac`` (``Gr00tPolicy.get_action`` converts every
  observation value to a numpy array) ``str(np.array([task]))``, i.e. ``"['task']"``;
  ``lerobot`` ``str([task])``, and its processor uses the batch's FIRST task for every sample.
- State/action: Isaac normalises per key with that key's statistics (float32), concatenates in
  the data config's key order, pads with zeros to 64 (truncates beyond), mask True on real
  dims; actions are split by key order and metadata shapes from the start of the 32-dim
  prediction, then un-normalised per key. LeRobot does min-max on the whole vector (same
  formula), and its postprocessor, handed a whole ``(B, T, D)`` chunk, keeps only the LAST step
  (it expects one ``(B, D)`` step at a time from ``select_action``).
- Tokenizer: the N1.5 Eagle tokenizer (Qwen BPE + GR00T's added tokens, ``<IMG_CONTEXT>`` =
  151669, pad ``<|endoftext|>`` = 151643), from the checkpoint's Eagle directory or Isaac's
  ``gr00t/model/backbone/eagle2_hg_model``; the repository does not carry it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

CONVENTIONS = ("isaac", "isaac_train", "lerobot")
IMAGE_SIZE = 224
IMAGE_TOKENS = 256  # <IMG_CONTEXT> tokens per 224x224 tile
CROP_SCALE = 0.95
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
IMG_CONTEXT_ID = 151669  # in the N1.5 Eagle tokenizer (added_tokens.json)
PAD_TOKEN = "<|endoftext|>"  # id 151643
SYSTEM_TURN = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
MAX_STATE_DIM = 64
MAX_ACTION_DIM = 32
# gr00t/data/embodiment_tags.py EMBODIMENT_TAG_MAPPING (projector index of the action head)
EMBODIMENT_IDS = {"new_embodiment": 31, "oxe_droid": 17, "agibot_genie1": 26, "gr1": 24}
# lerobot/policies/groot/processor_groot.py GrootPackInputsStep.embodiment_mapping
LEROBOT_EMBODIMENT_IDS = {**EMBODIMENT_IDS, "so100": 2, "unitree_g1": 3}
MODES = ("min_max", "q99", "mean_std", "scale", "binary")


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}: expected one of {CONVENTIONS}")


# ---------------------------------------------------------------------------------------------
# Frames

def crop_box(height: int, width: int, scale: float = CROP_SCALE) -> tuple[int, int, int, int]:
    """Isaac's eval centre crop of an ``height x width`` frame: ``(top, left, crop_h, crop_w)``
    in pixels. ``crop_h = int(height * scale)`` (Python float product, truncated), ``top =
    round((height - crop_h) / 2)`` with Python's round (half to even), as torchvision's
    ``CenterCrop`` places it."""
    ch, cw = int(height * scale), int(width * scale)
    if ch < 1 or cw < 1:
        raise ValueError(f"crop of {height}x{width} at scale {scale} is empty")
    return int(round((height - ch) / 2.0)), int(round((width - cw) / 2.0)), ch, cw


def _check_frames(frames: torch.Tensor) -> None:
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[-1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames must be a (N, H, W, 3) tensor, got {shape}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")


def crop_resize(frames: torch.Tensor, convention: str = "isaac", size: int = IMAGE_SIZE,
                scale: float = CROP_SCALE) -> torch.Tensor:
    """Camera frames to the model's square images, on the frames' device.

    frames: ``(N, H, W, 3) uint8`` RGB. Returns ``(N, size, size, 3) uint8``.

    ``isaac`` / ``isaac_train``: float ``/255``, centre crop (`crop_box`), bilinear resize with
    antialias, ``(x*255)`` truncated to uint8 (VideoToTensor, VideoCrop, VideoResize,
    VideoToNumpy). ``lerobot``: no crop, bicubic resize with antialias as torchvision's
    ``resize`` does it inside Eagle's image processor (CPU: the native uint8 kernel; other
    devices: float, clamp, round), frames already ``size x size`` unchanged; ``scale`` unused.
    """
    _check_convention(convention)
    _check_frames(frames)
    n, h, w, _ = frames.shape
    if n == 0:
        return frames.new_zeros((0, size, size, 3))
    x = frames.permute(0, 3, 1, 2)
    if convention == "lerobot":
        if (h, w) == (size, size):
            return frames.clone()
        y = _bicubic_uint8(x, size, native=frames.device.type == "cpu")
        return y.permute(0, 2, 3, 1).contiguous()
    top, left, ch, cw = crop_box(h, w, scale)
    x = x.to(torch.float32) / 255.0
    x = x[..., top:top + ch, left:left + cw]
    if (ch, cw) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x.permute(0, 2, 3, 1) * 255).to(torch.uint8).contiguous()



def model_frame(frame, convention: str | None, size: int = IMAGE_SIZE):
    """One frame as the model receives it, for looking at: `(H, W, 3) uint8` numpy in,
    `(size, size, 3) uint8` numpy out after `crop_resize` (convention None: unchanged)."""
    f = torch.as_tensor(frame)
    if convention is not None:
        f = crop_resize(f[None], convention, size=size)[0]
    return f.numpy()

def _bicubic_uint8(x: torch.Tensor, size: int, native: bool) -> torch.Tensor:
    """torchvision v2 ``resize_image`` of a ``(N, 3, H, W) uint8`` batch, bicubic, antialias:
    on CPU torch's native uint8 kernel (``native``), elsewhere float32, clamp, round, uint8."""
    if native:
        return F.interpolate(x.contiguous(), size=(size, size), mode="bicubic", align_corners=False,
                             antialias=True)
    y = F.interpolate(x.to(torch.float32), size=(size, size), mode="bicubic", align_corners=False,
                      antialias=True)
    return y.clamp_(0, 255).round_().to(torch.uint8)


def lerobot_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """LeRobot's image -> uint8 step (``_to_uint8_np_bhwc``): ``(N, 3, H, W)`` float in [0, 1]
    (or uint8, passed through) -> ``(N, H, W, 3) uint8``, ``(x.clamp(0, 1) * 255)`` truncated."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    if images.dtype.is_floating_point:
        images = (images.clamp(0, 1) * 255.0).to(torch.uint8)
    elif images.dtype != torch.uint8:
        raise ValueError(f"images must be float or uint8, got {images.dtype}")
    return images.permute(0, 2, 3, 1).contiguous()


def eagle_pixel_values(frames224: torch.Tensor) -> torch.Tensor:
    """Eagle 2.5 image processor's output for one-tile images: ``(N, H, W, 3) uint8`` ->
    ``(N, 3, H, W) float32``, ``(u8 - 127.5) / 127.5`` (rescale 1/255 and mean = std = 0.5
    fused as transformers' fast processors do). N = B * V, sample-major (all views of sample 0
    first, in the data config's video-key order)."""
    _check_frames(frames224)
    x = frames224.permute(0, 3, 1, 2).to(torch.float32)
    return ((x - 127.5) / 127.5).contiguous()


def stack_views(frames_by_key: Mapping[str, torch.Tensor], keys: Sequence[str]) -> torch.Tensor:
    """``{key: (B, H, W, 3) or (B, 1, H, W, 3)}`` -> ``(B * V, H, W, 3)``, sample-major with
    views in ``keys`` order (the order the Eagle processor receives the images)."""
    if not keys:
        raise ValueError("no video keys")
    views = []
    for key in keys:
        v = frames_by_key[key]
        if v.dim() == 5:
            if v.shape[1] != 1:
                raise ValueError(f"{key}: expected one frame per sample, got shape {tuple(v.shape)}")
            v = v[:, 0]
        views.append(v)
    return torch.stack(views, 1).flatten(0, 1)


# ---------------------------------------------------------------------------------------------
# Text

def task_text(task: str, convention: str = "isaac") -> str:
    """The task as the chat template receives it (see the module docstring)."""
    _check_convention(convention)
    if not isinstance(task, str):
        raise TypeError(f"task must be a str, got {type(task).__name__}")
    if convention == "isaac_train":
        return task
    if convention == "isaac":
        return str(np.array([task]))  # Gr00tPolicy.get_action: np.array(list of str), shape (1,)
    return str([task])


def image_placeholder(index: int, image_tokens: int = IMAGE_TOKENS) -> str:
    """What Eagle's processor puts for image ``index`` (1-based), one tile."""
    return f"<image {index}>{IMG_START}{IMG_CONTEXT * image_tokens}{IMG_END}"


def chat_text(task: str, num_images: int, convention: str = "isaac",
              image_tokens: int = IMAGE_TOKENS) -> str:
    """The exact text one sample's tokens come from: the chat template's system turn, the user
    turn with every image's expanded placeholder then the task (`task_text`), the assistant
    prompt. ``num_images`` = views per sample (V)."""
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    images = "".join(image_placeholder(k + 1, image_tokens) for k in range(num_images))
    return (f"{SYSTEM_TURN}<|im_start|>user\n{images}{task_text(task, convention)}<|im_end|>\n"
            f"<|im_start|>assistant\n")


def prompt_ids(tokenizer, tasks: Sequence[str] | str, num_images: int, convention: str = "isaac",
               image_tokens: int = IMAGE_TOKENS) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask for a batch, ``(B, L) int64`` each, padded on the LEFT with
    the tokenizer's pad token (``<|endoftext|>``) as the reference processors do. ``tokenizer``:
    the N1.5 Eagle tokenizer (Qwen2 BPE + GR00T's added tokens). LeRobot's processor uses the
    batch's first task for every sample: to emulate it pass ``[tasks[0]] * B``."""
    if isinstance(tasks, str):
        tasks = [tasks]
    if len(tasks) == 0:
        raise ValueError("no tasks")
    texts = [chat_text(t, num_images, convention, image_tokens) for t in tasks]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(texts, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = side
    return enc["input_ids"].to(torch.int64), enc["attention_mask"].to(torch.int64)


# ---------------------------------------------------------------------------------------------
# State and action

def _stat(stats: Mapping, name: str, like: torch.Tensor) -> torch.Tensor:
    if name not in stats:
        raise KeyError(f"statistics lack {name!r} (have {sorted(stats)})")
    v = stats[name]
    # the reference holds statistics as torch.tensor(list) (float32), then casts to x's dtype
    t = v.detach().to(torch.float32) if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=torch.float32)
    if t.dim() != 1 or t.shape[0] != like.shape[-1]:
        raise ValueError(f"statistic {name!r} has shape {tuple(t.shape)}, data has {like.shape[-1]} dims")
    return t.to(device=like.device, dtype=like.dtype)


def normalize(x: torch.Tensor, stats: Mapping, mode: str = "min_max") -> torch.Tensor:
    """Isaac's ``Normalizer.forward`` on ``x (..., d)`` (float), stats of length d.

    min_max: ``2 (x - min) / (max - min) - 1``, 0 where max == min, not clipped.
    q99: the same with q01/q99, x passed through where q01 == q99, all clipped to [-1, 1].
    mean_std: ``(x - mean) / std``, x passed through where std == 0.
    scale: ``x / max(|min|, |max|)``, 0 where that is 0. binary: ``x > 0.5`` as 0/1.
    """
    if mode not in MODES:
        raise ValueError(f"unknown normalisation mode {mode!r}: expected one of {MODES}")
    if not x.dtype.is_floating_point:
        raise ValueError(f"x must be floating point, got {x.dtype}")
    if mode == "binary":
        return (x > 0.5).to(x.dtype)
    if mode == "mean_std":
        mean, std = _stat(stats, "mean", x), _stat(stats, "std", x)
        ok = std != 0
        return torch.where(ok, (x - mean) / torch.where(ok, std, torch.ones_like(std)), x)
    if mode == "scale":
        lo, hi = _stat(stats, "min", x), _stat(stats, "max", x)
        m = torch.maximum(lo.abs(), hi.abs())
        ok = m != 0
        return torch.where(ok, x / torch.where(ok, m, torch.ones_like(m)), torch.zeros_like(x))
    lo_name, hi_name = ("q01", "q99") if mode == "q99" else ("min", "max")
    lo, hi = _stat(stats, lo_name, x), _stat(stats, hi_name, x)
    ok = lo != hi
    span = torch.where(ok, hi - lo, torch.ones_like(hi))
    y = 2 * ((x - lo) / span) - 1
    if mode == "q99":
        return torch.where(ok, y, x).clamp(-1, 1)
    return torch.where(ok, y, torch.zeros_like(x))


def unnormalize(y: torch.Tensor, stats: Mapping, mode: str = "min_max") -> torch.Tensor:
    """Isaac's ``Normalizer.inverse`` on ``y (..., d)``: min_max ``(y + 1) / 2 (max - min) +
    min`` (= min where max == min), q99 the same with q01/q99 (no clip), mean_std ``y std +
    mean``, binary ``y > 0.5``; ``scale`` has no inverse in the reference (ValueError)."""
    if mode not in MODES:
        raise ValueError(f"unknown normalisation mode {mode!r}: expected one of {MODES}")
    if not y.dtype.is_floating_point:
        raise ValueError(f"y must be floating point, got {y.dtype}")
    if mode == "binary":
        return (y > 0.5).to(y.dtype)
    if mode == "scale":
        raise ValueError("the reference has no inverse for 'scale' normalisation")
    if mode == "mean_std":
        return y * _stat(stats, "std", y) + _stat(stats, "mean", y)
    lo_name, hi_name = ("q01", "q99") if mode == "q99" else ("min", "max")
    lo, hi = _stat(stats, lo_name, y), _stat(stats, hi_name, y)
    return (y + 1) / 2 * (hi - lo) + lo


def pad(x: torch.Tensor, dim: int = MAX_STATE_DIM) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad the last axis to ``dim``: ``(..., d) -> (padded (..., dim), mask (..., dim)
    bool)``, mask True on the first ``min(d, dim)`` entries. Longer inputs are truncated to
    ``dim``, as Isaac's ``_prepare_state`` and LeRobot's pack step do."""
    d = x.shape[-1]
    if d >= dim:
        out = x[..., :dim].clone()
    else:
        out = F.pad(x, (0, dim - d))
    mask = torch.zeros(out.shape, dtype=torch.bool, device=x.device)
    mask[..., :min(d, dim)] = True
    return out, mask


def _short(key: str) -> str:
    return key.split(".", 1)[1] if "." in key else key


def _mode(modes, key: str) -> str:
    if isinstance(modes, str):
        return modes
    for k in (key, _short(key)):
        if k in modes:
            return modes[k]
    raise KeyError(f"no normalisation mode for {key!r}")


def _stats_for(stats_by_key: Mapping, key: str) -> Mapping:
    for k in (key, _short(key)):
        if k in stats_by_key:
            return stats_by_key[k]
    raise KeyError(f"no statistics for {key!r} (have {sorted(stats_by_key)})")


def normalize_state(state_by_key: Mapping[str, torch.Tensor], stats_by_key: Mapping,
                    keys: Sequence[str], modes: str | Mapping[str, str] = "min_max",
                    max_dim: int = MAX_STATE_DIM) -> tuple[torch.Tensor, torch.Tensor]:
    """Isaac's state path: each ``state.<k>`` ``(B, 1, d_k)`` or ``(B, d_k)`` normalised with
    its own statistics (``stats_by_key[k]``, the metadata's ``statistics.state``; keys with or
    without the ``state.`` prefix), concatenated in ``keys`` order (the data config's), padded to
    ``max_dim``. Returns ``(state (B, 1, max_dim), mask (B, 1, max_dim) bool)``."""
    if not keys:
        raise ValueError("no state keys")
    parts = []
    for key in keys:
        v = state_by_key[key]
        if v.dim() == 2:
            v = v[:, None]
        if v.dim() != 3 or v.shape[1] != 1:
            raise ValueError(f"{key}: expected (B, 1, d) or (B, d), got {tuple(v.shape)}")
        parts.append(normalize(v, _stats_for(stats_by_key, key), _mode(modes, key)))
    return pad(torch.cat(parts, -1), max_dim)


def split_action(chunk: torch.Tensor, keys_and_dims: Sequence[tuple[str, int]]) -> dict[str, torch.Tensor]:
    """Split ``chunk (..., D)`` along its last axis into consecutive slices from 0, one per
    ``(key, d)`` in order (ConcatTransform.unapply); the padded tail beyond ``sum(d)`` is
    dropped. Returns views."""
    out, a = {}, 0
    for key, d in keys_and_dims:
        if d < 1:
            raise ValueError(f"{key}: dimension must be >= 1, got {d}")
        out[key] = chunk[..., a:a + d]
        a += d
    if a > chunk.shape[-1]:
        raise ValueError(f"keys need {a} dims, the chunk has {chunk.shape[-1]}")
    return out


def unnormalize_action(pred: torch.Tensor, stats_by_key: Mapping, keys_and_dims: Sequence[tuple[str, int]],
                       modes: str | Mapping[str, str] = "min_max") -> dict[str, torch.Tensor]:
    """The model's ``action_pred (B, T, 32)`` (normalised, padded) -> ``{action.<k>: (B, T,
    d_k)}`` in robot units: `split_action` then `unnormalize` per key with its statistics
    (``statistics.action``; keys with or without the ``action.`` prefix)."""
    parts = split_action(pred, keys_and_dims)
    return {key: unnormalize(v, _stats_for(stats_by_key, key), _mode(modes, key))
            for key, v in parts.items()}


# ---------------------------------------------------------------------------------------------
# Checkpoint metadata

def read_metadata(model_path: str | Path, embodiment_tag: str = "new_embodiment") -> dict:
    """``<model_path>/experiment_cfg/metadata.json``'s entry for the tag: ``{"statistics":
    {"state"|"action": {key: {max, min, mean, std, q01, q99}}}, "modalities": {"video": {key:
    {resolution: [W, H], channels, fps}}, "state"|"action": {key: {absolute, rotation_type,
    shape: [d], continuous}}}, "embodiment_tag": tag}`` (gr00t/data/schema.py DatasetMetadata)."""
    path = Path(model_path) / "experiment_cfg" / "metadata.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (an Isaac-GR00T N1.5 checkpoint has it)")
    meta = json.loads(path.read_text())
    if embodiment_tag not in meta:
        raise KeyError(f"{path} has no entry for embodiment {embodiment_tag!r} (has {sorted(meta)})")
    entry = meta[embodiment_tag]
    for field in ("statistics", "modalities"):
        if field not in entry:
            raise KeyError(f"{path}: {embodiment_tag!r} entry lacks {field!r}")
    return entry


def keys_and_dims(metadata: Mapping, kind: str, keys: Sequence[str]) -> list[tuple[str, int]]:
    """``[(key, d), ...]`` for ``keys`` (e.g. ``["action.arm_0"]``, the data config's order),
    d from ``modalities.<kind>.<k>.shape`` (1-D shapes only, as ConcatTransform requires)."""
    if kind not in ("state", "action"):
        raise ValueError(f"kind must be 'state' or 'action', got {kind!r}")
    mods = metadata["modalities"][kind]
    out = []
    for key in keys:
        short = _short(key)
        if short not in mods:
            raise KeyError(f"metadata has no {kind} key {short!r} (has {sorted(mods)})")
        shape = mods[short]["shape"]
        if len(shape) != 1:
            raise ValueError(f"{kind}.{short}: shape {shape} is not 1-D")
        out.append((key, int(shape[0])))
    return out
