"""`scripted[:<noise>]`: the privileged JAX expert (mjx_env.expert), closed loop, horizon 1;
with `<noise>`, plus Gaussian noise of that std (rad) per joint and control step (a worse base,
for the base-quality sweep)."""
from __future__ import annotations

from bridge.kinds.kind import BaseKind, BasePolicy


def noise_std(spec: str, arg: str) -> float:
    try:
        noise = float(arg) if arg else 0.0
    except ValueError:
        noise = -1.0
    if not 0 <= noise < float("inf"):
        raise ValueError(f"--base {spec}: scripted:<noise> needs a finite noise std >= 0 in rad")
    return noise


class Scripted(BaseKind):
    name, usage = "scripted", "scripted[:<noise>]"

    def validate(self, spec: str, arg: str) -> None:
        noise_std(spec, arg)

    def build(self, spec, arg, env, horizon, refresh, config) -> BasePolicy:
        import jax  # JAX and MuJoCo only when a base is built (the deploy CLI checks specs first)
        import jax.numpy as jp

        from mjx_env.expert import ScriptedExpert

        h = horizon or 1
        noise = noise_std(spec, arg)
        expert = jax.vmap(ScriptedExpert(env))

        def chunk(s):
            target = expert(s)
            if noise > 0:  # per env and control step: keyed by the env's rng and sim time
                step = jp.round(s.data.time / env.config.ctrl_dt).astype(jp.int32)
                keys = jax.vmap(jax.random.fold_in)(s.info["rng"], step)
                target = target + noise * jax.vmap(lambda k: jax.random.normal(k, (6,)))(keys)
            return jp.repeat(target[:, None, :], h, axis=1)

        return BasePolicy(spec, h, 1.0, chunk, refresh or "per_env")

    def deploy_runtime(self, spec: str, arg: str) -> str | None:
        return None if arg else "expert"  # the noisy expert is a training device, not a robot base
