"""Robot units <-> sim radians and GR00T key layouts (bridge.units)."""
import math

import jax.numpy as jp
import numpy as np
import pytest
import torch

from bridge.units import LAYOUTS, UNITS, JointUnits, KeyLayout, lerobot_degrees, sim_range


@pytest.mark.parametrize("preset", sorted(UNITS))
def test_conversion_is_invertible_for_numpy_jax_and_torch(preset):
    units = UNITS[preset]()
    sim = np.random.default_rng(0).uniform(-1.5, 1.5, (5, 16, 6)).astype(np.float32)
    for x in (sim, jp.asarray(sim), torch.as_tensor(sim)):
        back = units.to_sim(units.to_robot(x))
        assert type(back) is type(x) or isinstance(back, type(x))
        np.testing.assert_allclose(np.asarray(back), sim, atol=2e-5)


def test_lerobot_degrees_by_hand():
    lo, hi = sim_range("gripper")
    sim = np.array([0.5, -1.0, 0.0, 1.2, -2.0, lo], np.float32)
    robot = lerobot_degrees().to_robot(sim)
    np.testing.assert_allclose(robot[:5], np.degrees(sim[:5]), rtol=1e-6)
    assert robot[5] == pytest.approx(0.0, abs=1e-4)  # gripper closed = 0
    assert lerobot_degrees().to_robot(np.full(6, hi, np.float32))[5] == pytest.approx(100.0, rel=1e-5)


def test_sign_offset_and_bad_constants():
    units = JointUnits(scale=(2.0,) * 6, offset=(0.1,) * 6, sign=(1, -1, 1, 1, 1, 1))
    np.testing.assert_allclose(units.to_robot(np.ones(6, np.float32)), [2.1, -1.9, 2.1, 2.1, 2.1, 2.1], rtol=1e-6)
    with pytest.raises(ValueError, match="sign must be"):
        JointUnits(sign=(2.0,) * 6)
    with pytest.raises(ValueError, match="needs 6 values"):
        JointUnits(scale=(1.0,) * 5)


def test_layout_must_cover_every_joint_once():
    with pytest.raises(ValueError, match="cover joints 0..5"):
        KeyLayout(video=(("video.a", "top"),), state=(("state.arm", 0, 5),), action=(("action.arm", 0, 6),))


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_round_trip_and_shape_errors(name):
    lay = LAYOUTS[name]
    b = 3
    frames = {cam: np.zeros((b, 32, 32, 3), np.uint8) for cam in lay.cameras}
    state = np.arange(b * 6, dtype=np.float32).reshape(b, 6)
    obs = lay.observation(frames, state, "task")
    for key, a, c in lay.state:
        np.testing.assert_array_equal(obs[key], state[:, None, a:c])
    for key, _ in lay.video:
        assert obs[key].shape == (b, 1, 32, 32, 3)
    assert obs[lay.task_key] == ["task"] * b
    chunk = np.random.default_rng(1).normal(size=(b, 16, 6)).astype(np.float32)
    output = {key: chunk[..., a:c] for key, a, c in lay.action}
    np.testing.assert_array_equal(lay.chunk(output, b), chunk)
    key, a, c = lay.action[0]
    bad = dict(output, **{key: chunk[:, :8, a:c]})
    with pytest.raises(ValueError, match=rf"{key}.*expected shape \({b}, 16, {c - a}\), got \({b}, 8, {c - a}\)"):
        lay.chunk(bad, b)
    with pytest.raises(KeyError, match=key):
        lay.chunk({k: v for k, v in output.items() if k != key}, b)


def test_wrist_roll_offset_centres_the_recorded_span():
    lo, hi = -2.86, -0.23  # rad, wrist_roll in the paper_return recordings
    sim = UNITS["paper_return"]().to_sim(np.array([0, 0, 0, 0, (lo + hi) / 2, 0.03], np.float32))
    s_lo, s_hi = sim_range("wrist_roll")
    assert abs(sim[4] - (s_lo + s_hi) / 2) < 0.05
    assert not math.isnan(float(sim[5]))


def test_calibration_file_per_joint_offset_sign_scale(tmp_path):
    import json
    from bridge.units import BridgeConfig, load_calibration
    from mjx_env.scene import ARM_JOINTS
    path = tmp_path / "robot.json"
    path.write_text(json.dumps({"offset": [0.1, 0, 0, 0, -1.59, 0.02], "sign": [1, -1, 1, 1, 1, -1],
                                "scale": [1, 1, 2, 1, 1, 0.5]}))
    units = BridgeConfig(units=str(path)).joint_units()
    sim = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], np.float32)
    np.testing.assert_allclose(units.to_robot(sim), [0.6, -0.5, 1.0, 0.5, -1.09, -0.23], rtol=1e-6)
    np.testing.assert_allclose(units.to_sim(units.to_robot(sim)), sim, atol=1e-6)
    per_joint = tmp_path / "joints.json"
    per_joint.write_text(json.dumps({j: {"scale": 57.29577951308232} for j in ARM_JOINTS}))
    np.testing.assert_allclose(load_calibration(per_joint).to_robot(sim), np.degrees(sim), rtol=1e-6)
    for bad, match in (({"offset": [0] * 5}, "offset needs 6 finite numbers"),
                       ({"sign": [2] * 6}, "sign must be"), ({"gain": [1] * 6}, "unknown field"),
                       ({"shoulder_pan": {}}, "needs exactly the joints")):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=match):
            load_calibration(path)
    with pytest.raises(ValueError, match="cannot read the calibration file"):
        BridgeConfig(units=str(tmp_path / "missing.json")).joint_units()
    with pytest.raises(ValueError, match="unknown units 'inches'"):
        BridgeConfig(units="inches").joint_units()
