"""GR00T N1.5 through the bridge (`--base gr00t:<hub id | dir>`), offline: a tiny N1.5 built with
LeRobot's model code, saved as Isaac-GR00T saves it (sharded safetensors + metadata.json) and as
LeRobot saves it (model.safetensors + processor files), loaded by directory and by hub id from a
Hugging Face cache laid out on disk, gives the chunk of the model called directly; the fast
path equals the stock path under the same noise; a 2-env rollout calls the model once per 16
steps; every refusal is one line before anything compiles. Nothing is fetched
(HF_HUB_OFFLINE=1); the Eagle assets live in a temporary HF_LEROBOT_HOME."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers / huggingface_hub are imported

import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("lerobot", reason="the [groot] extra (make install installs it)")

from bridge import chunk_cache, gr00t, gr00t_checkpoint as gc  # noqa: E402
from bridge import gr00t_transforms as T  # noqa: E402
from bridge.base import check_bridge, check_spec, make_base  # noqa: E402
from bridge.lerobot_groot import import_groot  # noqa: E402
from bridge.torch_base import ChunkModel  # noqa: E402
from bridge.units import LAYOUTS, BridgeConfig  # noqa: E402
from mjx_env.config import EnvConfig  # noqa: E402
from mjx_env.paper_return import PaperReturn, set_base  # noqa: E402

TASK = "Put the paper into the red square."
SIZE = 32  # px: the frames the tiny checkpoints were "trained" on, and the sim renders
CONFIG = BridgeConfig(render_size=SIZE)
UNITS = CONFIG.joint_units()
ISAAC_ID, LEROBOT_ID = "test-org/gr00t-tiny-isaac", "test-org/gr00t-tiny-lerobot"


# ---------------------------------------------------------------------------------------------
# Fixtures: the caches, the model, its two saved formats

@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """A Hugging Face hub cache and an HF_LEROBOT_HOME in a temporary directory, offline."""
    from huggingface_hub import constants
    root = tmp_path_factory.mktemp("hf")
    mp = pytest.MonkeyPatch()
    mp.setattr(import_groot(), "HF_LEROBOT_HOME", root / "lerobot")
    mp.setattr(constants, "HF_HUB_CACHE", str(root / "hub"))
    mp.setattr(constants, "HF_HUB_OFFLINE", True)
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def model(hf):
    """LeRobot's GR00TN15 at toy width, random weights (seed 0)."""
    return gc.random_model("tiny", seed=0)


@pytest.fixture(scope="module")
def real_assets(hf, model):
    """The tiny Eagle assets where LeRobot's download puts the real ones
    (HF_LEROBOT_HOME/lerobot/eagle2hg-processor-groot-n1p5), without the stand-in mark."""
    src = gc.lerobot_home() / gc.RANDOM_ASSETS_REPO.format(size="tiny")
    dst = gc.lerobot_home() / gc.EAGLE_ASSETS_REPO
    shutil.copytree(src, dst, dirs_exist_ok=True)
    (dst / gc.STAND_IN).unlink()
    return dst


def hub_cache(root, repo: str, src) -> str:
    """`src`'s files as huggingface_hub caches a download of `repo`: blobs, a snapshot of
    symlinks, refs/main."""
    store = root / "hub" / f"models--{repo.replace('/', '--')}"
    rev = hashlib.sha1(repo.encode()).hexdigest()
    for file in sorted(p for p in src.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = store / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = store / "snapshots" / rev / file.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (store / "refs").mkdir(parents=True, exist_ok=True)
    (store / "refs" / "main").write_text(rev)
    return rev


ISAAC_STATS = gc.default_stats(CONFIG)
LEROBOT_STATS = {"observation.state": {"min": [-1.8, -1.6, -1.5, -1.5, -3.5, -0.02],
                                       "max": [1.8, 1.6, 1.5, 1.5, 0.9, 0.08],
                                       "mean": [0.0] * 6, "std": [1.0] * 6},
                 "action": {"min": [-1.7, -1.5, -1.4, -1.4, -3.4, -0.01], "max": [1.7, 1.5, 1.4, 1.4, 0.8, 0.07],
                            "mean": [0.0] * 6, "std": [1.0] * 6}}


@pytest.fixture(scope="module")
def isaac_dir(hf, model, real_assets):
    meta = gc.isaac_metadata(LAYOUTS["paper_return"], ISAAC_STATS, (SIZE, SIZE))
    path = gc.save_isaac(model, hf / "ckpt" / "isaac", meta, max_shard_size="1MB")
    hub_cache(hf, ISAAC_ID, path)
    return path


@pytest.fixture(scope="module")
def lerobot_dir(hf, model, isaac_dir):
    cams = {"observation.images.top": (SIZE, SIZE), "observation.images.wrist": (SIZE, SIZE)}
    path = gc.save_lerobot(model, hf / "ckpt" / "lerobot", LEROBOT_STATS, cams, base_model_path=ISAAC_ID)
    hub_cache(hf, LEROBOT_ID, path)
    return path


@pytest.fixture(scope="module")
def layout_file(tmp_path_factory):
    """paper_return's keys, cameras listed wrist first: the model's order is metadata's."""
    path = tmp_path_factory.mktemp("layout") / "paper_return_reordered.json"
    path.write_text(json.dumps({"video": {"video.image_cam_1": "wrist", "video.image_cam_0": "top"},
                                "state": {"state.arm_0": [0, 6]}, "action": {"action.arm_0": [0, 6]}}))
    return str(path)


@pytest.fixture(scope="module")
def stock(isaac_dir, layout_file):
    return gr00t.load(str(isaac_dir), BridgeConfig(render_size=SIZE, layout=layout_file))


@pytest.fixture(scope="module")
def env():
    return PaperReturn(EnvConfig(impl="warp"))  # batch from the arrays; Warp compiles faster


def inputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = {cam: torch.randint(0, 256, (batch, SIZE, SIZE, 3), dtype=torch.uint8, generator=g)
              for cam in ("top", "wrist")}
    return frames, torch.rand(batch, 6, generator=g) - 0.5


def reference(model, tokenizer, convention, frames, state, stats, seed):
    """The chunk (B, 16, 6) sim rad of `model` called directly: inputs built here (pixels and
    text with the golden-checked transforms, state min-max normalised by hand, cameras top then
    wrist), noise from `seed`, action_pred un-normalised by hand."""
    (lo, hi), (alo, ahi) = ((np.array(s["min"]), np.array(s["max"])) for s in stats)
    batch = state.shape[0]
    pixels = torch.cat([T.eagle_pixel_values(T.crop_resize(frames[c][b:b + 1], convention, size=224))
                        for b in range(batch) for c in ("top", "wrist")])
    n = model.backbone.eagle_model.num_image_token
    tok = tokenizer([T.chat_text(TASK, 2, convention, image_tokens=n)] * batch, return_tensors="pt",
                    padding=True)
    robot = UNITS.to_robot(state.double().numpy())
    padded = np.zeros((batch, 1, 64))
    padded[:, 0, :6] = 2 * (robot - lo) / (hi - lo) - 1
    mask = np.zeros((batch, 1, 64), bool)
    mask[..., :6] = True
    torch.manual_seed(seed)
    with torch.inference_mode():
        pred = model.get_action({
            "eagle_pixel_values": pixels, "eagle_input_ids": tok["input_ids"],
            "eagle_attention_mask": tok["attention_mask"],
            "eagle_image_sizes": torch.full((2 * batch, 2), 224), "state": torch.tensor(padded).float(),
            "state_mask": torch.tensor(mask), "embodiment_id": torch.full((batch,), 31)})["action_pred"]
    robot_chunk = (pred[..., :6].double().numpy() + 1) / 2 * (ahi - alo) + alo
    return UNITS.to_sim(robot_chunk)


# ---------------------------------------------------------------------------------------------
# Both formats, by directory and by hub id

def test_tiny_model_is_lerobots_architecture(model):
    groot = import_groot()
    assert isinstance(model, groot.GR00TN15)
    eagle = model.backbone.eagle_model
    assert type(eagle).__name__ == "Eagle25VLForConditionalGeneration"
    assert type(eagle.language_model).__name__ == "Qwen3ForCausalLM"
    assert type(eagle.vision_model).__name__ == "SiglipVisionModel"
    assert eagle.vision_model.config._attn_implementation == "sdpa"  # not flash_attention_2
    assert type(model.action_head).__name__ == "FlowmatchingActionHead"
    assert model.action_head.num_inference_timesteps == 4
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_isaac_format_is_read_from_its_files(isaac_dir):
    ckpt = gc.read_checkpoint(str(isaac_dir))
    assert ckpt.format == gc.ISAAC and not ckpt.random
    assert len(ckpt.weights) > 1 and (isaac_dir / "model.safetensors.index.json").is_file()  # sharded
    assert [c.key for c in ckpt.video] == ["video.image_cam_0", "video.image_cam_1"]
    assert ckpt.video[0].resolution == (SIZE, SIZE)
    assert [(f.key, f.dim, f.mode) for f in ckpt.state] == [("state.arm_0", 6, "min_max")]
    assert ckpt.state[0].stats["min"] == pytest.approx(ISAAC_STATS["state"]["min"])
    assert ckpt.embodiment_id == 31 and ckpt.assets_repo == gc.EAGLE_ASSETS_REPO
    config = json.loads((isaac_dir / "config.json").read_text())
    assert config["model_type"] == "gr00t_n1_5" and "tokenizer_assets_repo" not in config["backbone_cfg"]


def test_isaac_checkpoint_by_dir_and_hub_id_gives_the_models_chunk(model, isaac_dir, stock, layout_file,
                                                                   hf, capfd):
    """Stock path (host, per sample) from the directory and from the offline cache: the chunk
    of the model called directly, within float error; the model sees eagle_pixel_values
    (B*V, 3, 224, 224) sample-major in metadata's camera order, a left-padded prompt with
    2 x image tokens, the state in 64 slots with its mask, embodiment 31."""
    frames, state = inputs()
    seen = {}
    get_action = stock.model.get_action

    def spy(batch):
        seen.update(batch)
        return get_action(batch)

    by_id = gr00t.load(ISAAC_ID, BridgeConfig(render_size=SIZE, layout=layout_file))
    assert str(by_id.ckpt.path).startswith(str(hf / "hub" / f"models--{ISAAC_ID.replace('/', '--')}"))
    assert "[isaac format]" in capfd.readouterr().err  # the detected format is printed
    want = reference(model, stock.tokenizer, "isaac", frames, state,
                     [ISAAC_STATS["state"], ISAAC_STATS["action"]], seed=3)
    for m in (stock, by_id):
        host = ChunkModel(m, BridgeConfig(layout=layout_file).key_layout(), UNITS, TASK)
        stock.model.get_action = spy
        try:
            torch.manual_seed(3)
            chunk = host(frames, state)
        finally:
            del stock.model.get_action
        assert chunk.shape == (2, 16, 6)
        np.testing.assert_allclose(chunk.numpy(), want, atol=1e-5)
    assert seen["eagle_pixel_values"].shape == (4, 3, 224, 224)
    rows = [T.eagle_pixel_values(T.crop_resize(frames[c][b:b + 1], "isaac", size=224))[0]
            for b in range(2) for c in ("top", "wrist")]  # sample-major, image_cam_0 (top) first
    for i, row in enumerate(rows):
        assert torch.equal(seen["eagle_pixel_values"][i], row), i
    ids = seen["eagle_input_ids"]
    assert int((ids == stock.image_token_id).sum(-1)[0]) == 2 * stock.image_tokens
    assert seen["state"].shape == (2, 1, 64) and seen["state_mask"][0, 0].tolist() == [True] * 6 + [False] * 58
    assert seen["embodiment_id"].tolist() == [31, 31]


def test_lerobot_format_by_dir_and_hub_id_gives_the_models_chunk(model, lerobot_dir, capfd):
    """A LeRobot groot policy (its own statistics, feature keys and conventions), from the
    directory and by hub id; its architecture from base_model_path (a hub id, offline)."""
    ckpt = gc.read_checkpoint(LEROBOT_ID)
    assert ckpt.format == gc.LEROBOT and ckpt.weight_prefix == "_groot_model."
    assert [c.key for c in ckpt.video] == ["observation.images.top", "observation.images.wrist"]
    assert ckpt.state[0].stats["max"] == pytest.approx(LEROBOT_STATS["observation.state"]["max"])
    frames, state = inputs(seed=1)
    config = BridgeConfig(render_size=SIZE, layout="lerobot")
    m = gr00t.load(str(lerobot_dir), config)
    assert "[lerobot format]" in capfd.readouterr().err
    want = reference(model, m.tokenizer, "lerobot", frames, state,
                     [LEROBOT_STATS["observation.state"], LEROBOT_STATS["action"]], seed=4)
    for source in (str(lerobot_dir), LEROBOT_ID):
        m = m if source == str(lerobot_dir) else gr00t.load(source, config)
        torch.manual_seed(4)
        chunk = ChunkModel(m, config.key_layout(), UNITS, TASK)(frames, state)
        np.testing.assert_allclose(chunk.numpy(), want, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The fast path

def test_fast_path_equals_stock_under_the_same_noise(stock):
    """FastGr00t (device batch, text tokenised once) = StockGr00t with the same seed; its
    self-check re-ran the stock path with the noise RNG restored: the draws after it are the
    ones without a check."""
    layout = LAYOUTS["paper_return"]
    fast = gr00t.FastGr00t(stock.ckpt, stock.model, stock.tokenizer)
    for seed in range(2):
        frames, state = inputs(seed=seed)
        obs = layout.observation(frames, UNITS.to_robot(state), TASK)
        torch.manual_seed(seed)
        a = fast(obs)
        after_checked = torch.rand(3)
        torch.manual_seed(seed)
        b = stock(obs)
        after_stock = torch.rand(3)
        np.testing.assert_allclose(a["action.arm_0"].numpy(), b["action.arm_0"].numpy(), atol=1e-6)
        assert torch.equal(after_checked, after_stock)  # the check left the RNG where one call does
    assert fast.checks == 1 and fast.worst <= 1e-6 and not fast.verify
    assert len(fast._tokens) == 1 and fast.calls == 2  # tokenised once; the check's call not counted
    fast.after_probe()  # what the probe does: check again on the next (first real) batch
    fast(obs)
    assert fast.checks == 2


def test_fast_path_refuses_a_mismatch(stock, monkeypatch):
    original = gr00t._Gr00t._pixels
    monkeypatch.setattr(gr00t.FastGr00t, "_pixels", lambda self, f: original(self, f).flip(-1))
    fast = gr00t.FastGr00t(stock.ckpt, stock.model, stock.tokenizer, atol=1e-6)
    frames, state = inputs()
    with pytest.raises(RuntimeError, match="differs from the stock path"):
        fast(LAYOUTS["paper_return"].observation(frames, state, TASK))


def test_random_weights_rollout_one_model_call_per_16_steps(env, hf, tmp_path):
    """--base gr00t:<dir> --random-weights tiny --gr00t-fast writes an Isaac-format directory
    (sharded, metadata.json for the layout's keys) and loads it like a real checkpoint; a 2-env
    rollout of 32 steps calls the model twice; the fast path checked itself on the probe and on
    the first real batch."""
    config = BridgeConfig(render_size=SIZE, random_weights="tiny", gr00t_fast=True)
    base = make_base(f"gr00t:{tmp_path / 'rand'}", env, config=config)
    ckpt = base.model.model.ckpt
    assert ckpt.format == gc.ISAAC and ckpt.random and len(ckpt.weights) > 1
    assert ckpt.assets_repo == gc.RANDOM_ASSETS_REPO.format(size="tiny")
    assert (tmp_path / "rand" / "experiment_cfg" / "metadata.json").is_file()
    assert base.horizon == 16 and base.refresh == "sync" and base.model.calls == 0
    fast = base.model.model
    assert fast.checks == 1 and fast.verify  # checked on the probe; armed for the first real batch
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
    assert fast.checks == 2 and not fast.verify  # the first real batch was checked too
    actions = np.stack(actions)
    assert actions.shape == (32, n, 6) and np.isfinite(actions).all()
    assert not np.allclose(actions[0], actions[16])  # a fresh chunk at step 16
    # The same directory again: reused, not rewritten.
    mtime = (tmp_path / "rand" / "config.json").stat().st_mtime_ns
    gr00t.checkpoint_for(str(tmp_path / "rand"), config)
    assert (tmp_path / "rand" / "config.json").stat().st_mtime_ns == mtime


# ---------------------------------------------------------------------------------------------
# Refusals: one line each, before anything is built or compiled

def refused(spec: str, config: BridgeConfig, match: str):
    with pytest.raises(ValueError, match=match) as e:
        check_spec(spec)
        check_bridge(spec, config)
    assert "\n" not in str(e.value), str(e.value)
    return str(e.value)


def copy_without(src, dst, *names):
    shutil.copytree(src, dst)
    for n in names:
        p = dst / n
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return dst


def test_refusals_are_one_line(isaac_dir, lerobot_dir, tmp_path, layout_file, hf):
    cfg = BridgeConfig(render_size=SIZE)
    d = copy_without(isaac_dir, tmp_path / "no_meta", "experiment_cfg")
    refused(f"gr00t:{d}", cfg, "without experiment_cfg/metadata.json")
    refused(f"gr00t:{isaac_dir}", BridgeConfig(render_size=SIZE, embodiment_tag="gr1"),
            r"metadata.json has embodiment \['new_embodiment'\], not the requested 'gr1'")
    refused(f"gr00t:{lerobot_dir}", BridgeConfig(render_size=SIZE, layout="lerobot", embodiment_tag="so100"),
            "LeRobot groot policy for embodiment 'new_embodiment', not the requested 'so100'")
    other = tmp_path / "other_state.json"
    other.write_text(json.dumps({"video": {"video.image_cam_0": "top", "video.image_cam_1": "wrist"},
                                 "state": {"state.arm": [0, 6]}, "action": {"action.arm_0": [0, 6]}}))
    refused(f"gr00t:{isaac_dir}", BridgeConfig(render_size=SIZE, layout=str(other)),
            r"the checkpoint's state key state.arm_0 \(6\) is not in --layout .*other_state.json")
    refused(f"gr00t:{isaac_dir}", BridgeConfig(render_size=SIZE, layout="so100"),
            "the checkpoint's camera video.image_cam_0 is not in --layout so100")
    refused(f"gr00t:{isaac_dir}", BridgeConfig(render_size=64),
            "camera video.image_cam_0 was trained on 32x32 frames .metadata.json., the bridge would "
            "feed 64x64: render at --render-size 32")
    refused(f"gr00t:{isaac_dir}", BridgeConfig(render_size=SIZE, layout="lerobot"), "camera")
    shard = sorted(isaac_dir.glob("model-0000*.safetensors"))[0].name
    refused(f"gr00t:{copy_without(isaac_dir, tmp_path / 'no_shard', shard)}", cfg, "lacks 1 of the 3 weight shards")
    d = copy_without(lerobot_dir, tmp_path / "no_stats", f"policy_preprocessor_step_2_{gc.PACK_STEP}.safetensors")
    refused(f"gr00t:{d}", BridgeConfig(render_size=SIZE, layout="lerobot"), "statistics file .* is missing")
    msg = refused("gr00t:test-org/not-cached", cfg, "is neither a local directory nor in the Hugging Face cache")
    assert "python -m bridge.gr00t_checkpoint fetch test-org/not-cached" in msg and "HF_HUB_OFFLINE=1" in msg
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for n in ("groot_n15.json", "stats.json"):
        (legacy / n).write_text("{}")
    refused(f"gr00t:{legacy}", cfg, "old invented layout .* --random-weights tiny")
    refused(f"lerobot-groot:{legacy}", cfg, "lerobot-groot is gone.* --random-weights tiny")
    refused(f"gr00t:{isaac_dir}", BridgeConfig(render_size=SIZE, random_weights="tiny"),
            "--random-weights would overwrite")


def test_real_checkpoints_never_run_with_stand_in_or_missing_eagle_assets(isaac_dir, real_assets, tmp_path):
    ckpt = gc.read_checkpoint(str(isaac_dir))
    moved = tmp_path / "assets"
    shutil.move(str(real_assets), moved)
    try:
        with pytest.raises(gc.CheckpointError, match=r"not in LeRobot's cache .* run `python -m "
                                                     r"bridge.gr00t_checkpoint fetch "):
            gc.eagle_dir(ckpt)
        shutil.copytree(moved, real_assets)
        (real_assets / gc.STAND_IN).write_text("{}")
        with pytest.raises(gc.CheckpointError, match="stand-in Eagle assets .* never runs with them"):
            gc.eagle_dir(ckpt)
    finally:
        shutil.rmtree(real_assets, ignore_errors=True)
        shutil.move(str(moved), real_assets)


def test_specs_and_flags():
    assert check_spec("gr00t") == "gr00t" and check_spec("gr00t:org/name@v1.0") == "gr00t:org/name@v1.0"
    with pytest.raises(ValueError, match="GR00T checkpoint directory /no/such/dir not found"):
        check_bridge("gr00t:/no/such/dir", BridgeConfig())
    with pytest.raises(ValueError, match="needs a checkpoint: gr00t:<hub id | dir>, or --random-weights"):
        check_bridge("gr00t", BridgeConfig())
    with pytest.raises(ValueError, match=r"--random-weights is for --base gr00t:<hub id \| dir>, not zero"):
        check_bridge("zero", BridgeConfig(random_weights="tiny"))
    with pytest.raises(ValueError, match="--gr00t-fast is for --base gr00t"):
        check_bridge("scripted", BridgeConfig(gr00t_fast=True))
    with pytest.raises(ValueError, match="random_weights must be tiny or full"):
        check_bridge("gr00t", BridgeConfig(random_weights="huge"))
    with pytest.raises(ValueError, match="--data-config is gone"):
        check_bridge("gr00t", BridgeConfig(data_config="so100"))


# ---------------------------------------------------------------------------------------------
# Golden numbers (tests/fixtures/gr00t_golden, computed with Isaac-GR00T's and LeRobot's own
# code) through the stock and the fast path's own input preparation

def golden_paths(tmp_path, isaac_dir, stock, case: str, fmt: str):
    """(StockGr00t, FastGr00t) on a checkpoint with the golden case's keys and statistics
    (Isaac: its metadata.json; LeRobot: the same statistics over the whole vectors), the tiny
    model's weights; and the case's observation in that format's keys."""
    from test_gr00t_transforms import FIX, make_inputs
    c = make_inputs()[case]
    d = tmp_path / f"{fmt}_{case}"
    if fmt == "isaac":
        d.mkdir()
        for f in isaac_dir.iterdir():
            if f.is_file():
                (d / f.name).symlink_to(f)
        (d / "experiment_cfg").mkdir()
        shutil.copy(FIX / f"checkpoint_{case}" / "experiment_cfg" / "metadata.json", d / "experiment_cfg")
        frames, state = dict(c["frames"]), dict(c["state"])
    else:
        whole = lambda st: {s: np.concatenate([np.asarray(v[s]) for v in st.values()]).tolist()  # noqa: E731
                            for s in ("min", "max")}
        cams = {f"observation.images.{k.split('.', 1)[1]}": (v.shape[3], v.shape[2]) for k, v in c["frames"].items()}
        gc.save_lerobot(stock.model, d, {"observation.state": whole(c["state_stats"]),
                                         "action": whole(c["action_stats"])}, cams, base_model_path=str(isaac_dir))
        frames = {f"observation.images.{k.split('.', 1)[1]}": v for k, v in c["frames"].items()}
        state = {"observation.state": np.concatenate(list(c["state"].values()), -1)}
    ckpt = gc.read_checkpoint(str(d))
    obs = {k: torch.as_tensor(v) for k, v in {**frames, **state}.items()}
    return (gr00t.StockGr00t(ckpt, stock.model, stock.tokenizer),
            gr00t.FastGr00t(ckpt, stock.model, stock.tokenizer)), obs, c


@pytest.mark.parametrize("fmt", ["isaac", "lerobot"])
@pytest.mark.parametrize("case", ["cam640", "cam224"])
def test_stock_and_fast_paths_reproduce_the_golden_numbers(tmp_path, isaac_dir, stock, case, fmt):
    """Pixels within one uint8 level (rows 100:102 and per-image sums, sample-major in the
    checkpoint's camera order), state and its mask to 1e-6, embodiment 31, the un-normalised
    action chunk of a known prediction to 1e-6: on both paths."""
    from test_gr00t_transforms import LEVEL
    with np.load(gold_file()) as z:
        gold = {k: z[k] for k in z.files}
    paths, obs, c = golden_paths(tmp_path, isaac_dir, stock, case, fmt)
    pred = torch.as_tensor(c["pred"])
    for path in paths:
        inputs_ = path.prepare({**obs, TASK_KEY: [TASK] * 2})
        pv = inputs_["eagle_pixel_values"].numpy()
        assert pv.shape == (4, 3, 224, 224)
        assert np.abs(pv[:, :, 100:102] - gold[f"{fmt}/{case}/pixel_values_rows"]).max() <= LEVEL + 1e-6
        sums = pv.astype(np.float64).sum((1, 2, 3))
        assert np.abs(sums - gold[f"{fmt}/{case}/pixel_values_sum"]).max() < 224 * 224 * 3 * LEVEL * 0.01
        np.testing.assert_allclose(inputs_["state"].numpy(), gold[f"{fmt}/{case}/state"], atol=1e-6, rtol=0)
        assert np.array_equal(inputs_["state_mask"].numpy(), gold[f"{fmt}/{case}/state_mask"])
        assert inputs_["embodiment_id"].tolist() == gold[f"{fmt}/{case}/embodiment_id"].tolist()
        out = path._actions(pred)
        if fmt == "isaac":
            for key, _ in c["action_dims"]:
                np.testing.assert_allclose(out[key].numpy(), gold[f"isaac/{case}/action/{key}"], atol=1e-6, rtol=0)
        else:
            np.testing.assert_allclose(out["action"].numpy(), gold[f"lerobot/{case}/action"], atol=1e-6, rtol=0)


def test_prompt_ids_of_both_paths_reproduce_the_golden_tokens(tmp_path, isaac_dir, stock):
    """With the N1.5 Eagle tokenizer: the stock path's ids and mask for the golden batch (two
    tasks), and the fast path's for each task alone."""
    from test_gr00t_transforms import eagle_tokenizer_dir
    tok = gc.load_tokenizer(eagle_tokenizer_dir())
    meta = json.loads((gold_file().parent / "golden.json").read_text())
    with np.load(gold_file()) as z:
        gold = {k: z[k] for k in z.files}
    for fmt in ("isaac", "lerobot"):
        (st, fast), obs, _ = golden_paths(tmp_path, isaac_dir, stock, "cam224", fmt)
        for p in (st, fast):
            p.tokenizer, p.image_tokens, p.image_token_id = tok, T.IMAGE_TOKENS, T.IMG_CONTEXT_ID
        ids, mask = st._prompt(list(meta["tasks"]), "cpu")
        np.testing.assert_array_equal(ids.numpy(), gold[f"{fmt}/cam224/eagle_input_ids"])
        np.testing.assert_array_equal(mask.numpy(), gold[f"{fmt}/cam224/eagle_attention_mask"])
        if fmt == "isaac":
            one, _ = fast._prompt([meta["tasks"][1]], "cpu")  # the longer task: its row has no padding
            np.testing.assert_array_equal(one[0].numpy(), gold["isaac/cam224/eagle_input_ids"][1])


def gold_file():
    from test_gr00t_transforms import FIX
    return FIX / "golden.npz"


TASK_KEY = "annotation.human.task_description"


def test_units_from_the_checkpoints_statistics(isaac_dir, tmp_path):
    """The state statistics name the units preset they were recorded in; a layout whose
    statistics are impossible for the robot's joints in --units is refused in one line."""
    layout = LAYOUTS["paper_return"]
    fit = gc.units_fit(gc.read_checkpoint(str(isaac_dir)), layout)
    assert fit["best"] == "paper_return" and fit["presets"]["paper_return"]["overshoot"] == pytest.approx(0, abs=1e-6)
    d = tmp_path / "degrees"
    d.mkdir()
    for f in isaac_dir.iterdir():
        if f.is_file():
            (d / f.name).symlink_to(f)
    degrees = gc.default_stats(BridgeConfig(units="lerobot_degrees"))
    (d / "experiment_cfg").mkdir()
    (d / "experiment_cfg" / "metadata.json").write_text(json.dumps(gc.isaac_metadata(layout, degrees, (SIZE, SIZE))))
    assert gc.units_fit(gc.read_checkpoint(str(d)), layout)["best"] == "lerobot_degrees"
    refused(f"gr00t:{d}", BridgeConfig(render_size=SIZE),
            r"state statistics put gripper in \[\S+, 100\], but in --units paper_return that joint "
            r"lies in \[-0.01, 0.07\]: .*closest preset: lerobot_degrees")
    check_bridge(f"gr00t:{d}", BridgeConfig(render_size=SIZE, units="lerobot_degrees"))


# ---------------------------------------------------------------------------------------------
# The base check (python -m ppo.base_check)

def test_base_check_reports_the_reading_units_and_the_frames_the_model_sees(tmp_path, hf, capsys):
    import cv2
    from PIL import Image

    from ppo import base_check
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    out = base_check.main(["--base", f"gr00t:{tmp_path / 'rand'}", "--random-weights", "tiny",
                           "--render-size", str(SIZE), "--episodes", "2", "--num-envs", "2",
                           "--compare", f"top={photo}", "--out", str(tmp_path / "check.json")])
    text = capsys.readouterr().out
    assert "plausible success" in text and "reading: below 5%" in text and "--units paper_return best" in text
    saved = json.loads((tmp_path / "check.json").read_text())
    assert saved["episodes"] == 2 and 0 <= saved["plausible_success_rate"] <= saved["success_rate"] <= 1
    assert saved["reading"] == base_check.reading(saved["plausible_success_rate"])
    assert saved["checkpoint"]["format"] == "isaac" and saved["units_fit"]["best"] == "paper_return"
    assert saved["base_calls"] >= 2 * 300 // 16 // 2  # about one call per 16 steps, 2 envs in one batch
    png = Image.open(saved["frames_png"])
    assert png.size == (2 * 224, 2 * (224 + 14))  # top, wrist as the model sees them; the photo below
    assert [base_check.reading(r)[:9] for r in (0.0, 0.049, 0.05, 0.2, 0.9)] == [
        "below 5%:", "below 5%:", "5-20%: ma", "above 20%", "above 20%"]


@pytest.mark.parametrize("argv, message", [
    (["--base", "gr00t:/no/such/dir"], "GR00T checkpoint directory /no/such/dir not found"),
    (["--base", "scripted", "--alpha", "0.5"], "the base check runs the base alone"),
    (["--base", "scripted", "--compare", "/no/photo.jpg"], "/no/photo.jpg is not a file"),
    (["--base", "scripted", "--compare", "side=x.jpg"], "camera 'side' is not one of the layout's"),
])
def test_base_check_refusals_exit_2_in_one_line(argv, message, capsys):
    from ppo import base_check
    with pytest.raises(SystemExit) as e:
        base_check.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.count("\n") == 1, err


def test_ppo_evaluate_with_base_is_the_base_check(capsys):
    from ppo import evaluate_cli
    with pytest.raises(SystemExit) as e:
        evaluate_cli.main(["--base=gr00t:/no/such/dir", "--alpha", "0", "--episodes", "3"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "python -m ppo.base_check: error: GR00T checkpoint directory" in err


def test_deploy_feeds_camera_frames_at_the_checkpoints_resolution(model, isaac_dir, stock):
    """deploy.bases: a robot camera's 640x480 frames are resized to the resolution the
    checkpoint was trained at (here 32x32) before the model's own crop and resize; the chunk is
    the stock path's on those frames."""
    from deploy.bases import model_request
    from deploy.observe import Sensed
    import cv2
    config = BridgeConfig(render_size=224)  # deploy does not render: no --render-size check
    request, horizon = model_request(f"gr00t:{isaac_dir}", config, 224)
    rng = np.random.default_rng(0)
    frames = {c: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for c in ("top", "wrist")}
    q = np.array([0.1, -0.2, 0.3, 0.0, 0.5, 0.4], np.float32)
    torch.manual_seed(5)
    chunk = request(Sensed(q, np.zeros(25, np.float32), np.zeros(1), frames, q))
    small = {c: torch.from_numpy(cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_AREA)[None])
             for c, f in frames.items()}
    torch.manual_seed(5)
    want = ChunkModel(stock, LAYOUTS["paper_return"], UNITS, config.task)(small, torch.from_numpy(q)[None])
    assert horizon == 16 and chunk.shape == (16, 6)
    np.testing.assert_allclose(chunk, want[0].numpy(), atol=1e-5)
