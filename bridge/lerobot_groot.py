"""GR00T N1.5 through LeRobot's model code (`lerobot.policies.groot`): the real architecture
(Eagle 2.5 VL backbone = SigLIP vision tower + Qwen3 LLM, flow-matching DiT action head) in the
bridge, from a local directory or built offline with random weights.

  --base lerobot-groot:<dir>                 a LeRobot GR00T N1.5 checkpoint directory (below)
  --base lerobot-groot --random-weights tiny the architecture at toy width (tests, CPU)
  --base lerobot-groot --random-weights full the N1.5-3B shapes, random weights (GPU benchmarks)

A model directory holds (`write_random_dir` writes one; `check_dir` names what is missing):
  groot_n15.json     GR00TN15 config: backbone_cfg, action_head_cfg, action_horizon, action_dim
                     (a LeRobot training run gets these from nvidia/GR00T-N1.5-3B's config.json)
  model.safetensors  weights: GR00TN15's state dict, or LeRobot GrootPolicy's (`_groot_model.`
                     prefix); absent only for a random-weights directory
  stats.json         {"state": {"min": [6], "max": [6]}, "action": {"min": [6], "max": [6]}}
                     in robot units (LeRobot: the groot_pack_inputs step's observation.state /
                     action statistics); state and action are min-max normalised to [-1, 1]
  eagle/             the Eagle 2.5 VL config.json, LeRobot's vendored eagle2_hg_model/*.py and
                     the tokenizer (tokenizer.json + tokenizer_config.json with <IMG_CONTEXT>)

Two paths, both GR00T-layout callables (bridge.torch_base): `StockLeRobotGr00t` prepares every
sample on the host as LeRobot's processor does (PIL resize of each frame, chat text built and
tokenised per sample, state normalised and padded on the CPU, actions un-normalised after
`.cpu()`); `FastLeRobotGr00t` keeps the batch on the device (torch crop/resize/normalise, the
constant text tokenised once, un-normalisation on the device) and checks itself against the
stock path on its first batch with the same denoising noise.

LeRobot's package `__init__`s import its training stack (datasets, draccus configs, ...);
`import_groot` loads only the model modules (`groot_n1`, `action_head`, `eagle2_hg_model`),
whose real imports are the `[groot]` extra's pins (transformers, peft, diffusers, dm-tree, ...).
flash-attn is not needed: the vision tower's hard-coded `flash_attention_2` falls back to SDPA.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bridge.units import CHUNK_HORIZON, KeyLayout

INSTALL_HINT = ("the lerobot-groot base needs the [groot] extra: `pip install -e '.[groot]'` then "
                "`pip install --no-deps lerobot==0.4.4` (make install does both)")
EMBODIMENT_IDS = {"new_embodiment": 31, "so100": 2, "gr1": 24, "oxe_droid": 17,
                  "agibot_genie1": 26, "unitree_g1": 3}
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", IMG_START, IMG_END, IMG_CONTEXT)
IMAGE_MEAN = IMAGE_STD = (0.5, 0.5, 0.5)  # SigLIP's normalisation
SIZES = ("tiny", "full")


def architecture(size: str, vocab_size: int, image_token_index: int) -> dict:
    """GR00TN15 config (+ its Eagle config under "eagle") for `size`: "full" = N1.5-3B's shapes
    (Qwen3-1.7B cut at layer 12, SigLIP2-400M at 224 px, DiT 16 x 32 heads x 48, 4 denoising
    steps), "tiny" = the same architecture at toy width for CPU tests (~1.5M parameters)."""
    if size not in SIZES:
        raise ValueError(f"--random-weights must be one of {SIZES}, got {size!r}")
    full = size == "full"
    text = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", vocab_size=vocab_size,
                hidden_size=2048 if full else 64, intermediate_size=6144 if full else 128,
                num_hidden_layers=28 if full else 2, num_attention_heads=16 if full else 4,
                num_key_value_heads=8 if full else 2, head_dim=128 if full else 16,
                max_position_embeddings=40960, rope_theta=1e6, rms_norm_eps=1e-6,
                tie_word_embeddings=True, use_cache=False, _attn_implementation="sdpa")
    vision = dict(model_type="siglip_vision_model", hidden_size=1152 if full else 32,
                  intermediate_size=4304 if full else 64, num_hidden_layers=27 if full else 2,
                  num_attention_heads=16 if full else 2, patch_size=14 if full else 28,
                  image_size=224, num_channels=3)
    eagle = dict(model_type="eagle_2_5_vl", architectures=["Eagle25VLForConditionalGeneration"],
                 auto_map={"AutoConfig": "configuration_eagle2_5_vl.Eagle25VLConfig",
                           "AutoModel": "modeling_eagle2_5_vl.Eagle25VLForConditionalGeneration"},
                 text_config=text, vision_config=vision, select_layer=-1, force_image_size=224,
                 downsample_ratio=0.5, use_pixel_shuffle=False, mlp_connector_layers=1,
                 image_token_index=image_token_index, _attn_implementation="sdpa",
                 use_backbone_lora=0, use_llm_lora=0)
    llm, dit_heads, dit_dim = (2048, 32, 48) if full else (64, 2, 16)
    embed = dit_heads * dit_dim
    head = dict(action_dim=32, action_horizon=CHUNK_HORIZON, add_pos_embed=True, max_state_dim=64,
                backbone_embedding_dim=llm, hidden_size=1024 if full else 32,
                input_embedding_dim=embed, max_seq_len=1024, max_num_embodiments=32,
                num_inference_timesteps=4, num_target_vision_tokens=32 if full else 4,
                use_vlln=True, model_dtype="float32", tune_projector=False,
                tune_diffusion_model=False,
                diffusion_model_cfg=dict(num_layers=16 if full else 2, num_attention_heads=dit_heads,
                                         attention_head_dim=dit_dim, output_dim=1024 if full else 32,
                                         cross_attention_dim=llm, dropout=0.2, final_dropout=True,
                                         norm_type="ada_norm", interleave_self_attention=True,
                                         positional_embeddings=None),
                vl_self_attention_cfg=dict(num_layers=4 if full else 1, num_attention_heads=32 if full else 2,
                                           attention_head_dim=64 if full else 32, dropout=0.2,
                                           final_dropout=True, positional_embeddings=None))
    backbone = dict(select_layer=12 if full else 2, project_to_dim=None, tune_llm=False,
                    tune_visual=False, reproject_vision=False, use_flash_attention=False)
    return dict(model_type="gr00t_n1_5", action_horizon=CHUNK_HORIZON, action_dim=32,
                compute_dtype="bfloat16" if full else "float32", backbone_cfg=backbone,
                action_head_cfg=head, eagle=eagle)


# ---------------------------------------------------------------------------------------------
# Importing LeRobot's model code (not its training stack)

def import_groot() -> types.ModuleType:
    """`lerobot.policies.groot.groot_n1`, without running `lerobot.policies`' and
    `lerobot.policies.groot`'s package `__init__` (they import datasets and the trainer)."""
    try:
        import lerobot
        import transformers  # noqa: F401
        import peft  # noqa: F401
        import diffusers  # noqa: F401
        import tree  # noqa: F401
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    if "lerobot.policies.groot.groot_n1" in sys.modules:
        return sys.modules["lerobot.policies.groot.groot_n1"]
    root = Path(lerobot.__file__).parent
    for name in ("lerobot.policies", "lerobot.policies.groot"):
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(root / Path(*name.split(".")[1:]))]
            sys.modules[name] = pkg
    return importlib.import_module("lerobot.policies.groot.groot_n1")


@contextlib.contextmanager
def _sdpa_for_flash_attention():
    """Eagle's modeling code sets `flash_attention_2` on the SigLIP tower; without flash-attn
    (any CPU, or a GPU without the package) build it with PyTorch's SDPA instead."""
    from transformers import PreTrainedModel
    from transformers.utils import is_flash_attn_2_available
    if is_flash_attn_2_available():
        yield
        return
    original = PreTrainedModel._check_and_adjust_attn_implementation

    def check(self, attn_implementation, is_init_check=False):
        if attn_implementation and attn_implementation.startswith("flash_attention"):
            attn_implementation = "sdpa"
        return original(self, attn_implementation, is_init_check)

    PreTrainedModel._check_and_adjust_attn_implementation = check
    try:
        yield
    finally:
        PreTrainedModel._check_and_adjust_attn_implementation = original


# ---------------------------------------------------------------------------------------------
# Model directories

def write_tokenizer(path: Path) -> None:
    """A byte-level BPE tokenizer (256 byte tokens, no merges) + GR00T's special tokens: enough
    for the task text and the image placeholders; the real one is Qwen3's (151k tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>",
                                   additional_special_tokens=list(SPECIAL[1:2] + SPECIAL[3:]))
    fast.padding_side = "left"
    fast.save_pretrained(str(path))


def write_random_dir(path: str | Path, size: str, stats: dict) -> Path:
    """A model directory for `--random-weights size` (no weights file: built at random)."""
    path = Path(path)
    eagle_dir = path / "eagle"
    eagle_dir.mkdir(parents=True, exist_ok=True)
    write_tokenizer(eagle_dir)
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(eagle_dir))
    full = size == "full"
    arch = architecture(size, 151680 if full else len(tok), tok.convert_tokens_to_ids(IMG_CONTEXT))
    groot = import_groot()
    vendor = Path(groot.__file__).parent / "eagle2_hg_model"
    for py in vendor.glob("*.py"):
        shutil.copy(py, eagle_dir / py.name)
    (eagle_dir / "config.json").write_text(json.dumps(arch.pop("eagle"), indent=1))
    arch["backbone_cfg"]["tokenizer_assets_repo"] = str(eagle_dir.resolve())
    (path / "groot_n15.json").write_text(json.dumps(arch, indent=1))
    (path / "stats.json").write_text(json.dumps(stats, indent=1))
    return path


def check_dir(path: str | Path, weights: bool = True) -> Path:
    """`path` if it is a complete model directory (see the module docstring), else
    FileNotFoundError listing what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"lerobot-groot model directory {path} not found (the model hub "
                                "is not reachable: pass a local directory)")
    need = ["groot_n15.json", "stats.json", "eagle/config.json", "eagle/tokenizer_config.json",
            "eagle/modeling_eagle2_5_vl.py"] + (["model.safetensors"] if weights else [])
    missing = [n for n in need if not (path / n).exists()]
    if missing:
        raise FileNotFoundError(f"lerobot-groot model directory {path} lacks {', '.join(missing)} "
                                "(see bridge/lerobot_groot.py: what a model directory holds)")
    return path


def build_model(path: str | Path, device: str = "cpu", weights: bool = True, seed: int = 0):
    """LeRobot's `GR00TN15` from a model directory: its weights, or random ones (`weights`
    False: initialised from `seed`). Eval mode, on `device`."""
    path = check_dir(path, weights)
    groot = import_groot()
    arch = json.loads((path / "groot_n15.json").read_text())
    arch["backbone_cfg"]["tokenizer_assets_repo"] = str((path / "eagle").resolve())
    config = groot.GR00TN15Config(**arch)
    torch.manual_seed(seed)
    quiet = contextlib.redirect_stdout(open("/dev/null", "w"))
    with _sdpa_for_flash_attention(), quiet:
        model = groot.GR00TN15(config, local_model_path=str(path))
    if weights:
        from safetensors.torch import load_file
        state = load_file(str(path / "model.safetensors"))
        state = {k.removeprefix("_groot_model."): v for k, v in state.items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embedding
        if missing or unexpected:
            raise ValueError(f"{path / 'model.safetensors'} does not fit groot_n15.json: "
                             f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} "
                             f"unexpected (e.g. {unexpected[:3]})")
    dtype = torch.bfloat16 if arch.get("compute_dtype") == "bfloat16" and device != "cpu" else torch.float32
    model.compute_dtype = "bfloat16" if dtype == torch.bfloat16 else "float32"
    return model.to(device=device, dtype=dtype).eval()


def read_stats(path: str | Path) -> dict:
    stats = json.loads((Path(path) / "stats.json").read_text())
    for kind in ("state", "action"):
        for k in ("min", "max"):
            if len(stats.get(kind, {}).get(k, ())) != 6:
                raise ValueError(f"{Path(path) / 'stats.json'}: {kind}.{k} needs 6 values")
    return stats


# ---------------------------------------------------------------------------------------------
# The two paths

class _Common:
    """What both paths share: the model, its tokenizer, layout, statistics, embodiment."""

    def __init__(self, model, path: str | Path, layout: KeyLayout, embodiment_tag: str = "new_embodiment",
                 denoising_steps: int | None = None):
        from transformers import AutoTokenizer
        if embodiment_tag not in EMBODIMENT_IDS:
            raise ValueError(f"unknown embodiment tag {embodiment_tag!r}: expected one of "
                             f"{sorted(EMBODIMENT_IDS)}")
        self.model, self.layout = model, layout
        self.tokenizer = AutoTokenizer.from_pretrained(str(Path(path) / "eagle"))
        self.tokenizer.padding_side = "left"
        self.stats = read_stats(path)
        self.embodiment_id = EMBODIMENT_IDS[embodiment_tag]
        eagle = model.backbone.eagle_model
        self.image_tokens = int(eagle.num_image_token)
        self.image_size = int(eagle.config.force_image_size or eagle.config.vision_config.image_size)
        self.max_state_dim = int(model.action_head.config.max_state_dim)
        if denoising_steps:
            model.action_head.num_inference_timesteps = int(denoising_steps)
        self.calls = 0

    def text(self, task: str) -> str:
        """The chat text LeRobot's Eagle step builds: every image's placeholder, then the task
        as the string of a one-element list, as a user turn, then the assistant prompt."""
        image = IMG_START + IMG_CONTEXT * self.image_tokens + IMG_END
        images = "".join(image for _ in self.layout.video)
        return f"<|im_start|>user\n{images}{[task]!s}<|im_end|>\n<|im_start|>assistant\n"

    def _range(self, kind: str, device) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stats[kind]
        return (torch.as_tensor(s["min"], dtype=torch.float32, device=device),
                torch.as_tensor(s["max"], dtype=torch.float32, device=device))

    def _state(self, obs: dict) -> torch.Tensor:
        """(B, 6) robot units in joint order from the layout's state keys."""
        parts = sorted(((a, obs[key][:, 0].float()) for key, a, _ in self.layout.state), key=lambda p: p[0])
        return torch.cat([p for _, p in parts], -1)

    def _split(self, action: torch.Tensor) -> dict:
        """(B, 16, 6) robot units -> the layout's action keys."""
        return {key: action[..., a:b] for key, a, b in self.layout.action}

    def _run(self, inputs: dict) -> torch.Tensor:
        self.calls += 1
        with torch.inference_mode():
            return self.model.get_action(inputs)["action_pred"].float()


def normalise(x, lo, hi):
    """LeRobot's min-max to [-1, 1] (0 where max == min)."""
    span = hi - lo
    safe = torch.where(span != 0, span, torch.ones_like(span))
    return torch.where(span != 0, 2 * (x - lo) / safe - 1, torch.zeros_like(x))


def unnormalise(y, lo, hi):
    span = hi - lo
    return torch.where(span != 0, (y + 1) / 2 * span + lo, lo.expand_as(y))


class StockLeRobotGr00t(_Common):
    """LeRobot's preprocessing, sample by sample on the host (PIL frames, per-sample text)."""

    def __call__(self, obs: dict) -> dict:
        device = obs[self.layout.state[0][0]].device
        pred = self._run(self.prepare(obs)).cpu()[..., :6]
        lo, hi = (t.cpu() for t in self._range("action", "cpu"))
        return {k: v.to(device) for k, v in self._split(unnormalise(pred, lo, hi)).items()}

    def prepare(self, obs: dict) -> dict:
        """The model's inputs, built on the host sample by sample."""
        from PIL import Image
        batch = int(obs[self.layout.state[0][0]].shape[0])
        texts, pixels = [], []
        mean, std = np.asarray(IMAGE_MEAN, np.float32), np.asarray(IMAGE_STD, np.float32)
        for b in range(batch):
            for key, _ in self.layout.video:
                frame = Image.fromarray(obs[key][b, 0].cpu().numpy())
                w, h = frame.size
                cw, ch = int(round(w * self.layout.crop)), int(round(h * self.layout.crop))
                left, top = (w - cw) // 2, (h - ch) // 2
                frame = frame.crop((left, top, left + cw, top + ch))
                frame = frame.resize((self.image_size, self.image_size), Image.BICUBIC)
                x = (np.asarray(frame, np.float32) / 255.0 - mean) / std
                pixels.append(x.transpose(2, 0, 1))
            texts.append(self.text(obs[self.layout.task_key][b]))
        tokens = self.tokenizer(texts, return_tensors="pt", padding=True)
        lo, hi = (t.cpu() for t in self._range("state", "cpu"))
        state = normalise(self._state(obs).cpu(), lo, hi)
        state = F.pad(state, (0, self.max_state_dim - state.shape[-1]))[:, None]
        mask = torch.zeros(batch, 1, self.max_state_dim, dtype=torch.bool)
        mask[..., :6] = True
        return {"eagle_pixel_values": torch.as_tensor(np.stack(pixels)),
                "eagle_input_ids": tokens["input_ids"], "eagle_attention_mask": tokens["attention_mask"],
                "eagle_image_sizes": torch.tensor([[self.image_size] * 2] * len(pixels)),
                "state": state, "state_mask": mask,
                "embodiment_id": torch.full((batch,), self.embodiment_id, dtype=torch.long)}


def resize_frames(frames: torch.Tensor, crop: float, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float in [0, 1] on the frames' device: centre
    crop (PIL's box rounding), bicubic resize with PIL's kernel (antialias), uint8 rounding as
    PIL's output has."""
    x = frames.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    ch, cw = int(round(h * crop)), int(round(w * crop))
    top, left = (h - ch) // 2, (w - cw) // 2
    x = x[..., top:top + ch, left:left + cw]
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return x.round().clamp(0, 255) / 255.0


class FastLeRobotGr00t(_Common):
    """The same model call with the batch kept on its device; checked against `stock` on the
    first batch (same noise) and refused if they differ by more than `atol` (robot units)."""

    def __init__(self, *args, verify: bool = True, atol: float = 1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        self.verify, self.atol, self.worst = verify, atol, None
        self._tokens: dict[str, torch.Tensor] = {}

    def _text_tokens(self, task: str, device) -> tuple[torch.Tensor, torch.Tensor]:
        if task not in self._tokens:  # tokenised once per task text
            t = self.tokenizer([self.text(task)], return_tensors="pt")
            self._tokens[task] = (t["input_ids"].to(device), t["attention_mask"].to(device))
        return self._tokens[task]

    def __call__(self, obs: dict) -> dict:
        inputs = self.prepare(obs)
        device = inputs["state"].device
        if self.verify:
            rng = torch.random.get_rng_state()
            cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
        pred = self._run(inputs)[..., :6]
        lo, hi = self._range("action", device)
        out = self._split(unnormalise(pred, lo, hi))
        if self.verify:
            self._check(obs, out, rng, cuda_rng)
        return out

    def prepare(self, obs: dict) -> dict:
        """The model's inputs, built on the batch's device."""
        lay = self.layout
        state_robot = self._state(obs)
        device, batch = state_robot.device, int(state_robot.shape[0])
        tasks = set(obs[lay.task_key])
        if len(tasks) != 1:
            raise ValueError(f"the fast path needs one task text for the batch, got {sorted(tasks)}")
        ids, attn = self._text_tokens(tasks.pop(), device)
        mean = torch.tensor(IMAGE_MEAN, device=device)[:, None, None]
        std = torch.tensor(IMAGE_STD, device=device)[:, None, None]
        frames = torch.stack([obs[k][:, 0] for k, _ in lay.video], 1)  # (B, V, H, W, 3)
        pixels = (resize_frames(frames.flatten(0, 1), lay.crop, self.image_size) - mean) / std
        lo, hi = self._range("state", device)
        state = F.pad(normalise(state_robot, lo, hi), (0, self.max_state_dim - 6))[:, None]
        mask = torch.zeros(batch, 1, self.max_state_dim, dtype=torch.bool, device=device)
        mask[..., :6] = True
        return {"eagle_pixel_values": pixels, "eagle_input_ids": ids.expand(batch, -1),
                "eagle_attention_mask": attn.expand(batch, -1),
                "eagle_image_sizes": torch.full((batch * len(lay.video), 2), self.image_size, device=device),
                "state": state, "state_mask": mask,
                "embodiment_id": torch.full((batch,), self.embodiment_id, dtype=torch.long, device=device)}

    def _check(self, obs, out, rng, cuda_rng) -> None:
        """Run the stock path with the fast path's noise; refuse if they differ."""
        stock = StockLeRobotGr00t.__new__(StockLeRobotGr00t)
        stock.__dict__.update(self.__dict__)
        after = torch.random.get_rng_state()
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        ref = stock(obs)
        torch.random.set_rng_state(after)
        self.worst = max(float((out[k] - ref[k].to(out[k])).abs().max()) for k in out)
        if not self.worst <= self.atol:
            raise RuntimeError(f"lerobot-groot fast path differs from the stock path by "
                               f"{self.worst:.3g} > {self.atol} (robot units) on its first batch")
        self.verify = False
