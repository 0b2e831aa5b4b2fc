"""`python -m ppo.train`: residual PPO on paper_return, with checkpoints, logs and evaluation.

    python -m ppo.train --help
    python -m ppo.train                         # zero base; GPU: ~3 min to the task
    python -m ppo.train --base scripted:0.05 --out runs/noisy
    python -m ppo.train --out runs/ppo --resume # continue the run in runs/ppo

Defaults: the one-GPU settings of `PPOConfig` (4096 envs, 150 iterations = 9.8M env steps).
On a CPU: 32 envs, 8 minibatches, 100 iterations (~5 minutes): the return rises, but the
task needs a GPU's batch.

Writes to --out: metrics.jsonl (one JSON object per iteration), checkpoints/<iteration>/ (orbax:
params, optimiser state, normaliser, env state, RNG), config.json, learning_curve.png and
eval.json (base alone vs base + residual, success rate with a 95% CI).
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np
import orbax.checkpoint as ocp
from tqdm import tqdm

from mjx_env.paper_return import make
from bridge.base import BASES, make_base
from bridge.units import BridgeConfig
from mjx_env.wrappers import wrap_for_training
from ppo.agent import CPU_DEFAULTS, Agent, PPOConfig, TrainState
from ppo.evaluate import episode_window, evaluate_policy, first_reach


@dataclasses.dataclass(frozen=True)
class RunConfig:
    base: str = "zero"
    base_horizon: int | None = None  # control steps per base chunk (default: scripted 1, else 16)
    base_refresh: str | None = None  # chunk cache rule: per_env | sync (default: models sync)
    alpha: float = 0.7
    terminate_implausible: bool = False  # end an episode on an implausible state, with a penalty
    iterations: int = 100
    episode_length: int = 300
    impl: str | None = None
    seed: int = 0
    checkpoint_every: int = 10
    eval_episodes: int = 64
    out: str = "runs/ppo"


GPU_ITERATIONS, CPU_ITERATIONS = 150, 100  # 9.8M env steps on a GPU; a few minutes on a CPU


class NonFiniteError(FloatingPointError):
    pass


def build(run: RunConfig, ppo: PPOConfig, env_overrides: dict | None = None,
          bridge: BridgeConfig = BridgeConfig(), copies: int = 1):
    """The env (EnvConfig fields from `run`, plus `env_overrides`), base and agent of a run;
    `copies` runs side by side (vmapped seeds) size MuJoCo Warp's buffers for all of them."""
    env = make(num_envs=ppo.num_envs * copies, impl=run.impl, alpha=run.alpha,
               episode_length=run.episode_length, terminate_implausible=run.terminate_implausible,
               **(env_overrides or {}))
    base = make_base(run.base, env, run.base_horizon, run.base_refresh, bridge)
    agent = Agent(env, wrap_for_training(env), base, ppo, run.iterations)
    return env, agent


def make_train(run: RunConfig, ppo: PPOConfig, copies: int = 1, env_overrides: dict | None = None,
               bridge: BridgeConfig = BridgeConfig()):
    """(agent, train): `train(rng, hp=None) -> (final TrainState, metrics)` runs the whole
    training (`run.iterations` iterations, a `lax.scan`) as one pure function; metrics are
    (iterations,) arrays. `jax.vmap(train)` over keys (and `hp`, see `ppo.agent.hparams`) runs
    `copies` trainings side by side inside one jit, purejaxrl-style."""
    env, agent = build(run, ppo, env_overrides, bridge, copies)

    def train_fn(rng: jax.Array, hp: dict | None = None):
        ts = agent.init(rng, hp)
        return jax.lax.scan(lambda t, _: agent.iteration(t), ts, None, run.iterations)

    return agent, train_fn


def _checkpointer():
    return ocp.StandardCheckpointer()


def _saveable(ts: TrainState) -> dict:
    """The state's leaves by position; orbax refuses zero-size arrays (e.g. MJX's empty `act`),
    which `restore` takes from the template instead."""
    return {str(i): x for i, x in enumerate(jax.tree.leaves(ts)) if x.size > 0}


def save(out: Path, ts: TrainState, config: dict) -> Path:
    """Atomic orbax save of the whole training state to out/checkpoints/<iteration>, with the
    run's config beside it (config.json)."""
    path = (out / "checkpoints" / str(int(ts.iteration))).resolve()
    ckpt = _checkpointer()
    ckpt.save(path, _saveable(ts), force=True)
    ckpt.wait_until_finished()
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path


def latest_checkpoint(out: Path) -> Path | None:
    root = out / "checkpoints"
    steps = sorted(int(p.name) for p in root.glob("*") if p.name.isdigit()) if root.exists() else []
    return (root / str(steps[-1])).resolve() if steps else None


def restore(path: Path, template: TrainState) -> TrainState:
    """Load a `save`d state into the structure of `template` (same config)."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _saveable(template))
    stored = _checkpointer().restore(path, abstract)
    leaves, treedef = jax.tree.flatten(template)
    return jax.tree.unflatten(treedef, [stored.get(str(i), x) for i, x in enumerate(leaves)])


# NaN when no episode ended in an iteration: not an error
EPISODE_METRICS = ("episode_return", "success_rate", "plausible_success_rate", "implausible_episode_rate")


def _check_same_config(path: Path, config: dict) -> None:
    """Refuse to resume a run with other settings (the checkpoint would not fit or not mean the
    same); only the iteration budget may grow."""
    if not path.exists():
        return
    saved = json.loads(path.read_text())
    diff = [f"{section}.{k}: {saved[section].get(k)!r} -> {v!r}"
            for section in ("run", "ppo", "env", "bridge") for k, v in config[section].items()
            if saved.get(section, {}).get(k) != v and k not in ("iterations", "out")]
    if diff:
        raise ValueError(f"--resume with settings that differ from {path}: {'; '.join(diff)}")


def check_finite(ts: TrainState, metrics: dict) -> None:
    bad = [k for k, v in metrics.items()
           if k not in EPISODE_METRICS and not np.isfinite(np.asarray(v)).all()]
    if not all(bool(jp.isfinite(x).all()) for x in jax.tree.leaves(ts.params)):
        bad.append("params")
    if bad:
        raise NonFiniteError(f"non-finite {', '.join(bad)} at iteration {int(ts.iteration)}; "
                             "training stopped, the last checkpoint is untouched")


def train(run: RunConfig, ppo: PPOConfig, resume: bool = False, progress: bool = True,
          corrupt_at: int | None = None, stop_at: int | None = None,
          env_overrides: dict | None = None, bridge: BridgeConfig = BridgeConfig()
          ) -> tuple[Agent, TrainState, list[dict]]:
    """Train; returns the agent, final state and per-iteration metrics. Tests use `corrupt_at`
    (a NaN injected into the params after that iteration) and `stop_at` (stop early, as if
    interrupted, after that iteration)."""
    out = Path(run.out)
    out.mkdir(parents=True, exist_ok=True)
    env, agent = build(run, ppo, env_overrides, bridge)
    ts = jax.jit(agent.init)(jax.random.PRNGKey(run.seed))
    history: list[dict] = []
    log_path = out / "metrics.jsonl"
    config = {"run": dataclasses.asdict(run), "ppo": dataclasses.asdict(ppo),
              "env": dataclasses.asdict(env.config), "bridge": dataclasses.asdict(bridge)}
    config = json.loads(json.dumps(config, default=str))
    if resume:
        path = latest_checkpoint(out)
        if path is None:
            raise FileNotFoundError(f"--resume: no checkpoint under {out / 'checkpoints'}")
        _check_same_config(out / "config.json", config)
        ts = restore(path, ts)
        if log_path.exists():  # drop rows logged after the checkpoint: they are redone
            history = [row for row in map(json.loads, log_path.read_text().splitlines())
                       if row["iteration"] <= int(ts.iteration)]
            log_path.write_text("".join(json.dumps(row) + "\n" for row in history))
    elif log_path.exists() or latest_checkpoint(out) is not None:
        raise FileExistsError(f"{out} already holds a run: pass --resume to continue it, or "
                              "another --out (nothing was overwritten)")
    (out / "config.json").write_text(json.dumps(config, indent=1))
    start = time.monotonic()
    step = jax.jit(agent.iteration).lower(ts).compile()
    if progress:
        print(f"compiled the training iteration in {time.monotonic() - start:.1f} s")
    bar = tqdm(total=run.iterations, initial=int(ts.iteration), disable=not progress,
               unit="it", dynamic_ncols=True)
    shown = {"ret": "-", "succ": "-", "plaus": "-"}  # last finished episodes' return, success
    wall = history[-1].get("wall_s", 0.0) if history else 0.0  # training seconds, resumes included
    while int(ts.iteration) < min(run.iterations, stop_at or run.iterations):
        tick = time.monotonic()
        ts, metrics = step(ts)
        jax.block_until_ready(metrics)
        seconds = time.monotonic() - tick
        if corrupt_at is not None and int(ts.iteration) == corrupt_at:
            ts = ts.replace(params=jax.tree.map(lambda x: x * jp.nan, ts.params))
        check_finite(ts, metrics)
        row = {k: (float(v) if np.isfinite(v) else None) for k, v in metrics.items()}
        wall += seconds
        row.update(iteration=int(ts.iteration), env_steps=int(ts.env_steps), wall_s=wall,
                   env_steps_per_s=ppo.num_envs * ppo.unroll_length / max(seconds, 1e-9))
        history.append(row)
        history = history[-10_000:]
        with log_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if row["episode_return"] is not None:
            shown.update(ret=f"{row['episode_return']:.2f}", succ=f"{row['success_rate']:.2f}",
                         plaus=f"{row['plausible_success_rate']:.2f}")
        bar.update(1)
        bar.set_postfix(shown, sps=f"{row['env_steps_per_s']:.0f}")
        if int(ts.iteration) % run.checkpoint_every == 0 or int(ts.iteration) == run.iterations:
            save(out, ts, config)
        elif stop_at is not None and int(ts.iteration) == stop_at:
            save(out, ts, config)
    bar.close()
    return agent, ts, history


def plot(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    done = [h for h in history if h["episode_return"] is not None]
    steps = [h["env_steps"] for h in done]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(steps, [h["episode_return"] for h in done], marker=".")
    axes[0].set(xlabel="env steps", ylabel="episode return")
    axes[1].plot(steps, [h["success_rate"] for h in done], marker=".", label="success")
    axes[1].plot(steps, [h["plausible_success_rate"] for h in done], marker=".",
                 label="plausible success")
    axes[1].set(xlabel="env steps", ylabel="rate", ylim=(-0.02, 1.02))
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _add_fields(p: argparse.ArgumentParser, cls, skip: tuple[str, ...]) -> None:
    """One --flag per dataclass field, typed by its default (None defaults: str or int)."""
    defaults = cls()
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        value = getattr(defaults, field.name)
        flag = f"--{field.name.replace('_', '-')}"
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value,
                           help=f"(default {value})")
            continue
        kind = type(value) if value is not None else (int if field.name.endswith("horizon") else str)
        p.add_argument(flag, type=kind, default=value, help=f"(default {value})")


def parse(argv=None) -> tuple[RunConfig, PPOConfig, BridgeConfig, argparse.Namespace]:
    gpu = jax.default_backend() == "gpu"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="zero", help=f"base policy: {' | '.join(BASES)} (default zero)")
    ppo_default = PPOConfig() if gpu else PPOConfig(**CPU_DEFAULTS)
    p.add_argument("--num-envs", type=int, default=ppo_default.num_envs,
                   help=f"parallel envs (default: {PPOConfig().num_envs} on a GPU, "
                        f"{CPU_DEFAULTS['num_envs']} on a CPU)")
    p.add_argument("--num-minibatches", type=int, default=ppo_default.num_minibatches,
                   help=f"minibatches per epoch (default: {PPOConfig().num_minibatches} on a GPU, "
                        f"{CPU_DEFAULTS['num_minibatches']} on a CPU)")
    p.add_argument("--iterations", type=int, default=GPU_ITERATIONS if gpu else CPU_ITERATIONS,
                   help=f"PPO iterations (default: {GPU_ITERATIONS} on a GPU, {CPU_ITERATIONS} on a CPU)")
    _add_fields(p, RunConfig, ("base", "iterations"))
    _add_fields(p, PPOConfig, ("num_envs", "num_minibatches", "hidden"))
    _add_fields(p.add_argument_group("torch / gr00t bases"), BridgeConfig, ())
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    args = p.parse_args(argv)
    if args.num_envs < 1:
        p.error(f"--num-envs must be >= 1, got {args.num_envs}")
    if not 1 <= args.num_minibatches <= args.num_envs * args.unroll_length:
        p.error(f"--num-minibatches must be in 1..num_envs x unroll_length "
                f"({args.num_envs * args.unroll_length}), got {args.num_minibatches}")
    run = RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)})
    ppo = PPOConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(PPOConfig)
                       if f.name != "hidden"})
    bridge = BridgeConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(BridgeConfig)})
    return run, ppo, bridge, args


def main(argv=None):
    run, ppo, bridge, args = parse(argv)
    if jax.default_backend() != "gpu":
        print(f"no GPU: a short CPU run ({ppo.num_envs} envs x {run.iterations} iterations); the "
              "return rises, but reaching the task needs a GPU (4096 envs, ~3 minutes)")
    agent, ts, history = train(run, ppo, resume=args.resume, bridge=bridge)
    out = Path(run.out)
    if history:
        plot(history, out / "learning_curve.png")
    result = evaluate_policy(agent, ts, run.eval_episodes)
    window = episode_window(run.episode_length, ppo.unroll_length)
    result["training_first_80_plausible"] = reach = first_reach(history, window)
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    for name in ("base_alone", "base_plus_residual"):
        r = result[name]
        (lo, hi), (plo, phi) = r["ci95"], r["plausible_ci95"]
        print(f"{name:>20}: success {r['success_rate']:.1%} (95% CI {lo:.1%}..{hi:.1%}), "
              f"plausible success {r['plausible_success_rate']:.1%} (95% CI {plo:.1%}..{phi:.1%}) "
              f"over {r['episodes']} episodes; arm depth max {r['arm_depth_max'] * 1e3:.1f} mm, "
              f"sheet lift max {r['paper_lift_max'] * 1e3:.1f} mm")
    print("training curve (plausible success over the last episode length of iterations): "
          + (f"first >= 80% at {reach['env_steps']} env steps, {reach['wall_s']:.0f} s of training"
             if reach else "never >= 80%"))
    print(f"logs, checkpoints and plots in {out}")


if __name__ == "__main__":
    main()
