"""Brax's own PPO (`brax.training.agents.ppo.train`) on paper_return with the zero base.

Shows the env runs under Brax's PPO unchanged, and is the peer the project's residual PPO is
measured against. With no base policy the policy's action moves the held joint target:
target_t = target_{t-1} + alpha * hold_action_scale * action.

    python -m ppo.brax_baseline --num-envs 16 --timesteps 20000      # CPU, a couple of minutes

Settings: MuJoCo Playground's tuned Brax PPO parameters for its manipulation task
PandaPickCube (`PLAYGROUND_PICK_CUBE`, the peer `benchmarks/ppo_vs_brax.py` measures against),
or any `PPOConfig` mapped onto Brax's arguments (`from_ppo_config`).
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import numpy as np
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as brax_ppo

from mjx_env.config import check_num_envs
from mjx_env.paper_return import make
from mjx_env.wrappers import wrap_for_training
from ppo.config import PPOConfig


def _jax_compat() -> None:
    """brax 0.14.2, the newest release, still calls `jax.device_put_replicated`, which jax 0.10
    removed (it now raises AttributeError). Provide it for the single-host case brax uses."""
    try:
        jax.device_put_replicated  # noqa: B018
    except AttributeError:
        def device_put_replicated(x, devices):
            stacked = jax.tree.map(lambda a: jax.numpy.stack([a] * len(devices)), x)
            mesh = jax.sharding.Mesh(np.array(devices), ("devices",))
            spec = jax.sharding.PartitionSpec("devices")
            return jax.device_put(stacked, jax.sharding.NamedSharding(mesh, spec))
        jax.device_put_replicated = device_put_replicated


def brax_wrap(env, episode_length=None, action_repeat=1, randomization_fn=None, **_):
    """`wrap_env_fn` for Brax's PPO: our vmap + time limit + fresh auto-reset."""
    if action_repeat != 1 or randomization_fn is not None:
        raise ValueError("paper_return randomises inside the env and steps at 30 Hz: "
                         "use action_repeat=1 and no randomization_fn")
    return wrap_for_training(env, episode_length)


# MuJoCo Playground, manipulation_params.brax_ppo_config("PandaPickCube"): 2048 envs; a training
# step = batch_size x num_minibatches x unroll_length env steps (8 unrolls per env), then
# num_updates_per_batch x num_minibatches gradient steps; policy 4 x 32, value 5 x 256.
PLAYGROUND_PICK_CUBE = dict(
    num_envs=2048, batch_size=512, num_minibatches=32, num_updates_per_batch=8, unroll_length=10,
    learning_rate=1e-3, entropy_cost=2e-2, discounting=0.97, gae_lambda=0.95, clipping_epsilon=0.3,
    max_grad_norm=1.0, reward_scaling=1.0, policy_hidden=(32, 32, 32, 32), value_hidden=(256,) * 5)


def playground_settings(num_envs: int) -> dict:
    """PLAYGROUND_PICK_CUBE for another env count, keeping 8 unrolls per env per training step
    (batch_size scaled with num_envs: 512 at 2048)."""
    s = PLAYGROUND_PICK_CUBE
    return {**s, "num_envs": num_envs, "batch_size": max(1, 8 * num_envs // s["num_minibatches"])}


def from_ppo_config(ppo: PPOConfig) -> dict:
    """Brax arguments for our PPOConfig (an iteration = num_envs x unroll_length env steps,
    then update_epochs x num_minibatches updates)."""
    if ppo.num_envs % ppo.num_minibatches:
        raise ValueError(f"num_envs ({ppo.num_envs}) must be a multiple of num_minibatches "
                         f"({ppo.num_minibatches}) for Brax's batching")
    return dict(num_envs=ppo.num_envs, batch_size=ppo.num_envs // ppo.num_minibatches,
                num_minibatches=ppo.num_minibatches, num_updates_per_batch=ppo.update_epochs,
                unroll_length=ppo.unroll_length, learning_rate=ppo.learning_rate,
                entropy_cost=ppo.ent_coef, discounting=ppo.gamma, gae_lambda=ppo.gae_lambda,
                clipping_epsilon=ppo.clip_eps, max_grad_norm=ppo.max_grad_norm, reward_scaling=1.0,
                policy_hidden=ppo.hidden, value_hidden=ppo.hidden)


def train(settings: dict, timesteps: int, seed: int = 0, episode_length: int = 300,
          num_evals: int = 2, num_eval_envs: int | None = None, impl: str | None = None, log=print,
          params_fn=None):
    """Brax PPO with `settings` (`PLAYGROUND_PICK_CUBE` or `from_ppo_config(...)`). Returns
    (make_policy, params, list of (env steps, metrics dict)); evaluation is deterministic.
    `params_fn(env_steps, params)` receives the policy params at each evaluation point."""
    s = dict(settings)
    check_num_envs(s["num_envs"])
    _jax_compat()
    env = make(impl=impl, episode_length=episode_length)
    history = []
    start = time.monotonic()

    def progress(steps, metrics):
        row = {k: float(v) for k, v in metrics.items() if jax.numpy.ndim(v) == 0}
        history.append((int(steps), row))
        log(f"[brax ppo] {steps:>9d} env steps  {time.monotonic() - start:7.1f} s  "
            f"eval return {row.get('eval/episode_reward', float('nan')):8.3f}  "
            f"eval success {row.get('eval/episode_success', float('nan')):.3f}")

    network = functools.partial(ppo_networks.make_ppo_networks,
                                policy_hidden_layer_sizes=tuple(s.pop("policy_hidden")),
                                value_hidden_layer_sizes=tuple(s.pop("value_hidden")))
    make_policy, params, _ = brax_ppo.train(
        environment=env, num_timesteps=timesteps, episode_length=episode_length,
        wrap_env_fn=brax_wrap, normalize_observations=True, num_evals=num_evals,
        num_eval_envs=num_eval_envs or s["num_envs"], deterministic_eval=True,
        network_factory=network, seed=seed, progress_fn=progress,
        policy_params_fn=lambda steps, _, p: params_fn and params_fn(steps, p), **s)
    return make_policy, params, history


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gpu = jax.default_backend() == "gpu"
    p.add_argument("--num-envs", type=int, default=2048 if gpu else 16,
                   help="parallel envs (default: 2048 on a GPU, 16 on a CPU)")
    p.add_argument("--timesteps", type=int, default=5_000_000 if gpu else 20_000,
                   help="env steps (default: 5e6 on a GPU, 20000 on a CPU)")
    p.add_argument("--episode-length", type=int, default=300, help="steps per episode (default 300)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--impl", choices=["jax", "warp"], default=None, help="MJX backend (default: faster)")
    p.add_argument("--out", type=Path, default=Path("runs/brax_baseline.json"),
                   help="metrics JSON (default runs/brax_baseline.json)")
    args = p.parse_args(argv)
    _, _, history = train(playground_settings(args.num_envs), args.timesteps, args.seed,
                          args.episode_length, impl=args.impl)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                    "history": history}, indent=1))
    print(f"metrics written to {args.out}")


if __name__ == "__main__":
    main()
