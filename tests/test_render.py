"""Batched frames from MJX's Warp renderer (bridge.render)."""
import jax
import jax.numpy as jp
import mujoco
import numpy as np
import pytest

from bridge.render import Renderer
from conftest import paper_at
from mjx_env import randomize

SIZE = 64
AWAY = [1.5, 0.0, 0.0, 0.0, 0.0, 0.0]  # rad: the arm turned out of the top camera's way
A, B = (0.20, 0.25), (0.35, 0.10)  # m, two paper positions


def project(mjm: mujoco.MjModel, camera: str, point, size: int) -> tuple[float, float]:
    """(row, col) pixel of a world point in a camera image (pinhole, looking along -z)."""
    data = mujoco.MjData(mjm)
    mujoco.mj_forward(mjm, data)
    cam = mjm.camera(camera).id
    p = data.cam_xmat[cam].reshape(3, 3).T @ (np.asarray(point) - data.cam_xpos[cam])
    f = (size / 2) / np.tan(np.radians(mjm.cam_fovy[cam]) / 2)
    return size / 2 - f * p[1] / -p[2], size / 2 + f * p[0] / -p[2]


@pytest.fixture(scope="module")
def frames(jax_batch):
    env = jax_batch.env
    dr = jax.vmap(lambda _: randomize.nominal(env.mj_model.nlight))(jp.arange(jax_batch.num_envs))
    papers = jp.stack([paper_at(*A), paper_at(*B), paper_at(*A), paper_at(*B)])
    arms = jp.asarray([AWAY] * jax_batch.num_envs, jp.float32)
    state = jax_batch.reset_to(jax_batch.keys(), dr, papers, arms)
    renderer = Renderer(env, ("top", "wrist"), SIZE)  # keep alive: it owns the render buffers
    return {k: np.asarray(v) for k, v in jax.jit(renderer)(state).items()}


def white(img: np.ndarray) -> np.ndarray:
    return img.min(axis=-1) > 200


def test_frames_are_uint8_per_camera(frames):
    for cam in ("top", "wrist"):
        assert frames[cam].shape == (4, SIZE, SIZE, 3) and frames[cam].dtype == np.uint8
        assert frames[cam].std() > 5  # not a blank image


def test_paper_is_white_where_it_lies_and_moves_with_it(frames, jax_batch):
    mjm = jax_batch.env.mj_model
    top = frames["top"]
    for env, here, there in ((0, A, B), (1, B, A)):
        r, c = (int(round(v)) for v in project(mjm, "top", (*here, 0.001), SIZE))
        r2, c2 = (int(round(v)) for v in project(mjm, "top", (*there, 0.001), SIZE))
        assert white(top[env, r - 1:r + 2, c - 1:c + 2]).all()
        assert not white(top[env, r2 - 1:r2 + 2, c2 - 1:c2 + 2]).any()
    # The white blob's centre moves by the projected displacement (within 1.5 px).
    centres = [np.argwhere(white(top[i])).mean(0) for i in (0, 1)]
    expected = np.subtract(project(mjm, "top", (*B, 0), SIZE), project(mjm, "top", (*A, 0), SIZE))
    np.testing.assert_allclose(centres[1] - centres[0], expected, atol=1.5)
    np.testing.assert_array_equal(top[0], top[2])  # same state, same frame


def test_bad_camera_and_batch_are_clear_errors(jax_batch):
    with pytest.raises(ValueError, match="unknown camera"):
        Renderer(jax_batch.env, ("side",), SIZE)


def test_one_renderer_serves_two_batch_sizes():
    """The batch comes from the traced state, not the env: one renderer (and one torch base)
    renders a 1-env and a 3-env batch, one render context each; env 0 of both is the same."""
    from bridge.torch_base import model_base
    from bridge.units import BridgeConfig
    from mjx_env.config import EnvConfig
    from mjx_env.paper_return import PaperReturn
    env = PaperReturn(EnvConfig(impl="jax"))
    renderer = Renderer(env, ("top", "wrist"), 16)
    seen = []

    def model(obs):  # a GR00T-layout model that keeps the top frames it was given
        seen.append(obs["video.image_cam_0"][:, 0].clone().numpy())
        return {"action.arm_0": obs["state.arm_0"].expand(-1, 16, -1)}

    base = model_base("echo", env, model, BridgeConfig(units="sim", render_size=16), renderer=renderer)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    reset = jax.jit(env.reset)
    chunk = jax.jit(base.chunk)
    small, large = reset(keys[:1]), reset(keys)
    a, b = chunk(small), chunk(large)
    assert a.shape == (1, 16, 6) and b.shape == (3, 16, 6)
    assert [f.shape[0] for f in seen] == [2, 1, 3]  # the probe batch, then 1 and 3 envs
    np.testing.assert_allclose(np.asarray(b[:, 0]), np.asarray(large.obs[:, :6]), atol=1e-6)
    assert renderer.batch_sizes == (1, 3)
    assert seen[2].std() > 5  # not blank
    np.testing.assert_array_equal(seen[1][0], seen[2][0])  # same env 0 state, same frame
