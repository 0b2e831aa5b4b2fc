"""Base policies for the deploy loop: `base.action(sensed) -> (6,)` joint target, sim rad.

  zero                         hold: the last target (the residual, if any, moves the arm)
  scripted                     the scripted expert (mjx_env.expert) on the estimated
                               observation, closed loop, every step
  torch:<module>:<weights>     a torch chunk policy, a GR00T N1.5 checkpoint (gr00t:<hub id |
  gr00t:<hub id | dir>         dir>, bridge.gr00t: its frames resized to the resolution it was
  gr00t-server:<host>:<port>   trained at) or a GR00T inference server, through the bridge's
                               loaders, key layouts and units (bridge.torch_base); the next
                               chunk is requested `lead` steps before the current one runs
                               out, in a background thread, so inference latency is hidden

A chunk computed from the observation of step t starts at step t: when it arrives k steps later
its first k entries are skipped (they are in the past).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, NamedTuple

import jax
import jax.numpy as jp
import numpy as np

from deploy.observe import Sensed

class _Data(NamedTuple):
    qfrc_bias: jax.Array


class _State(NamedTuple):
    """The two fields of an env state the scripted expert reads."""

    obs: jax.Array
    data: _Data


class HoldBase:
    """`zero`: the previous target (an inactive base: the residual sees zeros)."""

    name, active = "zero", 0.0

    def action(self, s: Sensed) -> np.ndarray:
        return np.asarray(s.prev_target, np.float32)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class ScriptedBase:
    """The scripted expert (`mjx_env.expert.ScriptedExpert`, jitted) on the observation."""

    name, active = "scripted", 1.0

    def __init__(self, env):
        from mjx_env.expert import ScriptedExpert

        expert = ScriptedExpert(env)
        self._fn = jax.jit(lambda obs, bias: expert(_State(obs, _Data(bias))))

    def action(self, s: Sensed) -> np.ndarray:
        return np.asarray(self._fn(jp.asarray(s.obs), jp.asarray(s.bias, jp.float32)))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class ChunkBase:
    """A chunk model `request(sensed) -> (horizon, 6) sim rad` behind a one-worker thread:
    the next chunk is requested `lead` steps before the current one runs out."""

    active = 1.0

    def __init__(self, name: str, request: Callable[[Sensed], np.ndarray], horizon: int,
                 lead: int | None = None):
        if horizon < 1:
            raise ValueError(f"chunk horizon must be >= 1, got {horizon}")
        self.name, self.request, self.horizon = name, request, horizon
        self.lead = max(1, min(horizon, horizon // 2 if lead is None else lead))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deploy-base")
        self._chunk: np.ndarray | None = None
        self._index = 0
        self._step = 0
        self._pending: tuple[Future, int] | None = None  # (future, step it was requested at)
        self.calls, self.waits = 0, 0

    def _submit(self, s: Sensed) -> None:
        self._pending = (self._pool.submit(self.request, s), self._step)
        self.calls += 1

    def _take(self) -> None:
        future, asked = self._pending
        if not future.done():
            self.waits += 1  # inference slower than the lead: this step waits for it
        chunk = np.asarray(future.result(), np.float32)
        if chunk.ndim != 2 or chunk.shape[1] != 6:
            raise ValueError(f"base {self.name}: chunk of shape {chunk.shape}, expected (H, 6)")
        self._chunk, self._index, self._pending = chunk, self._step - asked, None

    def reset(self) -> None:
        """Forget the current chunk (a new episode); a pending request is dropped."""
        self._chunk, self._index, self._step, self._pending = None, 0, 0, None

    def action(self, s: Sensed) -> np.ndarray:
        if self._chunk is None and self._pending is None:
            self._submit(s)
        remaining = 0 if self._chunk is None else len(self._chunk) - self._index
        if self._pending is None and remaining <= self.lead:
            self._submit(s)
        if remaining <= 0:
            self._take()
            if self._index >= len(self._chunk):  # arrived after its whole span: ask again
                self._submit(s)
                self._take()
        target = self._chunk[self._index]
        self._index += 1
        self._step += 1
        return target

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def model_request(spec: str, config, size: int) -> tuple[Callable[[Sensed], np.ndarray], int]:
    """(request, horizon) for a model base (`torch:...`, `gr00t:...`, `gr00t-server:...`: a
    kind with `model`, bridge.base) through `bridge.torch_base` (torch is imported here only):
    the robot's frames are resized to the kind's `frame_sizes` (`size` px, or for gr00t each
    camera's resolution in the checkpoint, as the model saw them in training); the state goes
    in the model's units."""
    import cv2
    import torch

    from bridge import torch_base
    from bridge.base import kind_of

    kind, arg = kind_of(spec)
    layout, units = config.key_layout(), config.joint_units()
    model = kind.load_model(arg, config, check_frames=False)
    sizes = kind.frame_sizes(model, layout, size)
    host = torch_base.ChunkModel(model, layout, units, config.task)
    cams = tuple(dict.fromkeys(layout.cameras))

    def request(s: Sensed) -> np.ndarray:
        frames = {c: torch.from_numpy(cv2.resize(s.frames[c], sizes[c],
                                                 interpolation=cv2.INTER_AREA)[None]) for c in cams}
        state = torch.from_numpy(np.asarray(s.q, np.float32)[None])
        with torch.no_grad():
            return host(frames, state)[0].cpu().numpy()

    return request, layout.horizon


def make_base(spec: str, env, config=None, lead: int | None = None):
    """The base named by `spec` (bridge.base's grammar) as the loop runs it."""
    from bridge.base import deploy_runtime

    runtime = deploy_runtime(spec)
    if runtime == "hold":
        return HoldBase()
    if runtime == "expert":
        return ScriptedBase(env)
    from bridge.units import BridgeConfig

    config = config or BridgeConfig()
    request, horizon = model_request(spec, config, config.render_size)
    return ChunkBase(spec, request, horizon, lead)
