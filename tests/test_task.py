"""Success test, yaw symmetry and observation layout of the paper_return task."""
import jax.numpy as jp
import numpy as np
import pytest

from conftest import paper_at
from mjx_env import task

HOLD = 5
TARGET_XY = (0.275, 0.175)  # m, the tape square's centre (paper_return_task.md)


def hold_zero(batch, state, steps):
    return batch.run(state, np.zeros((steps, batch.num_envs, 6), np.float32))


def test_success_fires_on_target_after_hold_steps(jax_batch):
    assert jax_batch.env.config.success_hold_steps == HOLD
    np.testing.assert_allclose(jax_batch.env.target[:2], TARGET_XY, atol=1e-9)
    state = jax_batch.place(paper_at(*TARGET_XY))
    _, states = hold_zero(jax_batch, state, HOLD)
    success = np.array([s.metrics["success"] for s in states])  # (T, N)
    assert (success[:HOLD - 1] == 0).all(), "success must need the hold steps"
    assert (success[HOLD - 1] == 1).all()
    assert (states[HOLD - 1].done == 1).all(), "success ends the episode"
    assert (np.array(states[HOLD - 1].metrics["reward/success"]) > 0).all()


@pytest.mark.parametrize("dx, dy, yaw, expected", [
    (0.05, 0.0, 0.0, False),  # 5 cm away
    (0.0, -0.05, 0.0, False),
    (0.0, 0.0, np.radians(20), False),  # rotated past the 15 deg tolerance
    (0.0, 0.0, np.radians(-20), False),
    (0.01, 0.0, np.radians(10), True),  # within both tolerances
    (0.0, 0.0, np.pi, True),  # a half turn: the sheet is symmetric
])
def test_success_only_within_tolerances(jax_batch, dx, dy, yaw, expected):
    state = jax_batch.place(paper_at(TARGET_XY[0] + dx, TARGET_XY[1] + dy, yaw))
    _, states = hold_zero(jax_batch, state, HOLD + 2)
    fired = max(float(np.max(s.metrics["success"])) for s in states)
    assert fired == float(expected)


def test_yaw_error_is_modulo_half_turn():
    for yaw, err in [(0.0, 0.0), (0.3, 0.3), (-0.3, 0.3), (np.pi - 0.1, 0.1), (np.pi / 2, np.pi / 2)]:
        q = jp.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
        assert float(task.yaw_error(q)) == pytest.approx(err, abs=1e-5)


def test_observation_slices_hold_the_state(jax_batch):
    paper = paper_at(0.2, 0.1, 0.2)
    state = jax_batch.place(paper)
    obs = np.array(state.obs[0])
    env = jax_batch.env
    assert obs.shape == (task.OBS_SIZE,) and obs.dtype == np.float32
    s = task.OBS_SLICES
    np.testing.assert_allclose(obs[s["qpos"]], env.config.home_qpos, atol=1e-6)
    np.testing.assert_allclose(obs[s["qvel"]], 0.0)
    np.testing.assert_allclose(obs[s["paper_pos"]], paper[:3], atol=1e-6)
    np.testing.assert_allclose(obs[s["paper_quat"]], paper[3:], atol=1e-6)
    np.testing.assert_allclose(obs[s["goal_vec"]], [TARGET_XY[0] - 0.2, TARGET_XY[1] - 0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(obs[s["ee_pos"]], state.data.site_xpos[0, env.mj_model.site("ee").id])


def test_reward_terms_sum_to_reward(jax_batch):
    state = jax_batch.place(paper_at(0.22, 0.12))
    action = np.full((1, jax_batch.num_envs, 6), 0.5, np.float32)
    final, _ = jax_batch.run(state, action)
    terms = sum(np.array(v) for k, v in final.metrics.items() if k.startswith("reward/"))
    np.testing.assert_allclose(terms, final.reward, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final.metrics["reward/action"], -0.01 * 0.25, rtol=1e-5)
