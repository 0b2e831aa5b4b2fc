"""LeRobot's GR00T N1.5 model code (the real architecture, tiny config, random weights) through
the bridge, offline: keys, shapes and units against a hand conversion, a 2-env rollout with the
chunk cache (1 model call per 16 env steps), the fast path against the stock path, the
model-directory checks. Nothing is fetched from a model hub (HF_HUB_OFFLINE=1)."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers / huggingface_hub are imported

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("lerobot", reason="the [groot] extra (make install installs it)")

from bridge import chunk_cache, lerobot_groot as lg  # noqa: E402
from bridge.base import check_bridge, check_spec, make_base  # noqa: E402
from bridge.torch_base import ChunkModel, default_stats  # noqa: E402
from bridge.units import LAYOUTS, BridgeConfig  # noqa: E402
from mjx_env.config import EnvConfig  # noqa: E402
from mjx_env.paper_return import PaperReturn, set_base  # noqa: E402

LAYOUT = LAYOUTS["paper_return"]
TASK = "Put the paper into the red square."
CONFIG = BridgeConfig(render_size=32, random_weights="tiny")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return lg.write_random_dir(tmp_path_factory.mktemp("groot") / "tiny", "tiny", default_stats(CONFIG))


@pytest.fixture(scope="module")
def env():
    return PaperReturn(EnvConfig(impl="jax"))  # the batch comes from the arrays


@pytest.fixture(scope="module")
def model(tiny_dir):
    return lg.build_model(tiny_dir, weights=False)


def observation(batch=2, size=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = {cam: torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=g)
              for cam in ("top", "wrist")}
    state = torch.rand(batch, 6, generator=g) - 0.5
    return frames, state


def test_tiny_model_is_lerobots_architecture(model):
    groot = lg.import_groot()
    assert isinstance(model, groot.GR00TN15)
    eagle = model.backbone.eagle_model
    assert type(eagle).__name__ == "Eagle25VLForConditionalGeneration"
    assert type(eagle.language_model).__name__ == "Qwen3ForCausalLM"
    assert type(eagle.vision_model).__name__ == "SiglipVisionModel"
    assert eagle.vision_model.config._attn_implementation == "sdpa"  # not flash_attention_2
    assert type(model.action_head).__name__ == "FlowmatchingActionHead"
    assert model.action_head.num_inference_timesteps == 4
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_chunk_keys_shape_and_units_by_hand(model, tiny_dir):
    """The stock path's (B, 16, 6) sim chunk = the model's action_pred[..., :6] un-normalised
    with the directory's statistics, then robot -> sim units, by hand."""
    stock = lg.StockLeRobotGr00t(model, tiny_dir, LAYOUT)
    host = ChunkModel(stock, LAYOUT, CONFIG.joint_units(), TASK)
    frames, state = observation()
    seen = {}
    get_action = model.get_action

    def spy(inputs):
        seen.update(inputs)
        out = get_action(inputs)
        seen["action_pred"] = out["action_pred"].clone()
        return out

    model.get_action = spy
    try:
        chunk = host(frames, state)
    finally:
        del model.get_action
    assert chunk.shape == (2, 16, 6) and host.calls == 1 == stock.calls
    assert sorted(seen) == ["action_pred", "eagle_attention_mask", "eagle_image_sizes", "eagle_input_ids",
                            "eagle_pixel_values", "embodiment_id", "state", "state_mask"]
    assert seen["eagle_pixel_values"].shape == (4, 3, 224, 224)  # 2 envs x 2 cameras
    assert seen["state"].shape == (2, 1, 64) and seen["state_mask"][0, 0].tolist() == [True] * 6 + [False] * 58
    assert seen["embodiment_id"].tolist() == [31, 31]
    ids = seen["eagle_input_ids"][0]
    image_token = stock.tokenizer.convert_tokens_to_ids(lg.IMG_CONTEXT)
    assert int((ids == image_token).sum()) == 2 * stock.image_tokens  # two cameras' placeholders
    assert stock.tokenizer.decode(ids[ids != image_token]).endswith(f"['{TASK}']<|im_end|>\n<|im_start|>assistant\n")
    # By hand: state robot = units(sim), normalised to [-1, 1] by the min-max statistics.
    units, stats = CONFIG.joint_units(), lg.read_stats(tiny_dir)
    lo, hi = np.array(stats["state"]["min"]), np.array(stats["state"]["max"])
    robot = units.to_robot(state.numpy().astype(np.float64))
    np.testing.assert_allclose(seen["state"][:, 0, :6].numpy(), 2 * (robot - lo) / (hi - lo) - 1, atol=1e-5)
    alo, ahi = np.array(stats["action"]["min"]), np.array(stats["action"]["max"])
    pred = seen["action_pred"][..., :6].numpy().astype(np.float64)
    robot_chunk = (pred + 1) / 2 * (ahi - alo) + alo
    np.testing.assert_allclose(chunk.numpy(), units.to_sim(robot_chunk), atol=1e-4)


def test_fast_path_equals_stock_within_tolerance(model, tiny_dir):
    """Same noise, same inputs: fast (device crop/resize, text tokenised once) vs stock (PIL per
    sample, text per sample) within 1e-3 robot units; the self-check ran on the first batch."""
    fast = lg.FastLeRobotGr00t(model, tiny_dir, LAYOUT)
    stock = lg.StockLeRobotGr00t(model, tiny_dir, LAYOUT)
    worst = 0.0
    for seed in range(2):
        frames, state = observation(seed=seed, size=48)
        obs = LAYOUT.observation(frames, CONFIG.joint_units().to_robot(state), TASK)
        torch.manual_seed(seed)
        a = fast(obs)
        torch.manual_seed(seed)
        b = stock(obs)
        worst = max(worst, float((a["action.arm_0"] - b["action.arm_0"]).abs().max()))
    assert fast.worst is not None and fast.worst <= 1e-3 and not fast.verify
    assert worst <= 1e-3, worst
    assert len(fast._tokens) == 1  # tokenised once


def test_fast_path_refuses_a_mismatch(model, tiny_dir):
    fast = lg.FastLeRobotGr00t(model, tiny_dir, LAYOUT, atol=0.0)
    original = lg.resize_frames
    lg.resize_frames = lambda f, c, s: original(f, c, s).flip(-1)  # a wrong crop/resize
    try:
        frames, state = observation()
        with pytest.raises(RuntimeError, match="differs from the stock path"):
            fast(LAYOUT.observation(frames, state, TASK))
    finally:
        lg.resize_frames = original


def test_two_env_rollout_one_model_call_per_16_steps(env, tiny_dir):
    """make_base('lerobot-groot:<dir>', --random-weights tiny --gr00t-fast) rolled out on a
    2-env batch (the base takes its batch from the arrays): 32 steps, 2 model calls."""
    base = make_base(f"lerobot-groot:{tiny_dir}", env, config=BridgeConfig(render_size=32, random_weights="tiny",
                                                                            gr00t_fast=True))
    assert base.horizon == 16 and base.refresh == "sync" and base.model.calls == 0
    assert not base.model.model.verify  # the fast path checked itself on the probe batch
    n = 2
    state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), n))

    @jax.jit
    def step(carry, _):
        s, cache = carry
        cache, action = chunk_cache.next_action(cache, base, s)
        s = env.step(set_base(s, action), jp.zeros((n, 6)))
        return (s, chunk_cache.after_step(cache, s.done, base.refresh)), action

    carry = (state, chunk_cache.init(n, base.horizon))
    actions = []
    for _ in range(32):
        carry, a = step(carry, None)
        actions.append(np.asarray(a))
    assert int(carry[1].calls) == 2 == base.model.calls  # 2 / 32 = 1/16 per env step
    actions = np.stack(actions)
    assert actions.shape == (32, n, 6) and np.isfinite(actions).all()
    assert not np.allclose(actions[0], actions[16])  # a fresh chunk at step 16


def test_specs_flags_and_model_directory_checks(tmp_path, tiny_dir):
    assert check_spec("lerobot-groot") == "lerobot-groot"
    with pytest.raises(ValueError, match="needs a model directory .* or --random-weights"):
        check_bridge("lerobot-groot", BridgeConfig())
    with pytest.raises(ValueError, match="not found"):
        check_spec(f"lerobot-groot:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match=r"lacks model.safetensors"):  # weights required without --random-weights
        check_bridge(f"lerobot-groot:{tiny_dir}", BridgeConfig())
    with pytest.raises(ValueError, match="--random-weights is for --base lerobot-groot"):
        check_bridge("zero", BridgeConfig(random_weights="tiny"))
    with pytest.raises(ValueError, match="--gr00t-fast is for"):
        check_bridge("scripted", BridgeConfig(gr00t_fast=True))
    with pytest.raises(ValueError, match="random_weights must be tiny or full"):
        check_bridge("lerobot-groot", BridgeConfig(random_weights="huge"))
    with pytest.raises(ValueError, match="metadata.json"):
        check_bridge(f"gr00t:{tmp_path}", BridgeConfig(gr00t_fast=True))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks groot_n15.json, stats.json, eagle/config.json"):
        lg.check_dir(tmp_path / "empty")


def test_saved_weights_load_back(tmp_path, tiny_dir, model):
    """A directory with model.safetensors (LeRobot GrootPolicy's `_groot_model.` prefix) loads
    the same weights; a file for another architecture is refused with the mismatch named."""
    import shutil
    from safetensors.torch import save_file
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_dir, d)
    state = {f"_groot_model.{k}": v.clone() for k, v in model.state_dict().items() if not k.endswith("lm_head.weight")}
    save_file(state, str(d / "model.safetensors"))  # as save_model writes it: the tied head left out
    loaded = lg.build_model(d, seed=123)
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    save_file({"nope": torch.zeros(1)}, str(d / "model.safetensors"))
    with pytest.raises(ValueError, match="does not fit groot_n15.json"):
        lg.build_model(d)
