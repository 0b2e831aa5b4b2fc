"""Demonstrations (bc.demos), behaviour cloning (bc.train) and the cloned vision chunk policy
as a base (bridge.bc_policy)."""
import json

import numpy as np
import pytest
import torch

from bc import demos
from bc import train as bc_train
from bridge.bc_policy import BCPolicy
from bridge.torch_base import load_torch_module
from bridge.units import UNITS

SIZE = 32  # px: the smallest side the 4-conv encoder takes


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bc") / "demos"
    demos.generate(out, episodes=5, size=SIZE, num_envs=4, seed=3, progress=False,
                   episode_length=24, impl="warp")  # Warp compiles faster (tests/tiny.py)
    return out


@pytest.fixture(scope="module")
def trained(demo_dir):
    data = bc_train.load_demos(demo_dir, "paper_return")
    config = bc_train.BCConfig(steps=120, batch=32, lr=2e-3, val_fraction=0.2, hidden=64)
    policy, history = bc_train.fit(data, config, progress=False, log_every=20)
    return data, policy, history


def _obs(data, idx):
    return {"video.image_cam_0": torch.from_numpy(data["top"][idx][:, None]),
            "video.image_cam_1": torch.from_numpy(data["wrist"][idx][:, None]),
            "state.arm_0": torch.from_numpy(data["state"][idx][:, None])}


def test_demos_layout_and_chunks(demo_dir):
    meta = json.loads((demo_dir / "meta.json").read_text())
    assert meta["episodes"] == 5 and meta["fps"] == 30 and meta["chunk"] == 16
    ep = demos.load_episode(demo_dir / "episode_00004.npz")  # 5th: a second, padded round
    t = len(ep["action"])
    assert 1 <= t <= 24 and t == meta["lengths"][4]
    assert ep["top"].shape == (t, SIZE, SIZE, 3) and ep["top"].dtype == np.uint8
    assert ep["wrist"].shape == ep["top"].shape and ep["chunk"].shape == (t, 16, 6)
    assert ep["top"].std() > 5  # a rendered scene, not a blank buffer
    np.testing.assert_array_equal(ep["chunk"][:, 0], ep["action"])  # row t starts at action t
    np.testing.assert_array_equal(ep["chunk"][0, 1], ep["action"][min(1, t - 1)])
    np.testing.assert_array_equal(ep["chunk"][-1], np.repeat(ep["action"][-1:], 16, 0))
    # the expert moves the arm towards its targets: state t+1 is nearer action t than state t
    gap = np.abs(ep["action"][:-1] - ep["state"][:-1]).sum()
    assert np.abs(ep["action"][:-1] - ep["state"][1:]).sum() < gap
    with pytest.raises(FileExistsError, match="--force"):
        demos.generate(demo_dir, episodes=1, size=SIZE, num_envs=4, progress=False)


def test_bc_loss_falls(trained):
    _, _, history = trained
    assert history["train_loss"][-1] < 0.6 * history["train_loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_output_layout_shape_and_units(trained):
    data, policy, _ = trained
    idx = np.arange(0, len(data["state"]), 7)
    with torch.no_grad():
        out = policy(_obs(data, idx))
    assert set(out) == {"action.arm_0"} and out["action.arm_0"].shape == (len(idx), 16, 6)
    assert out["action.arm_0"].dtype == torch.float32
    # The output is in the robot units it saw (paper_return: wrist_roll offset -1.59 rad,
    # gripper rescaled): converted back to sim radians it matches the expert's chunks, and read
    # as sim radians without the conversion it does not.
    units = UNITS["paper_return"]()
    sim_chunk = units.to_sim(data["chunk"][idx])
    err = np.abs(units.to_sim(out["action.arm_0"].numpy()) - sim_chunk).mean()
    unconverted = np.abs(out["action.arm_0"].numpy() - sim_chunk).mean()
    assert err < 0.1 and unconverted > 3 * err


def test_frames_of_another_size_are_resized_and_missing_keys_named(trained):
    data, policy, _ = trained
    obs = _obs(data, np.arange(3))
    big = {**obs, **{k: torch.repeat_interleave(torch.repeat_interleave(v, 2, 2), 2, 3)
                     for k, v in obs.items() if k.startswith("video")}}
    with torch.no_grad():
        a, b = policy(obs)["action.arm_0"], policy(big)["action.arm_0"]
    assert b.shape == (3, 16, 6) and torch.allclose(a, b, atol=0.05)
    with pytest.raises(KeyError, match="video.image_cam_1"):
        policy({k: v for k, v in obs.items() if k != "video.image_cam_1"})
    with pytest.raises(ValueError, match=r"\(B, 1, H, W, 3\)"):
        policy({**obs, "video.image_cam_0": obs["video.image_cam_0"][:, 0]})


def test_saved_policy_loads_as_a_torch_base(trained, tmp_path):
    data, policy, _ = trained
    path = bc_train.save(policy, tmp_path / "bc", {"note": "test"})
    assert json.loads(path.with_suffix(".json").read_text())["size"] == SIZE
    with pytest.raises(FileExistsError):
        bc_train.save(policy, tmp_path / "bc", {})
    loaded = load_torch_module("bridge.bc_policy", str(path))  # the `torch:` base loader
    assert isinstance(loaded, BCPolicy)
    obs = _obs(data, np.arange(4))
    with torch.no_grad():
        torch.testing.assert_close(loaded.cpu()(obs)["action.arm_0"], policy(obs)["action.arm_0"])
