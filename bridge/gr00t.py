"""GR00T N1.5 as a chunk model: `--base gr00t:<hub id | dir>` (train, evaluate, deploy).

The checkpoint is read in its own format (bridge.gr00t_checkpoint: Isaac-GR00T or LeRobot,
detected from the files), its model built with LeRobot 0.4.4's pip code (`GR00TN15`), and fed
exactly what it saw in training: the transforms of the checkpoint's own convention
(bridge.gr00t_transforms, checked against golden numbers computed with Isaac-GR00T's and
LeRobot's code), its keys in its own order, its statistics and normalisation modes, its cameras
in metadata order. Two paths, both GR00T-layout callables (bridge.torch_base):

  StockGr00t  what the reference processors do, on the host: per sample, frames cropped/resized
              on the CPU, the chat text built and tokenised for every sample, state normalised
              and padded on the CPU, `action_pred` un-normalised after `.cpu()`.
  FastGr00t   the same numbers with the batch kept on its device: frames (B*V, 3, S, S)
              sample-major, the constant text tokenised once per task, normalisation and
              un-normalisation on the device. It checks itself against the stock path with the
              same denoising noise (the RNG restored) on the probe batch and again on the first
              real batch, and refuses to run if they differ.

NVIDIA's Isaac-GR00T package (`gr00t.model.policy.Gr00tPolicy`) is no longer used: LeRobot's
model code reads its checkpoints as they are, and the transforms are reproduced and
golden-checked here, so the package (not on PyPI, its own torch/flash-attn pins) adds nothing
in this process. Keep it in its own environment behind `--base gr00t-server:<host>:<port>`
(bridge.server) if you want its own code to run the model.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from bridge import gr00t_checkpoint as gc
from bridge import gr00t_transforms as T
from bridge.units import BridgeConfig


class _Gr00t:
    """What both paths share: the checkpoint, model, tokenizer, keys and constants.
    `convention`: the transforms' convention (bridge.gr00t_transforms), by default the
    checkpoint's: "isaac" (what Isaac-GR00T's Gr00tPolicy.get_action feeds, its task text
    included) or "lerobot"; "isaac_train" feeds the task as the plain string of training."""

    def __init__(self, ckpt: gc.Checkpoint, model, tokenizer, denoising_steps: int | None = None,
                 convention: str | None = None):
        self.ckpt, self.model, self.tokenizer = ckpt, model, tokenizer
        self.convention = convention or ckpt.convention
        eagle = model.backbone.eagle_model
        self.image_tokens = int(eagle.num_image_token)
        self.image_size = int(eagle.config.force_image_size or eagle.config.vision_config.image_size)
        self.image_token_id = int(eagle.image_token_index)
        self.max_state_dim = int(model.action_head.config.max_state_dim)
        self.cameras = tuple(c.key for c in ckpt.video)
        self.state_keys = [f.key for f in ckpt.state]
        self.state_stats = {f.key: f.stats for f in ckpt.state}
        self.state_modes = {f.key: f.mode for f in ckpt.state}
        self.action_dims = [(f.key, f.dim) for f in ckpt.action]
        self.action_stats = {f.key: f.stats for f in ckpt.action}
        self.action_modes = {f.key: f.mode for f in ckpt.action}
        if denoising_steps:
            model.action_head.num_inference_timesteps = int(denoising_steps)
        self.calls = 0

    # -- pieces (bridge.gr00t_transforms, golden-checked) -------------------------------------
    def _pixels(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, H, W, 3) uint8, sample-major -> (N, 3, S, S) Eagle pixel values, the
        checkpoint's convention. LeRobot's resize is its CPU uint8 kernel: run where it runs."""
        if self.convention == "lerobot" and frames.device.type != "cpu":
            small = T.crop_resize(frames.cpu(), self.convention, size=self.image_size).to(frames.device)
        else:
            small = T.crop_resize(frames, self.convention, size=self.image_size)
        return T.eagle_pixel_values(small)

    def _prompt(self, tasks: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
        if self.convention == "lerobot":  # LeRobot's processor: the batch's first task for all
            tasks = [tasks[0]] * len(tasks)
        ids, mask = T.prompt_ids(self.tokenizer, tasks, len(self.cameras), self.convention,
                                 image_tokens=self.image_tokens)
        want = len(self.cameras) * self.image_tokens
        got = (ids == self.image_token_id).sum(-1)
        if not bool((got == want).all()):
            raise ValueError(f"the prompt holds {got.tolist()} image tokens per sample, the model "
                             f"expects {want} ({len(self.cameras)} cameras x {self.image_tokens}): "
                             "the tokenizer does not fit this checkpoint's Eagle config")
        return ids.to(device), mask.to(device)

    def _state(self, obs: dict, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, max_state_dim) normalised state in the checkpoint's key order, and its mask."""
        state = {k: obs[k][:, -1:].to(dtype) for k in self.state_keys}
        s, mask = T.normalize_state(state, self.state_stats, self.state_keys, self.state_modes,
                                    self.max_state_dim)
        return s.float(), mask

    def _actions(self, pred: torch.Tensor) -> dict:
        """action_pred (B, 16, 32) normalised -> {action key: (B, 16, d)} in robot units."""
        out = T.unnormalize_action(pred.float(), self.action_stats, self.action_dims, self.action_modes)
        return {k: v.float() for k, v in out.items()}

    def _inputs(self, pixels, ids, mask, state, state_mask, batch: int) -> dict:
        device = state.device
        return {"eagle_pixel_values": pixels, "eagle_input_ids": ids, "eagle_attention_mask": mask,
                "eagle_image_sizes": torch.full((pixels.shape[0], 2), self.image_size,
                                                dtype=torch.long, device=device),
                "state": state, "state_mask": state_mask,
                "embodiment_id": torch.full((batch,), self.ckpt.embodiment_id, dtype=torch.long,
                                            device=device)}

    def _run(self, inputs: dict) -> torch.Tensor:
        self.calls += 1
        with torch.inference_mode():
            return self.model.get_action(inputs)["action_pred"].float()

    def _check_frames(self, obs: dict) -> None:
        for cam in self.ckpt.video:
            f = obs[cam.key]
            if cam.resolution is not None and (f.shape[-2], f.shape[-3]) != cam.resolution:
                raise ValueError(f"camera {cam.key}: frames of {f.shape[-2]}x{f.shape[-3]}, the "
                                 f"checkpoint was trained on {cam.resolution[0]}x{cam.resolution[1]}")


class StockGr00t(_Gr00t):
    """The reference processors' way: every sample prepared on the host."""

    def __call__(self, obs: dict) -> dict:
        self._check_frames(obs)
        device = obs[self.ckpt.state[0].key].device
        pred = self._run(self.prepare(obs)).cpu()
        return {k: v.to(device) for k, v in self._actions(pred).items()}

    def prepare(self, obs: dict) -> dict:
        """The model's inputs, built on the CPU sample by sample."""
        batch = int(obs[self.ckpt.state[0].key].shape[0])
        pixels = []
        for b in range(batch):
            for key in self.cameras:
                pixels.append(self._pixels(obs[key][b, -1:].cpu()))
        tasks = [str(t) for t in obs[self._task_key(obs)]]
        ids, mask = self._prompt(tasks, "cpu")
        host = {f.key: obs[f.key].cpu() for f in self.ckpt.state}
        state, state_mask = self._state(host, torch.float64)
        return self._inputs(torch.cat(pixels), ids, mask, state, state_mask, batch)

    @staticmethod
    def _task_key(obs: dict) -> str:
        keys = [k for k, v in obs.items() if isinstance(v, (list, tuple))]
        if len(keys) != 1:
            raise ValueError(f"expected one task-text list in the observation, got {keys}")
        return keys[0]


class FastGr00t(_Gr00t):
    """The same inputs built on the batch's device, the text tokenised once per task; checked
    against `StockGr00t` with the same denoising noise and refused beyond `atol`, in the model's
    normalised action units (2 = a key's whole min..max range): 1e-3 in float32, 3e-2 when the
    model computes in bf16 (its own rounding is ~4e-3 per value). On a CPU both paths compute
    the same numbers; on a GPU a resized pixel may land one uint8 level apart."""

    def __init__(self, *args, verify: bool = True, atol: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if atol is None:
            atol = 3e-2 if getattr(self.model, "compute_dtype", "float32") == "bfloat16" else 1e-3
        self.verify, self.atol, self.worst, self.checks = verify, atol, None, 0
        self._tokens: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def after_probe(self) -> None:
        """bridge.torch_base.probe_model calls this: check again on the first real batch."""
        self.verify = True

    def __call__(self, obs: dict) -> dict:
        self._check_frames(obs)
        inputs = self.prepare(obs)
        device = inputs["state"].device
        if self.verify:
            rng = torch.random.get_rng_state()
            cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
        out = self._actions(self._run(inputs))
        if self.verify:
            self._check(obs, out, rng, cuda_rng)
        return out

    def prepare(self, obs: dict) -> dict:
        """The model's inputs, built on the batch's device."""
        first = obs[self.ckpt.state[0].key]
        device, batch = first.device, int(first.shape[0])
        tasks = set(obs[StockGr00t._task_key(obs)])
        if len(tasks) != 1:
            raise ValueError(f"the fast path needs one task text for the batch, got {sorted(tasks)}")
        task = tasks.pop()
        if task not in self._tokens:  # tokenised once per task text
            self._tokens[task] = self._prompt([task], device)
        ids, mask = self._tokens[task]
        frames = T.stack_views({k: obs[k][:, -1] for k in self.cameras}, self.cameras)
        pixels = self._pixels(frames)  # (B*V, 3, S, S), sample-major
        state, state_mask = self._state(obs)
        return self._inputs(pixels, ids.expand(batch, -1), mask.expand(batch, -1), state,
                            state_mask, batch)

    def _normalised(self, key: str, diff: torch.Tensor) -> torch.Tensor:
        """A difference in robot units as a fraction of the key's range x 2 (min_max units)."""
        stats, mode = self.action_stats[key], self.action_modes[key]
        lo, hi = ("q01", "q99") if mode == "q99" else ("min", "max")
        if mode == "mean_std":
            span = 4 * torch.as_tensor(stats["std"], dtype=diff.dtype, device=diff.device)
        else:
            span = (torch.as_tensor(stats[hi], dtype=diff.dtype, device=diff.device)
                    - torch.as_tensor(stats[lo], dtype=diff.dtype, device=diff.device))
        return 2 * diff / torch.where(span > 0, span, torch.ones_like(span))

    def _check(self, obs, out, rng, cuda_rng) -> None:
        """Run the stock path with the fast path's noise (RNG restored); refuse if they differ."""
        stock = StockGr00t.__new__(StockGr00t)
        stock.__dict__.update(self.__dict__)  # its own call counter: the check is not counted
        after = torch.random.get_rng_state()
        cuda_after = torch.cuda.get_rng_state_all() if cuda_rng is not None else None
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        try:
            ref = stock(obs)
        finally:
            torch.random.set_rng_state(after)
            if cuda_after is not None:
                torch.cuda.set_rng_state_all(cuda_after)
        self.worst = max(float(self._normalised(k, (out[k] - ref[k].to(out[k])).abs()).max()) for k in out)
        self.checks += 1
        if not self.worst <= self.atol:
            raise RuntimeError(f"GR00T fast path differs from the stock path by {self.worst:.3g} > "
                               f"{self.atol} (normalised action units) on the same inputs and noise")
        self.verify = False


# ---------------------------------------------------------------------------------------------
# Loading

def checkpoint_for(source: str, config: BridgeConfig, check_frames: bool = True) -> gc.Checkpoint:
    """The checkpoint `--base gr00t:<source>` names (written first for --random-weights),
    checked against --layout, --embodiment-tag, --units (its state statistics must be possible
    for the robot's joints) and (`check_frames`: the sim feeds its renders as they are)
    --render-size; one CheckpointError line."""
    source = random_dir(source, config) if config.random_weights else source
    if not source:
        raise gc.CheckpointError("--base gr00t needs a checkpoint: gr00t:<hub id | dir>, or "
                                 "--random-weights tiny|full")
    ckpt = gc.read_checkpoint(source, config.embodiment_tag)
    gc.check_layout(ckpt, config.key_layout(), config.layout, config.render_size if check_frames else None)
    gc.check_units(ckpt, config.key_layout(), config.units, config.joint_units())
    return ckpt


_TEMP_DIRS: dict[tuple, str] = {}


def random_dir(source: str, config: BridgeConfig) -> str:
    """The directory of a --random-weights checkpoint: written (Isaac format, the layout's keys,
    frames of --render-size) unless it holds one of the same size, layout, units and size."""
    want = {"size": config.random_weights, "seed": 0, "layout": config.layout,
            "units": config.units, "resolution": config.render_size}
    if not source:  # one temporary directory per kind of random checkpoint in this process
        key = tuple(want.values())
        if key not in _TEMP_DIRS:
            _TEMP_DIRS[key] = tempfile.mkdtemp(prefix="gr00t_random_")
        source = _TEMP_DIRS[key]
    path = Path(source)
    mark = path / gc.RANDOM_MARK
    if mark.is_file() and json.loads(mark.read_text()) == want:
        return str(path)
    if path.exists() and any(path.iterdir()) and not mark.is_file():
        raise gc.CheckpointError(f"--random-weights would overwrite {path}, which holds something "
                                 "else than a random-weights checkpoint: pass a new directory")
    if mark.is_file():
        shutil.rmtree(path)
    gc.write_random_checkpoint(path, config.random_weights, layout=config.layout,
                               units=config.units, resolution=config.render_size)
    return str(path)


def load(source: str, config: BridgeConfig = BridgeConfig(), device: str | None = None,
         verify: bool = True, check_frames: bool = True, convention: str | None = None):
    """The GR00T-layout callable for `--base gr00t:<source>`: StockGr00t, or FastGr00t with
    --gr00t-fast. Prints the detected format on stderr. `check_frames` False: the caller
    resizes its frames to each camera's `ckpt.video[i].resolution` (deploy)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ckpt = checkpoint_for(source, config, check_frames)
    print(ckpt.describe(), file=sys.stderr, flush=True)
    assets = gc.eagle_dir(ckpt)
    tokenizer = gc.load_tokenizer(assets)
    with contextlib.redirect_stdout(sys.stderr):
        model = gc.load_model(ckpt, device)
    if config.gr00t_fast:
        return FastGr00t(ckpt, model, tokenizer, config.denoising_steps, convention, verify=verify)
    return StockGr00t(ckpt, model, tokenizer, config.denoising_steps, convention)
