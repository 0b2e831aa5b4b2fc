"""Batched camera frames with MJX's renderer on MuJoCo Warp (`mjx.render`), CPU or GPU.

`Renderer(env)(env_state) -> {camera: (B, H, W, 3) uint8}` renders every env of the batch in one
call and is jittable. The batch size B comes from the state it is traced with (never from the
env): one render context per batch size, created on first use and kept (so 64 evaluation
episodes of a 4096-env run render 64 frames, and a per-device shard renders its local batch).
The trainer calls it only when base chunks are refreshed. The env may run on
either MJX impl: for `impl="jax"` the renderer rebuilds Warp data from the env's qpos (one
`mjx.forward` on its own Warp model); for `impl="warp"` it renders the env's data directly.
Per-env camera/light randomisation (`info["dr"]`) is applied to the model it renders with.
"""
from __future__ import annotations

import jax
import jax.numpy as jp
import mujoco
from mujoco import mjx

from mjx_env import randomize
from mjx_env.scene import put_model

CAMERAS = ("top", "wrist")


class Renderer:
    """Keep the renderer alive while functions traced from it run: it owns the render buffers."""

    def __init__(self, env, cameras: tuple[str, ...] = CAMERAS, size: int = 224):
        """`env`: a PaperReturn; `cameras`: MJCF camera names; `size`: square frame side (px)."""
        mjm: mujoco.MjModel = env.mj_model
        names = [mjm.camera(i).name for i in range(mjm.ncam)]
        unknown = [c for c in cameras if c not in names]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}: the scene has {names}")
        if size < 8:
            raise ValueError(f"render size must be >= 8 px, got {size}")
        self.env, self.cameras, self.size = env, tuple(cameras), size
        self._cam_ids = [names.index(c) for c in cameras]
        self._model = env.mjx_model if env.impl == "warp" else put_model(mjm, "warp")
        self._contexts: dict[int, object] = {}  # batch size -> render context (owns buffers)

    def context(self, batch: int):
        """The render context for `batch` worlds (created on first use, then reused)."""
        if batch < 1:
            raise ValueError(f"cannot render a batch of {batch} envs")
        if batch not in self._contexts:
            mjm = self.env.mj_model
            self._contexts[batch] = mjx.create_render_context(
                mjm, nworld=batch, cam_res=(self.size, self.size), use_textures=True,
                use_shadows=False, render_rgb=True, render_depth=False,
                cam_active=[i in self._cam_ids for i in range(mjm.ncam)])
        return self._contexts[batch]

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes this renderer has served (one render context each)."""
        return tuple(self._contexts)

    def _warp_data(self, model, qpos, batch: int):
        data = mjx.make_data(self.env.mj_model, impl="warp",
                             naconmax=self.env.config.naconmax_per_env * batch,
                             njmax=self.env.config.njmax).replace(qpos=qpos)
        return mjx.forward(model, data)

    def __call__(self, env_state) -> dict[str, jax.Array]:
        """{camera: (B, size, size, 3) uint8} for a batched env state of B envs."""
        batch = int(env_state.obs.shape[0])
        ctx = self.context(batch).pytree()

        def one(data, dr):
            model = randomize.apply(self._model, dr, self.env.ids)
            if self.env.impl != "warp":
                data = self._warp_data(model, data.qpos, batch)
            data = mjx.refit_bvh(model, data, ctx)
            rgb, _, _ = mjx.render(model, data, ctx)
            return rgb

        packed = jax.vmap(one)(env_state.data, env_state.info["dr"])
        return {cam: to_uint8(mjx.get_rgb(ctx, i, packed))
                for cam, i in zip(self.cameras, self._cam_ids)}


def to_uint8(rgb: jax.Array) -> jax.Array:
    """float32 [0, 1] -> uint8 (exact for the renderer's k/255 values)."""
    return jp.round(rgb * 255.0).astype(jp.uint8)
