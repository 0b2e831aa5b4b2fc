"""Camera frames of one simulated env with the project's renderer (MJX on MuJoCo Warp, CPU or
GPU), the env's camera/light randomisation (`info["dr"]`) applied: the same calls as
`bridge.render.Renderer`, for one env whose state is not batched.

(Kept here while `bridge.render.Renderer` is sized by the env's `num_envs`; once the renderer
takes the batch from the arrays this can be `Renderer(env, cameras, size)` on a batch of one.)
"""
from __future__ import annotations

import jax
import mujoco
import numpy as np
from mujoco import mjx

from bridge.render import to_uint8
from mjx_env import randomize
from mjx_env.scene import put_model


class SimCamera:
    """`camera(env_state) -> {name: (size, size, 3) uint8}` for one env (unbatched state)."""

    def __init__(self, env, cameras: tuple[str, ...] = ("top",), size: int = 224):
        mjm: mujoco.MjModel = env.mj_model
        names = [mjm.camera(i).name for i in range(mjm.ncam)]
        unknown = [c for c in cameras if c not in names]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}: the scene has {names}")
        if size < 8:
            raise ValueError(f"render size must be >= 8 px, got {size}")
        self.env, self.cameras, self.size = env, tuple(cameras), size
        self._ids = [names.index(c) for c in cameras]
        self._model = put_model(mjm, "warp")
        self._context = mjx.create_render_context(
            mjm, nworld=1, cam_res=(size, size), use_textures=True, use_shadows=False,
            render_rgb=True, render_depth=False, cam_active=[i in self._ids for i in range(mjm.ncam)])
        self._render = jax.jit(self._frames)

    def _frames(self, qpos: jax.Array, dr: dict) -> list[jax.Array]:
        ctx, env = self._context.pytree(), self.env

        def one(qpos, dr):
            model = randomize.apply(self._model, dr, env.ids)
            data = mjx.make_data(env.mj_model, impl="warp", naconmax=env.config.naconmax_per_env,
                                 njmax=env.config.njmax).replace(qpos=qpos)
            data = mjx.refit_bvh(model, mjx.forward(model, data), ctx)
            return mjx.render(model, data, ctx)[0]

        packed = jax.vmap(one)(qpos[None], jax.tree.map(lambda x: x[None], dr))
        return [to_uint8(mjx.get_rgb(ctx, i, packed))[0] for i in self._ids]

    def __call__(self, env_state) -> dict[str, np.ndarray]:
        frames = self._render(env_state.data.qpos, env_state.info["dr"])
        return {c: np.asarray(f) for c, f in zip(self.cameras, frames)}
