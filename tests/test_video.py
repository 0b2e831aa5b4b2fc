"""MP4 of evaluation episodes (ppo.video): frame count and size, the frames against a direct
render, the caption's status square. 2 episodes of 4 steps, zero base, 2 envs."""
import contextlib
import io

import imageio_ffmpeg
import jax
import jax.numpy as jp
import numpy as np
import pytest

from bridge.base import make_base
from bridge.render import Renderer
from mjx_env.paper_return import make
from ppo import video

LENGTH, SEED = 4, 3


@pytest.fixture(scope="module")
def env():
    return make(impl="warp", episode_length=LENGTH)  # Warp compiles faster (tests/tiny.py)


@pytest.fixture(scope="module")
def recorded(env, tmp_path_factory):
    """(record's dict, decoded frames (F, H, W, 3) uint8, residual inputs' shapes, the video's
    metadata, what record printed)."""
    path = tmp_path_factory.mktemp("video") / "sub" / "episodes.mp4"
    seen = []

    def residual(obs, base_action):  # traced once: note the shapes it is called with
        seen.append((obs.shape, base_action.shape))
        return jp.zeros_like(base_action)

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        info = video.record(env, make_base("zero", env), residual, 2, path, seed=SEED, progress=True)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    frames = np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])
    return info, frames, seen, meta, printed.getvalue()


def test_one_frame_per_step_from_reset_to_the_end(recorded):
    info, frames, seen, meta, _ = recorded
    assert info["steps"] == [LENGTH, LENGTH] and info["success"] == [False, False]
    assert info["frames"] == 2 * (LENGTH + 1) == len(frames)
    assert info["frame_size"] == [video.SIZE + video.CAPTION, video.SIZE]
    assert frames.shape[1:] == (video.SIZE + video.CAPTION, video.SIZE, 3)
    assert meta["fps"] == 30 and meta["codec"] == "h264"
    assert seen == [((2, 25), (2, 6))]


def test_recording_prints_its_progress(recorded):
    lines = recorded[4].splitlines()
    assert lines[0] == f"video: 2 episodes of up to {LENGTH} steps"
    assert lines[1].startswith(f"video: 0/2 episodes done, step 1/{LENGTH}, ")
    assert lines[-1].startswith("video: 2/2 episodes done, ") and len(lines) == 3


def test_first_frames_are_the_reset_states_top_camera(recorded, env):
    """Each episode's first frame is a direct render of its reset state (key i of the seed's
    split), within H.264's error; the two episodes differ by far more than that."""
    _, frames, _, _, _ = recorded
    renderer = Renderer(env, ("top",), video.SIZE)
    state = jax.jit(env.reset)(video.episode_keys(SEED, 2))
    direct = np.asarray(jax.jit(renderer)(state)["top"]).astype(float)
    got = frames[[0, LENGTH + 1], :video.SIZE].astype(float)
    errors = np.abs(got - direct).mean(axis=(1, 2, 3))
    assert errors.max() < 3.0, errors
    assert np.abs(direct[0] - direct[1]).mean() > 3 * errors.max()


def test_caption_shows_grey_status_and_text(recorded):
    _, frames, _, _, _ = recorded
    s, b = video.SIZE, video.BOX
    square = frames[:, s + 20:s + 16 + b, s - b - 1:s - 6].reshape(len(frames), -1, 3).mean(1)
    np.testing.assert_allclose(square, np.broadcast_to(video.GREY, square.shape), atol=12)
    text = frames[:, s:, :s - b - 8]
    assert (text.max(axis=-1) > 200).any(axis=(1, 2)).all()  # white text on every frame
    assert np.median(text) < 20  # on black


def test_annotate_colours_and_lines():
    frame = np.full((32, 32, 3), 7, np.uint8)
    info = video.StepInfo(0, 2, 5, 300, True, False, 0.0012, 0.0, 0.25)
    out = video.annotate(frame, info, 1 / 30)
    assert out.shape == (32 + video.CAPTION, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:32], frame)
    b = video.BOX
    assert (out[32 + 18:32 + 18 + b, 32 - b - 3:32 - 3] == video.GREEN).all()
    bad = video.annotate(frame, info._replace(implausible=True), 1 / 30)
    assert (bad[32 + 18:32 + 18 + b, 32 - b - 3:32 - 3] == video.RED).all()
    assert video.caption_lines(info, 1 / 30) == [
        "ep 1/2  step 5/300  0.2s", "SUCCESS", "depth 1.2 lift 0.0mm v 0.25m/s"]
    assert video.caption_lines(info._replace(success=False, step=300, implausible=True), 1 / 30)[1] \
        == "time-out IMPLAUSIBLE"


def test_bad_arguments(env, tmp_path):
    with pytest.raises(ValueError, match="multiple of 16"):
        video.record(env, make_base("zero", env), None, 1, tmp_path / "x.mp4", size=100)
    with pytest.raises(ValueError, match="1 <= episodes <= total"):
        video.episode_keys(0, 3, total=2)
    np.testing.assert_array_equal(video.episode_keys(5, 2, total=8),
                                  jax.random.split(jax.random.PRNGKey(5), 8)[:2])
