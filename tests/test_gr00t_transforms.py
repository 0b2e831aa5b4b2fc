"""bridge.gr00t_transforms against golden numbers computed by the reference implementations
themselves (Isaac-GR00T n1.5-release, lerobot 0.4.4; tests/fixtures/gr00t_golden/provenance.json
says which file and function produced each value). CPU only, no network."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bridge import gr00t_transforms as T

FIX = Path(__file__).parent / "fixtures" / "gr00t_golden"
CASES = ("cam640", "cam224")
LEVEL = 1.0 / 127.5  # one uint8 level in pixel_values units


@pytest.fixture(scope="module")
def gold():
    with np.load(FIX / "golden.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def meta():
    return json.loads((FIX / "golden.json").read_text())


def eagle_tokenizer_dir():
    """The GR00T N1.5 Eagle tokenizer: the full one where present ($GR00T_EAGLE_TOKENIZER, or
    shared/gr00t_eagle_tokenizer beside or inside the checkout: vocab.json, merges.txt,
    tokenizer_config.json, added_tokens.json, special_tokens_map.json of Isaac-GR00T
    n1.5-release's gr00t/model/backbone/eagle2_hg_model/, or a checkpoint's eagle directory),
    else the fixture `eagle_tokenizer/`: the same tokenizer restricted to the merges the golden
    texts can use (tools/prune_eagle_tokenizer.py), which encodes them exactly as the full one."""
    here = Path(__file__).resolve().parent
    candidates = [os.environ.get("GR00T_EAGLE_TOKENIZER"), here.parent / "shared" / "gr00t_eagle_tokenizer",
                  here.parent.parent / "shared" / "gr00t_eagle_tokenizer"]
    for c in candidates:
        if c and (Path(c) / "vocab.json").is_file() and (Path(c) / "merges.txt").is_file():
            return Path(c)
    return FIX / "eagle_tokenizer"


@pytest.fixture(scope="module")
def tokenizer():
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(eagle_tokenizer_dir()))
    tok.padding_side = "left"  # as Isaac's build_eagle_processor and LeRobot's set it
    return tok


@pytest.fixture(scope="module")
def standin_tokenizer():
    """A byte-level tokenizer with GR00T's special tokens at their real ids: enough to check
    what `prompt_ids` hands the tokenizer and how it pads, without the real vocabulary."""
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    specials = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                "<IMG_CONTEXT>": 151669, "<img>": 151670, "</img>": 151671}
    vocab.update(specials)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>", eos_token="<|im_end|>",
                                   additional_special_tokens=[k for k in specials if k != "<|endoftext|>"])
    fast.padding_side = "right"
    return fast


def _stats(rng, d, flat=()):
    lo = rng.uniform(-2.0, 0.0, d)
    hi = lo + rng.uniform(0.5, 2.0, d)
    for j in flat:
        hi[j] = lo[j]
    return {"max": hi.tolist(), "min": lo.tolist(), "mean": ((lo + hi) / 2).tolist(),
            "std": ((hi - lo) / 4).tolist(), "q01": (lo + 0.05 * (hi - lo)).tolist(),
            "q99": (hi - 0.05 * (hi - lo)).tolist()}


def make_inputs():
    """The inputs the goldens were computed from (provenance.json "inputs"): same draws, same
    order."""
    rng = np.random.default_rng(0)

    def frames(h, w):
        return rng.integers(0, 256, size=(2, 1, h, w, 3), dtype=np.uint8)

    out = {}
    f0, f1 = frames(480, 640), frames(480, 640)
    s_arm, s_grip = _stats(rng, 5), _stats(rng, 1, flat=(0,))
    a_arm, a_grip = _stats(rng, 5), _stats(rng, 1)
    st_arm = rng.uniform(-2.0, 2.0, (2, 1, 5)).astype(np.float32)
    st_grip = rng.uniform(-2.0, 2.0, (2, 1, 1)).astype(np.float32)
    pred = rng.uniform(-1.2, 1.2, (2, 16, 32)).astype(np.float32)
    out["cam640"] = dict(frames={"video.front": f0, "video.wrist": f1},
                         state={"state.single_arm": st_arm, "state.gripper": st_grip},
                         state_stats={"single_arm": s_arm, "gripper": s_grip},
                         action_stats={"single_arm": a_arm, "gripper": a_grip},
                         action_dims=[("action.single_arm", 5), ("action.gripper", 1)], pred=pred)
    g0, g1 = frames(224, 224), frames(224, 224)
    s6, a6 = _stats(rng, 6, flat=(3,)), _stats(rng, 6, flat=(5,))
    st6 = rng.uniform(-2.0, 2.0, (2, 1, 6)).astype(np.float32)
    pred6 = rng.uniform(-1.2, 1.2, (2, 16, 32)).astype(np.float32)
    out["cam224"] = dict(frames={"video.image_cam_0": g0, "video.image_cam_1": g1},
                         state={"state.arm_0": st6}, state_stats={"arm_0": s6},
                         action_stats={"arm_0": a6}, action_dims=[("action.arm_0", 6)], pred=pred6)
    ns = _stats(rng, 6, flat=(1,))
    ns["q99"][2] = ns["q01"][2]
    ns["std"][4] = 0.0
    x = rng.uniform(-3.0, 3.0, (4, 6)).astype(np.float32)
    y = rng.uniform(-1.2, 1.2, (4, 6)).astype(np.float32)
    out["normalizer"] = dict(stats=ns, x=x, y=y)
    return out


@pytest.fixture(scope="module")
def inputs():
    return make_inputs()


def _views(case):
    return T.stack_views({k: torch.as_tensor(v) for k, v in case["frames"].items()}, list(case["frames"]))


def _levels(a, b):
    return int(np.abs(np.asarray(a, np.int64) - np.asarray(b, np.int64)).max())


def test_inputs_match_the_recorded_statistics(inputs, meta):
    # the regenerated inputs are the ones the goldens came from (same metadata.json)
    for name in CASES:
        m = json.loads((FIX / f"checkpoint_{name}" / "experiment_cfg" / "metadata.json").read_text())
        st = m["new_embodiment"]["statistics"]
        assert st["state"] == inputs[name]["state_stats"]
        assert st["action"] == inputs[name]["action_stats"]
    assert meta["normalizer_stats"] == inputs["normalizer"]["stats"]


# ---------------------------------------------------------------------------------------------
# Frames

@pytest.mark.parametrize("name", CASES)
def test_isaac_crop_resize_matches_reference(inputs, gold, name):
    ours = T.crop_resize(_views(inputs[name]), "isaac").numpy()
    assert ours.shape == (4, 224, 224, 3) and ours.dtype == np.uint8
    assert _levels(ours[0], gold[f"isaac/{name}/frames224_first"]) <= 1
    assert _levels(ours[:, 100:104], gold[f"isaac/{name}/frames224_rows"]) <= 1
    # isaac_train crops and resizes the same way (eval transforms)
    assert np.array_equal(T.crop_resize(_views(inputs[name]), "isaac_train").numpy(), ours)


@pytest.mark.parametrize("name", CASES)
def test_lerobot_crop_resize_matches_reference(inputs, gold, name):
    ours = T.crop_resize(_views(inputs[name]), "lerobot").numpy()
    assert ours.shape == (4, 224, 224, 3)
    assert _levels(ours[0], gold[f"lerobot/{name}/frames224_first"]) <= 1
    assert _levels(ours[:, 100:104], gold[f"lerobot/{name}/frames224_rows"]) <= 1


def test_lerobot_float_resize_path_is_close_to_cpu_reference(inputs, gold):
    # The non-CPU branch is what torchvision itself does off the CPU (float, clamp, round); the
    # CPU reference used torch's fixed-point uint8 kernel. On this worst case (uniform noise)
    # they differ by at most 2 levels, on very few pixels, by more than 1.
    x = _views(inputs["cam640"]).permute(0, 3, 1, 2)
    y = T._bicubic_uint8(x, 224, native=False).permute(0, 2, 3, 1).numpy()
    first = gold["lerobot/cam640/frames224_first"]
    assert _levels(y[0], first) <= 2
    assert (np.abs(y[0].astype(int) - first.astype(int)) > 1).sum() <= 5
    assert _levels(y[:, 100:104], gold["lerobot/cam640/frames224_rows"]) <= 2
    assert torch.equal(T._bicubic_uint8(x, 224, native=True).permute(0, 2, 3, 1),
                       T.crop_resize(_views(inputs["cam640"]), "lerobot"))


def test_lerobot_224_frames_are_left_unchanged(inputs):
    v = _views(inputs["cam224"])
    assert torch.equal(T.crop_resize(v, "lerobot"), v)


def test_lerobot_to_uint8_matches_reference(inputs, gold):
    for name in CASES:
        f = torch.as_tensor(inputs[name]["frames"][next(iter(inputs[name]["frames"]))][:, 0])
        as_float = f.permute(0, 3, 1, 2).float() / 255.0
        u8 = T.lerobot_to_uint8(as_float)
        assert np.array_equal(u8[0].permute(2, 0, 1)[:, :8].numpy(), gold[f"lerobot/{name}/video_uint8_first"])
        assert torch.equal(u8, f)
    levels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(T.lerobot_to_uint8(levels.float() / 255.0), levels.permute(0, 2, 3, 1))
    assert torch.equal(T.lerobot_to_uint8(levels), levels.permute(0, 2, 3, 1))


@pytest.mark.parametrize("conv", ["isaac", "lerobot"])
@pytest.mark.parametrize("name", CASES)
def test_eagle_pixel_values_match_reference(inputs, gold, name, conv):
    # from the reference's own frames: exact
    first = torch.as_tensor(gold[f"{conv}/{name}/frames224_first"])[None]
    pv = T.eagle_pixel_values(first)
    assert pv.shape == (1, 3, 224, 224) and pv.dtype == torch.float32
    np.testing.assert_allclose(pv[0, :, 100:102].numpy(), gold[f"{conv}/{name}/pixel_values_rows"][0], atol=1e-6)
    # end to end from the camera frames: within one level, views in order, sample-major
    pv = T.eagle_pixel_values(T.crop_resize(_views(inputs[name]), conv)).numpy()
    assert pv.shape == (4, 3, 224, 224)
    assert np.abs(pv[:, :, 100:102] - gold[f"{conv}/{name}/pixel_values_rows"]).max() <= LEVEL + 1e-6
    sums = pv.astype(np.float64).sum((1, 2, 3))
    assert np.abs(sums - gold[f"{conv}/{name}/pixel_values_sum"]).max() < 224 * 224 * 3 * LEVEL * 0.01
    assert np.array_equal(gold[f"isaac/{name}/image_sizes"], np.full((4, 2), 224))


def test_stack_views_is_sample_major():
    a = torch.zeros(2, 1, 4, 4, 3, dtype=torch.uint8)
    b = torch.ones(2, 4, 4, 3, dtype=torch.uint8)
    a[1] = 2
    out = T.stack_views({"video.a": a, "video.b": b}, ["video.a", "video.b"])
    assert out.shape == (4, 4, 4, 3)
    assert [int(v[0, 0, 0]) for v in out] == [0, 1, 2, 1]
    with pytest.raises(ValueError):
        T.stack_views({"video.a": torch.zeros(2, 2, 4, 4, 3)}, ["video.a"])


def test_crop_box():
    assert T.crop_box(480, 640) == (12, 16, 456, 608)
    assert T.crop_box(224, 224) == (6, 6, 212, 212)
    # int(250 * 0.95) = 237, (250 - 237) / 2 = 6.5 -> 6 (Python round: half to even)
    assert T.crop_box(250, 250) == (6, 6, 237, 237)
    assert T.crop_box(270, 270)[0] == round((270 - int(270 * 0.95)) / 2)
    with pytest.raises(ValueError):
        T.crop_box(1, 1, 0.5)


def test_crop_resize_checks_input():
    with pytest.raises(ValueError, match="uint8"):
        T.crop_resize(torch.zeros(1, 8, 8, 3), "isaac")
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        T.crop_resize(torch.zeros(8, 8, 3, dtype=torch.uint8), "isaac")
    with pytest.raises(ValueError, match="convention"):
        T.crop_resize(torch.zeros(1, 8, 8, 3, dtype=torch.uint8), "isaac-gr00t")
    assert T.crop_resize(torch.zeros(0, 480, 640, 3, dtype=torch.uint8)).shape == (0, 224, 224, 3)
    # a constant frame: LeRobot keeps it; Isaac's truncating (x*255).to(uint8) can lose one
    # level where the float resize lands a hair below (76.99998 -> 76), as the reference does
    c = torch.full((2, 480, 640, 3), 77, dtype=torch.uint8)
    assert (T.crop_resize(c, "lerobot") == 77).all()
    isaac = T.crop_resize(c, "isaac")
    assert ((isaac == 77) | (isaac == 76)).all() and (isaac == 76).any()


# ---------------------------------------------------------------------------------------------
# Text

def _expand(text):
    # Eagle2_5_VLProcessor.replace_media_placeholder for one-tile images
    for k in range(1, 10):
        text = text.replace(f"<image-{k}>", f"<image {k}><img>{'<IMG_CONTEXT>' * 256}</img>")
    return text


@pytest.mark.parametrize("name", CASES)
def test_chat_text_matches_reference_templates(meta, name):
    tasks = meta["tasks"]
    for conv in ("isaac", "isaac_train"):
        ref = meta["texts"][f"{conv}/{name}"]
        assert [T.chat_text(t, 2, conv) for t in tasks] == [_expand(r) for r in ref]
    ref = meta["texts"][f"lerobot/{name}"]
    assert [T.chat_text(tasks[0], 2, "lerobot")] * 2 == [_expand(r) for r in ref]


def test_task_text_conventions():
    t = "Pick it up, it's there."
    assert T.task_text(t, "isaac_train") == t
    assert T.task_text(t, "isaac") == "[\"Pick it up, it's there.\"]"
    assert T.task_text(t, "lerobot") == "[\"Pick it up, it's there.\"]"
    assert T.task_text("a b", "isaac") == "['a b']" == T.task_text("a b", "lerobot")
    with pytest.raises(TypeError):
        T.task_text(["a"], "isaac")
    with pytest.raises(ValueError):
        T.chat_text("a", 0)
    assert T.chat_text("go", 1, "isaac_train") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image 1><img>"
        + "<IMG_CONTEXT>" * 256 + "</img>go<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("name", CASES)
def test_prompt_ids_isaac_match_reference(tokenizer, meta, gold, name):
    ids, mask = T.prompt_ids(tokenizer, meta["tasks"], 2, "isaac")
    assert ids.dtype == mask.dtype == torch.int64
    assert np.array_equal(ids.numpy(), gold[f"isaac/{name}/eagle_input_ids"])
    assert np.array_equal(mask.numpy(), gold[f"isaac/{name}/eagle_attention_mask"])
    assert (ids == T.IMG_CONTEXT_ID).sum(1).tolist() == [512, 512]
    assert tokenizer.padding_side == "left"


@pytest.mark.parametrize("name", CASES)
def test_prompt_ids_isaac_train_match_reference(tokenizer, meta, gold, name):
    for b, task in enumerate(meta["tasks"]):
        ids, mask = T.prompt_ids(tokenizer, task, 2, "isaac_train")
        assert np.array_equal(ids[0].numpy(), gold[f"isaac_train/{name}/input_ids_{b}"])
        assert bool(mask.all())


@pytest.mark.parametrize("name", CASES)
def test_prompt_ids_lerobot_match_reference(tokenizer, meta, gold, name):
    # LeRobot's processor gives every sample the batch's first task
    ids, mask = T.prompt_ids(tokenizer, [meta["tasks"][0]] * 2, 2, "lerobot")
    assert np.array_equal(ids.numpy(), gold[f"lerobot/{name}/eagle_input_ids"])
    assert np.array_equal(mask.numpy(), gold[f"lerobot/{name}/eagle_attention_mask"])


def test_prompt_ids_feeds_chat_text_padded_left(standin_tokenizer):
    tok = standin_tokenizer
    tasks = ["a", "a much longer task text"]
    ids, mask = T.prompt_ids(tok, tasks, 2, "isaac")
    assert tok.padding_side == "right"  # restored
    assert ids.shape == mask.shape and ids.dtype == mask.dtype == torch.int64
    for b, task in enumerate(tasks):
        real = ids[b][mask[b].bool()]
        assert tok.decode(real) == T.chat_text(task, 2, "isaac")
        assert int((real == T.IMG_CONTEXT_ID).sum()) == 2 * T.IMAGE_TOKENS
    n_pad = int((mask[0] == 0).sum())
    assert n_pad > 0 and not mask[0, :n_pad].any() and mask[0, n_pad:].all()  # left padding
    assert (ids[0, :n_pad] == 151643).all() and mask[1].all()
    one, _ = T.prompt_ids(tok, "a", 2, "isaac")
    assert torch.equal(one[0], ids[0, n_pad:])
    with pytest.raises(ValueError):
        T.prompt_ids(tok, [], 2)


@pytest.mark.parametrize("name", CASES)
def test_reference_ids_layout(gold, name):
    # what the reference ids show without a tokenizer: left padding with <|endoftext|>, the mask
    # marking exactly the real tokens, each image as <img> + 256 <IMG_CONTEXT> + </img>
    for key in (f"isaac/{name}", f"lerobot/{name}"):
        ids, mask = gold[f"{key}/eagle_input_ids"], gold[f"{key}/eagle_attention_mask"]
        for row, m in zip(ids, mask):
            n_pad = int((m == 0).sum())
            assert (m[:n_pad] == 0).all() and (m[n_pad:] == 1).all()
            assert (row[:n_pad] == 151643).all() and row[n_pad] == 151644  # <|im_start|>
            assert (row == T.IMG_CONTEXT_ID).sum() == 512
            starts = np.flatnonzero(row == 151670)
            assert len(starts) == 2 and (np.flatnonzero(row == 151671) == starts + 257).all()
            assert row[-1] == 198 and row[-3] == 151644  # "<|im_start|>assistant\n"


# ---------------------------------------------------------------------------------------------
# State and action

@pytest.mark.parametrize("name", CASES)
def test_isaac_state_matches_reference(inputs, gold, name):
    c = inputs[name]
    state = {k: torch.as_tensor(v) for k, v in c["state"].items()}
    s, m = T.normalize_state(state, c["state_stats"], list(c["state"]), "min_max")
    assert s.shape == m.shape == (2, 1, 64) and m.dtype == torch.bool
    np.testing.assert_allclose(s.numpy(), gold[f"isaac/{name}/state"], atol=1e-6, rtol=0)
    assert np.array_equal(m.numpy(), gold[f"isaac/{name}/state_mask"])
    # a max == min joint normalises to 0
    flat = {"cam640": 5, "cam224": 3}[name]
    assert (s[..., flat] == 0).all()
    # (B, d) state and per-key modes / prefixed stats keys give the same
    s2, _ = T.normalize_state({k: v[:, 0] for k, v in state.items()},
                              {f"state.{k}": v for k, v in c["state_stats"].items()}, list(c["state"]),
                              {k: "min_max" for k in c["state"]})
    assert torch.equal(s, s2)


@pytest.mark.parametrize("name", CASES)
def test_isaac_actions_match_reference(inputs, gold, name):
    c = inputs[name]
    out = T.unnormalize_action(torch.as_tensor(c["pred"]), c["action_stats"], c["action_dims"])
    assert list(out) == [k for k, _ in c["action_dims"]]
    for key, d in c["action_dims"]:
        assert out[key].shape == (2, 16, d)
        np.testing.assert_allclose(out[key].numpy(), gold[f"isaac/{name}/action/{key}"], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", CASES)
def test_embodiment_ids(gold, name):
    assert gold[f"isaac/{name}/embodiment_id"].tolist() == [T.EMBODIMENT_IDS["new_embodiment"]] * 2 == [31, 31]
    assert gold[f"lerobot/{name}/embodiment_id"].tolist() == [T.LEROBOT_EMBODIMENT_IDS["new_embodiment"]] * 2


def _whole(stats_by_key):
    return {s: np.concatenate([np.asarray(v[s]) for v in stats_by_key.values()]) for s in ("min", "max")}


@pytest.mark.parametrize("name", CASES)
def test_lerobot_state_and_actions_match_reference(inputs, gold, name):
    c = inputs[name]
    state = torch.as_tensor(np.concatenate([v[:, 0] for v in c["state"].values()], -1))
    s, m = T.pad(T.normalize(state, _whole(c["state_stats"]), "min_max")[:, None], 64)
    np.testing.assert_allclose(s.numpy(), gold[f"lerobot/{name}/state"], atol=1e-6, rtol=0)
    assert np.array_equal(m.numpy(), gold[f"lerobot/{name}/state_mask"])
    pred = torch.as_tensor(c["pred"])
    a = T.unnormalize(pred[..., :6], _whole(c["action_stats"]), "min_max")
    np.testing.assert_allclose(a.numpy(), gold[f"lerobot/{name}/action"], atol=1e-6, rtol=0)
    # LeRobot's postprocessor handed a whole chunk keeps only its last step
    np.testing.assert_allclose(a[:, -1].numpy(), gold[f"lerobot/{name}/action_last_step_of_chunk"], atol=1e-6)


@pytest.mark.parametrize("mode", T.MODES)
def test_normalizer_modes_match_reference(inputs, gold, mode):
    n = inputs["normalizer"]
    f = T.normalize(torch.as_tensor(n["x"]), n["stats"], mode)
    np.testing.assert_allclose(f.numpy(), gold[f"normalizer/{mode}/forward"], atol=1e-6, rtol=0)
    if mode == "scale":
        with pytest.raises(ValueError):
            T.unnormalize(torch.as_tensor(n["y"]), n["stats"], mode)
    else:
        i = T.unnormalize(torch.as_tensor(n["y"]), n["stats"], mode)
        np.testing.assert_allclose(i.numpy(), gold[f"normalizer/{mode}/inverse"], atol=1e-6, rtol=0)


def test_normalizer_edge_cases(inputs):
    n = inputs["normalizer"]
    x = torch.as_tensor(n["x"])
    assert (T.normalize(x, n["stats"], "min_max")[:, 1] == 0).all()  # max == min -> 0
    q = T.normalize(x, n["stats"], "q99")
    assert torch.equal(q[:, 2], x[:, 2].clamp(-1, 1))  # q01 == q99 -> x, then clipped
    assert q.abs().max() <= 1
    assert torch.equal(T.normalize(x, n["stats"], "mean_std")[:, 4], x[:, 4])  # std == 0 -> x
    lo = torch.tensor(n["stats"]["min"])
    assert torch.equal(T.unnormalize(torch.zeros(3, 6), n["stats"])[:, 1], lo[1].expand(3))
    # round trip where defined
    y = T.normalize(x, n["stats"], "min_max")
    back = T.unnormalize(y, n["stats"], "min_max")
    ok = torch.tensor(n["stats"]["min"]) != torch.tensor(n["stats"]["max"])
    torch.testing.assert_close(back[:, ok], x[:, ok], atol=1e-5, rtol=0)
    # dtype and device follow x; tensors as statistics
    x64 = x.double()
    assert T.normalize(x64, {k: torch.tensor(v) for k, v in n["stats"].items()}).dtype == torch.float64
    with pytest.raises(ValueError, match="mode"):
        T.normalize(x, n["stats"], "minmax")
    with pytest.raises(ValueError, match="floating"):
        T.normalize(x.long(), n["stats"])
    with pytest.raises(ValueError, match="dims"):
        T.normalize(x[:, :5], n["stats"])
    with pytest.raises(KeyError, match="q01"):
        T.normalize(x, {"min": n["stats"]["min"], "max": n["stats"]["max"]}, "q99")


def test_pad_and_split_action():
    x = torch.arange(12.0).reshape(2, 6)
    p, m = T.pad(x, 64)
    assert p.shape == m.shape == (2, 64) and torch.equal(p[:, :6], x) and (p[:, 6:] == 0).all()
    assert m[:, :6].all() and not m[:, 6:].any()
    p, m = T.pad(torch.ones(1, 70), 64)  # longer: truncated, as the references do
    assert p.shape == (1, 64) and m.all()
    chunk = torch.arange(2 * 16 * 32, dtype=torch.float32).reshape(2, 16, 32)
    parts = T.split_action(chunk, [("action.single_arm", 5), ("action.gripper", 1)])
    assert torch.equal(parts["action.single_arm"], chunk[..., :5])
    assert torch.equal(parts["action.gripper"], chunk[..., 5:6])
    with pytest.raises(ValueError, match="33"):
        T.split_action(chunk, [("a", 32), ("b", 1)])
    with pytest.raises(ValueError):
        T.split_action(chunk, [("a", 0)])


def test_read_metadata_and_keys(tmp_path):
    m = T.read_metadata(FIX / "checkpoint_cam640")
    assert m["embodiment_tag"] == "new_embodiment"
    assert T.keys_and_dims(m, "action", ["action.single_arm", "action.gripper"]) == [
        ("action.single_arm", 5), ("action.gripper", 1)]
    assert T.keys_and_dims(m, "state", ["single_arm"]) == [("single_arm", 5)]
    assert m["modalities"]["video"]["front"]["resolution"] == [640, 480]
    with pytest.raises(KeyError, match="so100"):
        T.read_metadata(FIX / "checkpoint_cam640", "so100")
    with pytest.raises(FileNotFoundError):
        T.read_metadata(tmp_path)
    with pytest.raises(KeyError, match="wrist"):
        T.keys_and_dims(m, "action", ["action.wrist"])
    with pytest.raises(ValueError):
        T.keys_and_dims(m, "video", ["video.front"])
