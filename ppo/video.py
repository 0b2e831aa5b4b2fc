"""MP4 of evaluation episodes seen from the top camera, with the step, success and the
plausibility flags written under each frame.

    from ppo.video import record
    info = record(env, base, residual, episodes=2, path="runs/ppo/eval.mp4", seed=1234)

Episode i starts from key i of `jax.random.split(PRNGKey(seed), total)` (`total` defaults to
`episodes`; pass the evaluation's episode count to film the first episodes of that evaluation,
as `python -m ppo.evaluate --video N` does), and runs like `ppo.evaluate.evaluate_base`: the base
through the chunk cache, plus the residual, until its first `done` or `episode_length` steps.
The episodes follow one another in the file, each from its reset frame (step 0) to its last.

Frames are drawn by the project's renderer (`bridge.render.Renderer`, MuJoCo Warp, CPU or GPU)
on a separate small render batch rebuilt from the envs' joint positions, so the rollout may run
on either MJX impl and any batch size and the renderer only ever holds `episodes` worlds. Nothing
here runs during training. The MP4 (H.264, yuv420p, 30 fps = the control rate) is written by the
ffmpeg binary shipped in the `imageio-ffmpeg` wheel.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bridge import rollout
from bridge.base import BasePolicy
from bridge.render import Renderer
from mjx_env.paper_return import PaperReturn
from ppo.progress import Episodes

CAMERA = "top"
SIZE = 160  # px, square camera frame (a multiple of 16: H.264 macroblocks, no rescaling)
CAPTION = 48  # px, text strip under the frame: 3 lines
BOX = 12  # px, status square at the right end of the caption's second line
GREEN, RED, GREY = (40, 200, 60), (220, 40, 40), (110, 110, 110)  # status square colours
CAPTION_KEYS = ("success", "implausible", "arm_depth", "paper_lift", "paper_speed")


class StepInfo(NamedTuple):
    """What the caption shows for one frame (units as in `state.metrics`)."""

    episode: int  # 0-based
    episodes: int
    step: int  # control steps since reset (0 = the reset frame)
    length: int  # episode_length
    success: bool  # the episode has succeeded (success ends it: only its last frame)
    implausible: bool  # some step of the episode so far was implausible
    arm_depth: float  # m, this step
    paper_lift: float  # m, this step
    paper_speed: float  # m/s, this step


class _Qpos(NamedTuple):
    qpos: jax.Array  # (n, nq)


class _RenderState(NamedTuple):
    """The fields `Renderer.__call__` reads; for an impl="jax" render env it uses only qpos."""

    obs: jax.Array
    data: _Qpos
    info: dict


def status_colour(info: StepInfo) -> tuple[int, int, int]:
    """Green once succeeded (and plausible), red once implausible, grey otherwise."""
    if info.implausible:
        return RED
    return GREEN if info.success else GREY


def caption_lines(info: StepInfo, ctrl_dt: float) -> list[str]:
    """Three short lines: episode and step, outcome, plausibility metrics (mm, m/s)."""
    outcome = "SUCCESS" if info.success else "running" if info.step < info.length else "time-out"
    if info.implausible:
        outcome += " IMPLAUSIBLE"
    return [f"ep {info.episode + 1}/{info.episodes}  step {info.step}/{info.length}  "
            f"{info.step * ctrl_dt:.1f}s",
            outcome,
            f"depth {info.arm_depth * 1e3:.1f} lift {info.paper_lift * 1e3:.1f}mm "
            f"v {info.paper_speed:.2f}m/s"]


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType
    except (TypeError, OSError):
        return ImageFont.load_default()


def annotate(frame: np.ndarray, info: StepInfo, ctrl_dt: float) -> np.ndarray:
    """(S, S, 3) uint8 camera frame -> (S + CAPTION, S, 3) uint8: the frame above a black
    caption strip with `caption_lines` in white and the `status_colour` square (BOX px) at
    rows S + 18 .. S + 17 + BOX, columns S - BOX - 3 .. S - 4."""
    s = frame.shape[1]
    img = Image.new("RGB", (s, frame.shape[0] + CAPTION), (0, 0, 0))
    img.paste(Image.fromarray(np.asarray(frame, np.uint8)), (0, 0))
    draw = ImageDraw.Draw(img)
    top, font = frame.shape[0], _font(10)
    for i, line in enumerate(caption_lines(info, ctrl_dt)):
        draw.text((2, top + 2 + 15 * i), line, fill=(255, 255, 255), font=font)
    draw.rectangle((s - BOX - 3, top + 18, s - 4, top + 17 + BOX), fill=status_colour(info))
    return np.asarray(img)


def episode_keys(seed: int, episodes: int, total: int | None = None) -> jax.Array:
    """(episodes, 2) keys: the first `episodes` of `jax.random.split(PRNGKey(seed), total)`."""
    total = episodes if total is None else total
    if not 1 <= episodes <= total:
        raise ValueError(f"need 1 <= episodes <= total, got {episodes} of {total}")
    return jax.random.split(jax.random.PRNGKey(seed), total)[:episodes]


def _stepper(env: PaperReturn, base: BasePolicy, residual: Callable | None,
             renderer: Renderer, shown: int):
    """Jitted functions of a batch (`bridge.rollout`): `reset(keys (batch, 2)) -> (carry,
    frames, metrics)` and `step(carry) -> (carry, frames, metrics)`; frames (shown, S, S, 3)
    uint8 and metrics (shown,) of the first `shown` envs after the reset / step."""

    def frames_of(state):
        small = lambda x: x[:shown]  # noqa: E731
        view = _RenderState(state.obs[:shown], _Qpos(state.data.qpos[:shown]),
                            {"dr": jax.tree.map(small, state.info["dr"])})
        return renderer(view)[CAMERA]

    def metrics_of(state):
        out = {k: state.metrics[k][:shown] for k in CAPTION_KEYS if k != "implausible"}
        return {**out, "implausible": state.info["implausible"][:shown]}

    res = None if residual is None else (lambda state, a: residual(state.obs, a))

    @jax.jit
    def reset(keys):
        carry = rollout.start(env, base, keys)
        return carry, frames_of(carry.state), metrics_of(carry.state)

    @jax.jit
    def step(carry):
        carry, _ = rollout.step(env, base, res, carry)
        return carry, frames_of(carry.state), metrics_of(carry.state)

    return reset, step


def _round(env, stepper, keys, shown, offset, total_shown, progress: Episodes | None = None):
    """Frames of the first `shown` envs of one batch started from `keys` (batch, 2): a list per
    episode of annotated (S + CAPTION, S, 3) uint8 frames, and each episode's StepInfo at its end.
    `progress`: told the episodes done and the step reached after each step."""
    reset, step = stepper
    length, dt = env.config.episode_length, env.config.ctrl_dt
    carry, frames, metrics = reset(keys)

    def info(j, t, m):
        return StepInfo(offset + j, total_shown, t, length, bool(m["success"][j] > 0),
                        bool(m["implausible"][j] > 0), float(m["arm_depth"][j]),
                        float(m["paper_lift"][j]), float(m["paper_speed"][j]))

    m = jax.device_get(metrics)
    out = [[annotate(f, info(j, 0, m), dt)] for j, f in enumerate(np.asarray(frames))]
    last = [info(j, 0, m) for j in range(shown)]
    alive = np.ones(shown, bool)
    for t in range(1, length + 1):
        carry, frames, metrics = step(carry)
        frames, m = np.asarray(frames), jax.device_get(metrics)
        for j in np.flatnonzero(alive):  # the episodes that were running: this step is theirs
            last[j] = info(j, t, m)
            out[j].append(annotate(frames[j], last[j], dt))
        alive = np.asarray(carry.tally.alive)[:shown]
        if progress is not None:
            progress.update(int(shown - alive.sum()), t)
        if not alive.any():
            break
    return out, last


def _write(path: Path, episodes: list[list[np.ndarray]], fps: float) -> None:
    """H.264 MP4 of the episodes' frames (H, W, 3) uint8, one after another, at `fps`."""
    import imageio_ffmpeg  # only the video path needs it

    h, w = episodes[0][0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, quality=8,
                                         macro_block_size=16, ffmpeg_log_level="error")
    with warnings.catch_warnings():  # fork + exec of ffmpeg: JAX's fork warning does not apply
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        writer.send(None)  # start ffmpeg
    try:
        for frames in episodes:
            for f in frames:
                writer.send(np.ascontiguousarray(f))
    finally:
        writer.close()


def record(env: PaperReturn, base: BasePolicy, residual: Callable | None, episodes: int, path,
           seed: int = 0, total: int | None = None, size: int = SIZE, progress: bool = False) -> dict:
    """Write an MP4 of `episodes` fixed-seed episodes to `path` (see the module docstring).

    `residual(obs (B, 25), base_action (B, 6) rad) -> (B, 6)` in [-1, 1], None = zeros; `size`
    px, a multiple of 16. The episodes run side by side in one batch; `progress`: print lines
    `video: <done>/<episodes> episodes done, step s/L, <elapsed>` as they run. Returns {path, episodes, frames, steps, success, implausible, fps,
    frame_size (H, W) px, seconds}."""
    if size < 16 or size % 16:
        raise ValueError(f"video size must be a positive multiple of 16 px, got {size}")
    keys = episode_keys(seed, episodes, total)
    start = time.monotonic()
    import warp  # MJX's renderer: keep its per-kernel load messages out of the CLI's output

    level, warp.config.log_level = warp.config.log_level, warp.LOG_WARNING
    try:
        shown = Episodes("video", episodes, env.config.episode_length) if progress else None
        clips, ends = _rollouts(env, base, residual, keys, size, shown)
    finally:
        warp.config.log_level = level
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fps = 1.0 / env.config.ctrl_dt
    _write(path, clips, fps)
    if progress:
        shown.finish()
    return {"path": str(path), "episodes": episodes, "frames": sum(len(c) for c in clips),
            "steps": [e.step for e in ends], "success": [e.success for e in ends],
            "implausible": [e.implausible for e in ends], "fps": fps,
            "frame_size": list(clips[0][0].shape[:2]), "seconds": time.monotonic() - start}


def _rollouts(env, base, residual, keys, size, progress: Episodes | None = None):
    """(per-episode annotated frame lists, per-episode last StepInfo) of the episodes of `keys`,
    side by side in one batch."""
    episodes = keys.shape[0]
    renderer = Renderer(PaperReturn(dataclasses.replace(env.config, impl="jax")), (CAMERA,), size)
    stepper = _stepper(env, base, residual, renderer, episodes)
    return _round(env, stepper, keys, episodes, 0, episodes, progress)
