"""LeRobot 0.4.4's GR00T N1.5 model code (`lerobot.policies.groot`), imported without its
training stack: the real architecture (Eagle 2.5 VL backbone = SigLIP vision tower + Qwen3 LLM,
flow-matching DiT action head) that `--base gr00t:<hub id | dir>` runs (bridge.gr00t,
bridge.gr00t_checkpoint). lerobot >= 0.6 has no N1.5: the [groot] extra stays below it.

LeRobot's package `__init__`s import its training stack (datasets, draccus configs, ...);
`import_groot` loads only the model modules (`groot_n1`, `action_head`, `eagle2_hg_model`),
whose real imports are the `[groot]` extra's pins (transformers, peft, diffusers, dm-tree, ...).
flash-attn is not needed: the vision tower's hard-coded `flash_attention_2` falls back to SDPA
(`quiet_build`). `architecture(size)` is the N1.5 config at the 3B shapes ("full") or at toy
width ("tiny"), for random-weights checkpoints; `write_tokenizer` their stand-in tokenizer.

The project's old `lerobot-groot:<dir>` layout (groot_n15.json, stats.json, eagle/) is gone: no
real checkpoint has it (`LEGACY_SPEC` says how to re-create a random one).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from pathlib import Path

from bridge.units import CHUNK_HORIZON

INSTALL_HINT = ("the gr00t base needs the [groot] extra: `pip install -e '.[groot]'` then "
                "`pip install --no-deps lerobot==0.4.4` (make install does both)")
LEGACY_SPEC = ("--base lerobot-groot is gone: it read a layout this project invented (groot_n15.json, "
               "stats.json, eagle/) that no real checkpoint has. Use --base gr00t:<hub id | dir> "
               "(Isaac-GR00T or LeRobot checkpoints); re-create a random one with --base "
               "gr00t:<new dir> --random-weights tiny|full")
SIZES = ("tiny", "full")
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", IMG_START, IMG_END, IMG_CONTEXT)


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
def quiet_build():
    """Building a GR00TN15: SDPA where flash-attn is missing, LeRobot's prints to stderr."""
    with _sdpa_for_flash_attention(), contextlib.redirect_stdout(sys.stderr):
        yield


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
# Stand-in tokenizer (random-weights models only)

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
