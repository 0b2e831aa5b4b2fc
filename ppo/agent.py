"""Residual PPO: training state, rollout with chunked base actions, one jitted iteration.

One iteration = `unroll_length` control steps of all envs (a `lax.scan`), GAE, then
`update_epochs` x `num_minibatches` gradient steps, all inside one jitted function. The policy
is a tanh-squashed Gaussian (`policy.networks`): residual actions in (-1, 1).

The float hyperparameters in `HPARAMS` live in the training state (`TrainState.hp`, float32
scalars), not in the compiled code, so one compiled iteration serves every value and
`jax.vmap` runs several seeds and values side by side (`ppo.train.make_train`).
"""
from __future__ import annotations

import jax
import jax.numpy as jp
import optax
from flax import struct

from bridge import chunk_cache
from bridge.base import BasePolicy
from mjx_env.paper_return import PLAUSIBILITY_UNITS, set_base
from mjx_env.wrappers import FINAL_OBS
from policy import networks
from policy.networks import POLICY_INPUT
from ppo import losses
from ppo.config import PPOConfig
# PPOConfig fields read from TrainState.hp at run time (vmappable); the rest shape the program.
HPARAMS = ("learning_rate", "ent_coef", "clip_eps", "vf_coef", "gamma", "gae_lambda")


def hparams(cfg: PPOConfig, **values) -> dict:
    """{name: float32 scalar} of `HPARAMS` from `cfg`, overridden by `values` (arrays with a
    leading axis to vmap over them)."""
    unknown = set(values) - set(HPARAMS)
    if unknown:
        raise ValueError(f"not a vmappable hyperparameter: {sorted(unknown)}; choose from {HPARAMS}")
    return {k: jp.asarray(values.get(k, getattr(cfg, k)), jp.float32) for k in HPARAMS}


@struct.dataclass
class TrainState:
    params: dict
    opt_state: optax.OptState
    stats: networks.RunningStats
    env_state: object  # wrapped, batched mjx_env State
    cache: chunk_cache.ChunkCache  # the base's current chunks, positions and call count
    rng: jax.Array
    iteration: jax.Array  # int32 scalar
    env_steps: jax.Array  # int32 scalar, env steps so far (all envs)
    hp: dict  # HPARAMS -> float32 scalar


def make_optimizer(cfg: PPOConfig) -> optax.GradientTransformation:
    """Gradient clipping + Adam's direction; the (traced) learning rate is applied by the agent."""
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.scale_by_adam(eps=1e-5))


class Agent:
    """Pure functions of a residual PPO run; `init(rng)` and `iteration(state)` are jittable."""

    def __init__(self, env, wrapped_env, base: BasePolicy, cfg: PPOConfig, num_iterations: int):
        self.env, self.wrapped, self.base, self.cfg = env, wrapped_env, base, cfg
        self.net = networks.ActorCritic(hidden=cfg.hidden, init_log_std=cfg.init_log_std)
        self.optimizer = make_optimizer(cfg)
        self.num_iterations = num_iterations
        self.shardings = None  # TrainState of NamedShardings once placed on a mesh (ppo.sharding)
        self.env_keys_sharding = None  # the env axis over that mesh, for init's reset keys
        self.rollout_base = base  # the base as the rollout calls it (per device: ppo.sharding)

    def init(self, rng: jax.Array, hp: dict | None = None) -> TrainState:
        """A fresh state; `hp` as `hparams(cfg, ...)` (default: the config's values)."""
        k_net, k_env, rng = jax.random.split(rng, 3)
        params = self.net.init(k_net, jp.zeros((1, POLICY_INPUT)))
        keys = jax.random.split(k_env, self.cfg.num_envs)
        if self.env_keys_sharding is not None:  # typed as the auto-reset's keys: one reset trace
            keys = jax.lax.with_sharding_constraint(keys, self.env_keys_sharding)
        env_state = self.wrapped.reset(keys)
        return TrainState(params, self.optimizer.init(params), networks.init_stats(POLICY_INPUT),
                          env_state, chunk_cache.init(self.cfg.num_envs, self.base.horizon),
                          rng, jp.int32(0), jp.int32(0), hp if hp is not None else hparams(self.cfg))

    def learning_rate(self, ts: TrainState) -> jax.Array:
        """hp learning rate, decayed linearly to `lr_final_fraction` of it over `num_iterations`
        (the schedule), then constant: a resumed run that grows its budget keeps its schedule."""
        progress = jp.minimum(ts.iteration / max(1, self.num_iterations), 1.0)
        return ts.hp["learning_rate"] * (1.0 - (1.0 - self.cfg.lr_final_fraction) * progress)

    def policy_input(self, stats, obs, base_action):
        return networks.normalize(stats, jp.concatenate([obs, base_action], axis=-1))

    def deterministic_residual(self, params, stats, obs, base_action):
        """Residual action (..., 6) tanh(mean) in (-1, 1): the policy used for evaluation."""
        mean, _, _ = self.net.apply(params, self.policy_input(stats, obs, base_action))
        return networks.squash(mean)

    def _step(self, ts: TrainState, _):
        params, stats = ts.params, ts.stats
        cache, base_action = chunk_cache.next_action(ts.cache, self.rollout_base, ts.env_state)
        nan_base = ~jp.isfinite(base_action).all(-1)  # counted where it enters (metrics)
        x = self.policy_input(stats, ts.env_state.obs, base_action)
        mean, log_std, value = self.net.apply(params, x)
        rng, key = jax.random.split(ts.rng)
        u = mean + jp.exp(log_std) * jax.random.normal(key, mean.shape)  # pre-squash sample
        action = networks.squash(u)
        log_prob = networks.squashed_log_prob(mean, log_std, u)
        env_state = set_base(ts.env_state, base_action, self.base.active, filtered=1.0)
        nxt = self.wrapped.step(env_state, action)
        _, _, next_value = self.net.apply(params, self.policy_input(stats, nxt.info[FINAL_OBS], base_action))
        cache = chunk_cache.after_step(cache, nxt.done, self.base.refresh)
        ep = nxt.info["episode_metrics"]
        transition = dict(
            x=x, raw=jp.concatenate([ts.env_state.obs, base_action], -1), u=u,
            log_prob=log_prob, value=value, next_value=next_value, reward=nxt.reward,
            done=nxt.done, truncation=nxt.info["truncation"], residual=jp.abs(action).mean(-1),
            nan_base=nan_base,
            ep_return=ep["sum_reward"] * nxt.done, ep_success=ep["success"] * nxt.done,
            ep_plausible_success=ep["plausible_success"] * nxt.done,
            ep_implausible=(ep["implausible"] > 0) * nxt.done,
            plausibility={k: nxt.metrics[k] for k in PLAUSIBILITY_UNITS},
            terms={k: v for k, v in nxt.metrics.items() if k.startswith("reward/")})
        ts = ts.replace(env_state=nxt, cache=cache, rng=rng,
                        env_steps=ts.env_steps + nxt.done.shape[0])
        return ts, transition

    def _loss(self, params, batch, hp, key, actor_weight):
        mean, log_std, value = self.net.apply(params, batch["x"])
        log_prob = networks.squashed_log_prob(mean, log_std, batch["u"])
        fresh = mean + jp.exp(log_std) * jax.random.normal(key, mean.shape)
        entropy = networks.squashed_entropy(log_std, fresh)
        parts = losses.ppo_loss(log_prob, batch["log_prob"], batch["advantage"], value,
                                batch["target"], entropy, hp["clip_eps"], hp["vf_coef"],
                                hp["ent_coef"], actor_weight=actor_weight)
        return parts.total, parts

    def iteration(self, ts: TrainState) -> tuple[TrainState, dict]:
        cfg, hp = self.cfg, ts.hp
        calls_before = ts.cache.calls
        lr = self.learning_rate(ts)
        # critic warm-up: the actor (residual mean and std) stays as initialised, zero residual,
        # while the critic learns the base's returns (PPOConfig.critic_warmup)
        actor_weight = (ts.iteration >= cfg.critic_warmup).astype(jp.float32)
        ts, tr = jax.lax.scan(self._step, ts, None, cfg.unroll_length)
        adv, target = losses.gae(tr["reward"], tr["value"], tr["next_value"], tr["done"],
                                 tr["truncation"], hp["gamma"], hp["gae_lambda"])
        flat = lambda a: a.reshape((-1,) + a.shape[2:])  # noqa: E731
        data = {"x": flat(tr["x"]), "u": flat(tr["u"]), "log_prob": flat(tr["log_prob"]),
                "advantage": flat(adv), "target": flat(target)}
        n = data["x"].shape[0]  # this device's samples: its envs x unroll_length
        if n % cfg.num_minibatches:  # at trace time, before anything compiles
            raise ValueError(f"num_minibatches {cfg.num_minibatches} does not divide the {n} samples "
                             "of one device's batch (envs per device x unroll_length)")
        mb = n // cfg.num_minibatches

        def epoch(carry, key):
            params, opt_state = carry
            k_perm, k_ent = jax.random.split(key)
            perm = jax.random.permutation(k_perm, n)
            batches = jax.tree.map(lambda a: a[perm].reshape((cfg.num_minibatches, mb) + a.shape[1:]), data)

            def minibatch(carry, xs):
                params, opt_state = carry
                batch, k = xs
                (_, parts), grads = jax.value_and_grad(self._loss, has_aux=True)(params, batch, hp, k,
                                                                            actor_weight)
                updates, opt_state = self.optimizer.update(grads, opt_state, params)
                updates = jax.tree.map(lambda g: -lr * g, updates)
                return (optax.apply_updates(params, updates), opt_state), parts

            return jax.lax.scan(minibatch, (params, opt_state),
                                (batches, jax.random.split(k_ent, cfg.num_minibatches)))

        rng, key = jax.random.split(ts.rng)
        (params, opt_state), parts = jax.lax.scan(
            epoch, (ts.params, ts.opt_state), jax.random.split(key, cfg.update_epochs))
        stats = networks.update_stats(ts.stats, flat(tr["raw"]))
        episodes = tr["done"].sum()
        var = jp.var(target)
        metrics = {
            "loss": parts.total.mean(), "policy_loss": parts.policy.mean(),
            "value_loss": parts.value.mean(), "entropy": parts.entropy.mean(),
            "approx_kl": parts.approx_kl.mean(), "clip_fraction": parts.clip_fraction.mean(),
            "explained_variance": 1.0 - jp.var(target - tr["value"]) / jp.maximum(var, 1e-8),
            "residual_abs_mean": tr["residual"].mean(), "reward_mean": tr["reward"].mean(),
            "learning_rate": lr, "policy_std_mean": jp.exp(ts.params["params"]["log_std"]).mean(),
            # batched base calls per control step (1 / horizon with a full cache)
            "base_calls_per_step": (ts.cache.calls - calls_before) / cfg.unroll_length,
            "episodes": episodes,
            "nan_base": tr["nan_base"].sum(),  # env steps whose base action was NaN or inf
            # Over the episodes that ended in this iteration; NaN when none did.
            "episode_return": jp.where(episodes > 0, tr["ep_return"].sum() / jp.maximum(episodes, 1), jp.nan),
            "success_rate": jp.where(episodes > 0, tr["ep_success"].sum() / jp.maximum(episodes, 1), jp.nan),
            # succeeded and never implausible (arm in the table, sheet lifted; mjx_env.plausibility)
            "plausible_success_rate": jp.where(
                episodes > 0, tr["ep_plausible_success"].sum() / jp.maximum(episodes, 1), jp.nan),
            "implausible_episode_rate": jp.where(
                episodes > 0, tr["ep_implausible"].sum() / jp.maximum(episodes, 1), jp.nan),
            **{k: v.mean() for k, v in tr["terms"].items()},
        }
        for k, v in tr["plausibility"].items():  # over every env step of this iteration
            metrics[f"{k}_max"], metrics[f"{k}_p95"] = v.max(), jp.percentile(v, 95)
        ts = ts.replace(params=params, opt_state=opt_state, stats=stats, rng=rng,
                        iteration=ts.iteration + 1)
        return ts, metrics
