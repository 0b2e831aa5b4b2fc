"""The GR00T adapter (stock and GPU-resident paths) against a stand-in Gr00tPolicy."""
import sys
import types

import numpy as np
import pytest
import torch

from bridge.base import make_base
from bridge.gr00t import FastGr00t, Gr00tInputs, StockGr00t, load_policy
from bridge.torch_base import ChunkModel
from bridge.units import LAYOUTS, BridgeConfig, paper_return_recordings, sim_range
from gr00t_standin import DataConfig, Gr00tPolicy, write_checkpoint

LAYOUT = LAYOUTS["paper_return"]
TASK = "Put the paper into the red square."


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("gr00t"), LAYOUT)


@pytest.fixture
def standin(checkpoint):
    return Gr00tPolicy(checkpoint, "new_embodiment", LAYOUT, LAYOUT, denoising_steps=4)


def inputs(batch=3, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = {cam: torch.randint(0, 256, (batch, h, w, 3), dtype=torch.uint8, generator=g)
              for cam in ("top", "wrist")}
    return frames, (torch.rand(batch, 6, generator=g) - 0.5)


def test_sim_targets_equal_hand_converted_values(standin):
    host = ChunkModel(StockGr00t(standin), LAYOUT, paper_return_recordings(), TASK)
    frames = {cam: torch.full((2, 32, 32, 3), 128, dtype=torch.uint8) for cam in ("top", "wrist")}
    state = torch.tensor([[0.1, -0.2, 0.3, 0.0, 0.5, 0.4], [-0.3, 0.2, 0.1, 0.6, -1.0, 1.2]])
    chunk = host(frames, state).numpy()
    assert chunk.shape == (2, 16, 6) and host.calls == 1 == standin.calls
    # By hand: recordings' units (wrist_roll offset -1.59 rad; gripper -0.01..0.07 over the sim
    # range), min-max statistics of the stand-in checkpoint, its closed-form output.
    g_lo, g_hi = sim_range("gripper")
    g_scale = 0.08 / (g_hi - g_lo)
    g_offset = -0.01 - g_scale * g_lo
    s = state.numpy().astype(np.float64)
    robot = s.copy()
    robot[:, 4] = s[:, 4] - 1.59
    robot[:, 5] = g_offset + g_scale * s[:, 5]
    lo = np.array([-2 - 0.1 * j for j in range(6)])
    hi = np.array([2 + 0.2 * j for j in range(6)])
    pixel = (128 / 255 - 0.5) / 0.5
    text = np.frombuffer(TASK.encode()[:32].ljust(32), np.uint8).mean() / 255
    for k in (0, 5, 15):
        delta = 0.01 * k + 0.001 * (pixel + text)
        robot_k = robot + delta * (hi - lo) / 2
        sim_k = robot_k.copy()
        sim_k[:, 4] = robot_k[:, 4] + 1.59
        sim_k[:, 5] = (robot_k[:, 5] - g_offset) / g_scale
        np.testing.assert_allclose(chunk[:, k], sim_k, atol=2e-5)


def test_wrong_shape_or_missing_key_is_a_clear_error(standin, checkpoint):
    class Short(Gr00tPolicy):  # returns 8 steps instead of 16
        def get_action(self, obs):
            return {k: v[:, :8] for k, v in super().get_action(obs).items()}

    frames, state = inputs()
    short = Short(checkpoint, "new_embodiment", LAYOUT, LAYOUT)
    with pytest.raises(ValueError, match=r"'action.arm_0': expected shape \(3, 16, 6\), got \(3, 8, 6\)"):
        ChunkModel(StockGr00t(short), LAYOUT, paper_return_recordings(), TASK)(frames, state)
    output = StockGr00t(standin)(LAYOUT.observation(frames, state, TASK))
    with pytest.raises(KeyError, match="action.single_arm"):  # so100 keys, paper_return model
        LAYOUTS["so100"].chunk(output, 3)


def test_fast_path_matches_stock_and_tokenises_once(standin, checkpoint):
    fast = FastGr00t(standin, LAYOUT, str(checkpoint), "new_embodiment")
    stock = StockGr00t(standin)
    for seed in range(3):
        frames, state = inputs(seed=seed)
        obs = LAYOUT.observation(frames, paper_return_recordings().to_robot(state), TASK)
        out_fast, out_stock = fast(obs), stock(obs)
        for key in out_stock:
            np.testing.assert_allclose(out_fast[key].numpy(), out_stock[key].numpy(), atol=1e-5)
    # Fast: text transforms once + one self-check against stock; stock: once per call.
    assert standin.transform_calls == 2 + 3


def test_fast_path_refuses_inputs_that_do_not_match_the_stock_path(standin, checkpoint):
    fast = FastGr00t(standin, LAYOUT, str(checkpoint), "new_embodiment",
                     inputs=Gr00tInputs(image_std=(0.25, 0.25, 0.25)))
    frames, state = inputs()
    frames = {cam: torch.full_like(f, 255) for cam, f in frames.items()}  # pixels far from the mean
    with pytest.raises(RuntimeError, match="differs from the stock path"):
        fast(LAYOUT.observation(frames, state, TASK))


@pytest.fixture
def fake_gr00t(monkeypatch):
    """Isaac-GR00T's module layout with the stand-in inside: the real loading code runs."""
    modules = {name: types.ModuleType(name) for name in
               ("gr00t", "gr00t.model", "gr00t.model.policy", "gr00t.experiment",
                "gr00t.experiment.data_config")}
    modules["gr00t.model.policy"].Gr00tPolicy = Gr00tPolicy
    modules["gr00t.experiment.data_config"].DATA_CONFIG_MAP = {
        "paper_return": DataConfig(LAYOUT), "so100": DataConfig(LAYOUTS["so100"])}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def test_load_policy_without_the_package_names_the_install_step(monkeypatch, checkpoint):
    monkeypatch.setitem(sys.modules, "gr00t", None)
    with pytest.raises(ImportError, match="pip install -e Isaac-GR00T"):
        load_policy(str(checkpoint))


def test_load_policy_and_gr00t_base(fake_gr00t, checkpoint):
    from mjx_env.config import EnvConfig
    from mjx_env.paper_return import PaperReturn
    env = PaperReturn(EnvConfig(impl="jax"))
    policy = load_policy(str(checkpoint), BridgeConfig(denoising_steps=8), device="cpu")
    assert isinstance(policy, Gr00tPolicy) and policy.denoising_steps == 8
    with pytest.raises(ValueError, match="unknown GR00T data config 'nope'"):
        load_policy(str(checkpoint), BridgeConfig(data_config="nope"))
    # The data config defaults to the layout's name; a mismatch names both key sets at load.
    with pytest.raises(ValueError, match=r"data config 'so100' does not match --layout paper_return: "
                                         r"video: data config \['video.webcam'\] vs layout"):
        load_policy(str(checkpoint), BridgeConfig(data_config="so100"))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_policy(str(checkpoint / "missing"))
    base = make_base(f"gr00t:{checkpoint}", env, config=BridgeConfig(render_size=16))
    assert base.horizon == 16 and base.refresh == "sync" and base.active == 1.0
    assert isinstance(base.model.model, StockGr00t) and base.model.calls == 0  # probe not counted
    fast = make_base(f"gr00t:{checkpoint}", env,
                     config=BridgeConfig(render_size=16, gr00t_fast=True))
    assert isinstance(fast.model.model, FastGr00t) and not fast.model.model.verify  # checked on the probe
    with pytest.raises(ValueError, match="unknown base 'gr00t'"):
        make_base("gr00t", env)
