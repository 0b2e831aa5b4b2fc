"""`python -m ppo.train`: residual PPO on paper_return, with checkpoints, logs and evaluation.

    python -m ppo.train --help
    python -m ppo.train                         # zero base; GPU: ~3 min to the task
    python -m ppo.train --base scripted:0.05 --out runs/noisy
    python -m ppo.train --out runs/ppo --resume # continue the run in runs/ppo
    python -m ppo.train --out runs/ppo --resume --iterations 300  # train it further

Defaults: the one-GPU settings of `PPOConfig` (4096 envs, 150 iterations = 9.8M env steps).
On a CPU: 32 envs, 8 minibatches, 100 iterations (~9 minutes on 2 cores): the whole pipeline
runs, but learning the task needs a GPU's batch (expect 0% success). Every value is checked before anything is created or compiled.

Writes to --out: metrics.jsonl (one JSON object per iteration), checkpoints/<iteration>/ (orbax:
params, optimiser state, normaliser, env state, RNG; each read back after writing; the --keep
newest kept), config.json, TensorBoard event files, learning_curve.png, eval.json (base alone vs
base + residual: success and plausible success with 95% CIs, of the kept checkpoint),
selection.json (--select-every: the best-checkpoint selection, below) and eval.mp4 (--video episodes of
that evaluation, top camera, with the step, success and plausibility flags).

Never worse than the base (`ppo.selection`): every --select-every iterations and at the last the
deterministic policy runs --select-episodes fixed-seed episodes (the base alone once at the
start, on the same ones); the best by plausible success (ties: higher mean return, then the
earlier) is kept: never pruned, evaluated in eval.json, exported by `make export CKPT=<run>`.
If none beats the base alone, the run says that the residual did not help, and the export of
the run dir refuses without --force. --select-every 0: off (the final checkpoint).

--resume continues from the newest checkpoint that loads (it names any it skips), bit-identical
to an uninterrupted run. Every setting comes from the run's config.json: `--resume --out DIR`
alone continues the run as it was started. Flags given with it may change only what does not
change what is trained (--iterations, --checkpoint-every, --keep, --eval-episodes, --video,
--devices, --select-every); any other given flag that differs from config.json is refused (exit 2). A larger
--iterations keeps the run's learning-rate schedule: the rate decays over the first run's
iterations, then stays at its final value.

Every field of the run's `ppo.config.TrainConfig` (run, PPO, env, bridge) is a flag. The envs
are split over all devices (--devices N: the first N); several hosts join with --coordinator,
--num-processes, --process-id (or JAX's environment variables, or SLURM): README "Scaling out".
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np

from bridge.base import check_bridge, check_spec, make_base, usage
from cmdline import OneLineParser, add_fields, flag_values, given_flags, read_fields
from mjx_env.config import validate as validate_env
from mjx_env.paper_return import PaperReturn
from mjx_env.wrappers import wrap_for_training
from ppo import checkpoint, distributed, selection, sharding
from ppo.agent import Agent, TrainState
from ppo.checkpoint import latest_checkpoint
from ppo.config import (CPU_DEFAULTS, GPU_SELECT, SECTIONS, PPOConfig, TrainConfig, from_json, to_json,
                        validate_ppo, with_values)
from ppo.progress import Progress
from ppo.report import report
from ppo.summaries import EventLog


GPU_ITERATIONS, CPU_ITERATIONS = 150, 100  # 9.8M env steps on a GPU; a few minutes on a CPU
REFRESH_RULES = (None, "per_env", "sync")
# RunConfig fields a resumed run may change: they do not change what is trained.
RESUMABLE = ("iterations", "out", "checkpoint_every", "keep", "eval_episodes", "video", "devices",
             "select_every")


class NonFiniteError(FloatingPointError):
    pass


def validate(cfg: TrainConfig) -> TrainConfig:
    """`cfg`, or ValueError naming the first bad value, before anything is built or compiled:
    PPO's and the run's counts in range, the env fields, the base spec (its module imported, its
    files present) and the bridge fields for that base, the envs against the devices."""
    run = cfg.run
    validate_ppo(cfg.ppo)
    rules = [("iterations", run.iterations >= 1, ">= 1"),
             ("checkpoint_every", run.checkpoint_every >= 1, ">= 1"), ("keep", run.keep >= 1, ">= 1"),
             ("eval_episodes", run.eval_episodes >= 1, ">= 1"),
             ("select_every", run.select_every >= 0, ">= 0 (0: no selection)"),
             ("select_episodes", run.select_episodes >= 1, ">= 1"),
             ("video", 0 <= run.video <= run.eval_episodes, "in 0..eval_episodes"),
             ("base_horizon", run.base_horizon is None or run.base_horizon >= 1, ">= 1"),
             ("base_refresh", run.base_refresh in REFRESH_RULES, f"one of {REFRESH_RULES[1:]}")]
    for name, ok, what in rules:
        if not ok:
            raise ValueError(f"{name} must be {what}, got {getattr(run, name)!r}")
    validate_env(cfg.env)
    check_spec(run.base)
    check_bridge(run.base, cfg.bridge)
    sharding.check_batch(cfg.ppo.num_envs, sharding.make_mesh(run.devices).size)
    return cfg


def build(cfg: TrainConfig, copies: int = 1, schedule: int | None = None):
    """The env and agent of a run; `copies`: runs vmapped side by side (seeds), for MuJoCo
    Warp's shared buffers; `schedule`: the learning-rate schedule's length in iterations
    (default `run.iterations`)."""
    run = cfg.run
    env = PaperReturn(cfg.env).vmapped(copies)
    base = make_base(run.base, env, run.base_horizon, run.base_refresh, cfg.bridge)
    agent = Agent(env, wrap_for_training(env), base, cfg.ppo, schedule or run.iterations)
    return env, agent


def make_train(cfg: TrainConfig, copies: int = 1):
    """(agent, train): `train(rng, hp=None) -> (final TrainState, metrics)` runs the whole
    training (`run.iterations` iterations, a `lax.scan`) as one pure function; metrics are
    (iterations,) arrays. `jax.vmap(train)` over keys (and `hp`, see `ppo.agent.hparams`) runs
    `copies` trainings side by side inside one jit, purejaxrl-style."""
    env, agent = build(cfg, copies)

    def train_fn(rng: jax.Array, hp: dict | None = None):
        ts = agent.init(rng, hp)
        return jax.lax.scan(lambda t, _: agent.iteration(t), ts, None, cfg.run.iterations)

    return agent, train_fn


# NaN when no episode ended in an iteration: not an error
EPISODE_METRICS = ("episode_return", "success_rate", "plausible_success_rate", "implausible_episode_rate")


def resume_command(out) -> str:
    """The command line that continues the run in `out` (every setting from its config.json)."""
    return f"python -m ppo.train --resume --out {shlex.quote(str(out))}"


def saved_config(out: Path) -> tuple[dict, Path]:
    """(config dict, its path) of the run in `out`: its config.json or, if that is missing or
    unreadable, the newest checkpoint's copy. FileNotFoundError (one line) if `out` holds no
    checkpoint (nothing to resume) or no readable config."""
    out = Path(out)
    if latest_checkpoint(out) is None:
        raise FileNotFoundError(f"--resume: {out} holds no run to resume (no checkpoint under "
                                f"{out / 'checkpoints'}); start one without --resume")
    for path in (out / "config.json", *(c / "config.json" for c in checkpoint.checkpoints(out))):
        try:
            return json.loads(path.read_text()), path
        except (OSError, ValueError):
            continue
    raise FileNotFoundError(f"--resume: no readable config.json in {out} or its checkpoints")


def _normalised(saved: dict, where: Path) -> dict:
    """`saved` as this code writes it (an older file's moved fields and missing sections filled);
    ValueError if it does not fit this code's config."""
    try:
        return json.loads(json.dumps(to_json(from_json(saved)), default=str))
    except (TypeError, KeyError, ValueError) as e:
        raise ValueError(f"--resume: {where} does not fit this code's settings "
                         f"({type(e).__name__}: {e})") from None


def _check_same_config(saved: dict, config: dict, where: Path) -> None:
    """Refuse to resume a run with other settings (the checkpoint would not fit or not mean the
    same); only the `RESUMABLE` fields may change."""
    saved = _normalised(saved, where)
    diff = [f"{section}.{k}: {saved[section].get(k)!r} -> {v!r}"
            for section in SECTIONS for k, v in config[section].items()
            if saved[section].get(k) != v and not (section == "run" and k in RESUMABLE)]
    if diff:
        raise ValueError(f"--resume with settings that differ from {where}: {'; '.join(diff)}")


def check_finite(ts: TrainState, metrics: dict, base_name: str = "base") -> None:
    """NonFiniteError if the base returned NaN/inf (named as the cause) or any metric or
    parameter is not finite."""
    it = int(ts.iteration)
    if (n := int(metrics.get("nan_base", 0))) > 0:
        raise NonFiniteError(f"the base policy {base_name!r} returned non-finite joint targets in "
                             f"{n} env steps of iteration {it}: training stopped, the last "
                             "checkpoint is untouched (check the base, not the residual)")
    bad = [k for k, v in metrics.items()
           if k not in EPISODE_METRICS and not np.isfinite(np.asarray(v)).all()]
    if not all(bool(jp.isfinite(x).all()) for x in jax.tree.leaves(ts.params)):
        bad.append("params")
    if bad:
        raise NonFiniteError(f"non-finite {', '.join(bad)} at iteration {it}; "
                             "training stopped, the last checkpoint is untouched")


def start(cfg: TrainConfig, resume: bool, log=print):
    """(agent, state, config, history) of a new run, or of the resumed one in `run.out`
    (newest loadable checkpoint, its learning-rate schedule, the log cut back to it)."""
    run = cfg.run
    out = Path(run.out)
    if not resume and ((out / "metrics.jsonl").exists() or latest_checkpoint(out) is not None):
        raise FileExistsError(f"{out} already holds a run (nothing was overwritten): continue it "
                              f"with {resume_command(out)}, or pass another --out")
    saved = saved_config(out)[0] if resume else None
    schedule = (saved.get("schedule") or {}).get("lr_decay_iterations", saved["run"]["iterations"]) \
        if saved else run.iterations
    config = {**to_json(cfg), "schedule": {"lr_decay_iterations": schedule},
              "distributed": {"processes": jax.process_count()}}
    config = json.loads(json.dumps(config, default=str))
    if saved:
        _check_same_config(saved, config, saved_config(out)[1])  # before anything compiles
        was = saved.get("distributed", {}).get("processes", 1)
        if was != jax.process_count():
            raise ValueError(f"--resume: {out} was trained by {was} process(es), this run has "
                             f"{jax.process_count()}: resume with {was} (the checkpoint's envs are "
                             "split over that many hosts)")
    # JAX lowers a program differently once its trace caches are warm (shared helpers such as
    # `_where` get extra private copies), so a second run in one process would miss the
    # persistent compilation cache on the very programs the first one compiled. Cleared, every
    # run traces exactly what a fresh process traces: a resumed or repeated run (a sweep, a
    # notebook, the test suite) loads its programs instead of compiling them again.
    jax.clear_caches()
    _, agent = build(cfg, schedule=schedule)
    mesh = sharding.make_mesh(run.devices)
    sharding.check_batch(cfg.ppo.num_envs, mesh.size)
    note = sharding.unsplit_physics(agent.env.impl, mesh.size, cfg.ppo.num_envs)
    if note:
        log(note)
    agent.rollout_base = sharding.per_shard_base(agent.base, mesh)
    agent.env_keys_sharding = sharding.split_envs(mesh)
    key = np.asarray(jax.random.PRNGKey(run.seed))  # a host value: it fits any mesh
    # One function object for both: the jit reuses eval_shape's trace (~4 s of tracing the env's
    # reset on a CPU); `agent.init` read twice would be two bound methods, traced twice.
    init_fn = agent.init
    agent.shardings = sharding.state_sharding(jax.eval_shape(init_fn, key), mesh)
    init = jax.jit(init_fn, out_shardings=agent.shardings).lower(key).compile()
    distributed.barrier("init compiled")
    ts = init(key)
    history: list[dict] = []
    if saved:
        ts, _ = checkpoint.restore_latest(out, ts, log)
        if int(ts.iteration) >= run.iterations:
            raise ValueError(f"--resume: {out} is at iteration {int(ts.iteration)} already; pass "
                             f"--iterations > {int(ts.iteration)} to train further (the learning "
                             f"rate stays at its final value after the {schedule}-iteration schedule)")
        log_path = out / "metrics.jsonl"
        if log_path.exists() and distributed.is_main():  # rows after the checkpoint are redone
            history = [row for row in map(json.loads, log_path.read_text().splitlines())
                       if row["iteration"] <= int(ts.iteration)]
            log_path.write_text("".join(json.dumps(row) + "\n" for row in history))
    return agent, ts, config, history


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True
          ) -> tuple[Agent, TrainState, list[dict]]:
    """Train; returns the agent, final state and per-iteration metrics (also in
    `run.out`/metrics.jsonl). Checkpoints every `run.checkpoint_every` iterations and at the
    end, each verified, the `run.keep` newest kept. In a multi-process run every process
    calls this; process 0 alone logs and writes files other than the checkpoints."""
    main = distributed.is_main()
    log = print if progress and main else (lambda *_: None)
    agent, ts, config, history = start(cfg, resume, log)
    run, ppo = cfg.run, cfg.ppo
    out = Path(run.out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=1))
    tick = time.monotonic()
    rep = sharding.replicated(agent.shardings.rng.mesh)
    step = jax.jit(agent.iteration, in_shardings=(agent.shardings,),
                   out_shardings=(agent.shardings, rep)).lower(ts).compile()
    log(f"compiled the training iteration in {time.monotonic() - tick:.1f} s "
        f"({agent.shardings.rng.mesh.size} device(s), {jax.process_count()} process(es))")
    distributed.barrier("iteration compiled")
    # Several processes: each would have to run the selection's episodes in step with the
    # others (only process 0 evaluates today), so selection is off there and said so.
    select = selection.Selector(agent, run, out, int(ts.iteration), resume, main, log) \
        if run.select_every and jax.process_count() == 1 else None
    if run.select_every and not select and main:
        log("selection: off in a multi-process run (eval.json uses the final checkpoint)")
    if select:
        select.start(ts)
    bar = Progress(run.iterations, int(ts.iteration), enabled=progress and main, history=history)
    events = EventLog(out, resume_step=int(ts.env_steps) + 1 if resume else None) if main else None
    wall = history[-1].get("wall_s", 0.0) if history else 0.0  # training seconds, resumes included
    try:
        while int(ts.iteration) < run.iterations:
            tick = time.monotonic()
            ts, metrics = step(ts)
            jax.block_until_ready(metrics)
            seconds = time.monotonic() - tick
            check_finite(ts, metrics, agent.base.name)
            row = {k: (float(v) if np.isfinite(v) else None) for k, v in metrics.items()}
            wall += seconds
            row.update(iteration=int(ts.iteration), env_steps=int(ts.env_steps), wall_s=wall,
                       env_steps_per_s=ppo.num_envs * ppo.unroll_length / max(seconds, 1e-9))
            it = int(ts.iteration)
            selecting = bool(select) and select.due(it)
            if selecting and main:  # the deterministic policy on the selection episodes
                row.update(select.evaluate(ts))
            history = (history + [row])[-10_000:]
            if main:
                with (out / "metrics.jsonl").open("a") as f:
                    f.write(json.dumps(row) + "\n")
                events.scalars(row)
                bar.update(row)
            if it % run.checkpoint_every == 0 or it == run.iterations or selecting:
                checkpoint.save(out, ts, config)
                if main:
                    if selecting:
                        select.save()  # after its checkpoint: it never names a missing one
                    checkpoint.prune(out, run.keep, protect=[select.kept()] if select else [])
    finally:
        bar.close()
        if events:
            events.close()
    return agent, ts, history


def _add_cluster_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("several processes (hosts): every process runs the same command "
                             "(README \"Scaling out\"); else JAX_COORDINATOR_ADDRESS, "
                             "JAX_NUM_PROCESSES, JAX_PROCESS_ID, or a SLURM job step")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="process 0's address for jax.distributed")
    g.add_argument("--num-processes", type=int, default=None)
    g.add_argument("--process-id", type=int, default=None)


def cluster(argv=None) -> distributed.Cluster | None:
    """The multi-process cluster of this command line (`ppo.distributed.resolve`), read before
    the backend starts; a bad description exits 2 with one line."""
    p = OneLineParser(prog="python -m ppo.train", add_help=False)
    _add_cluster_flags(p)
    args, _ = p.parse_known_args(argv)
    try:
        return distributed.resolve(distributed.Cluster(args.coordinator, args.num_processes,
                                                       args.process_id))
    except ValueError as e:
        p.error(str(e))


def _parser() -> OneLineParser:
    """The command line: one flag per field of TrainConfig's four sections (`ppo.config`),
    defaults for this device."""
    gpu = jax.default_backend() == "gpu"
    p = OneLineParser(prog="python -m ppo.train", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    cpu_values = {**CPU_DEFAULTS, "iterations": CPU_ITERATIONS,
                  **{k: getattr(TrainConfig().run, k) for k in GPU_SELECT}}
    here = {"iterations": GPU_ITERATIONS, **GPU_SELECT} if gpu else {**CPU_DEFAULTS, "iterations": CPU_ITERATIONS}
    defaults = with_values(TrainConfig(), **here)
    gpu_values = {"num_envs": PPOConfig().num_envs, "num_minibatches": PPOConfig().num_minibatches,
                  "iterations": GPU_ITERATIONS, **GPU_SELECT}
    per_device = {k: f"{v} on a GPU, {cpu_values[k]} on a CPU;" for k, v in gpu_values.items()}
    notes = {"base": f"base policy: {usage()} (gr00t alone: --random-weights)", **per_device,
             "base_horizon": "control steps per base chunk (None: scripted 1, models 16)",
             "base_refresh": "chunk cache rule, per_env | sync (None: models sync)",
             "devices": "devices to split the envs over (None: all, every process's)",
             "select_every": f"{per_device['select_every']} evaluate every N iterations and at the last, "
                             "keep the best (0: off; ppo.selection)",
             "select_episodes": f"{per_device['select_episodes']} fixed-seed episodes per selection "
                                "evaluation (the base alone once on the same)",
             "alpha": "residual weight: target = base + alpha x scale x residual",
             "base_filter": "the residual layer's setpoint filter for a jittery base: an active "
                            "base's target enters the law as last + k (base - last) (1: off; "
                            "the base alone never; docs/bases.md)",
             "action_scale": "rad per unit residual, an offset from an active base's target",
             "hold_action_scale": "rad per unit residual and step, zero base (no active base)"}
    titles = {"run": "the run (ppo.config.RunConfig)", "ppo": "PPO (ppo.config.PPOConfig)",
              "env": "the env (mjx_env.config.EnvConfig; --randomization-*: its randomisation)",
              "bridge": "torch / GR00T bases (bridge.units.BridgeConfig)"}
    for section in SECTIONS:
        add_fields(p.add_argument_group(titles[section]), getattr(defaults, section), notes=notes)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint, every setting from "
                        f"its config.json (given flags may change only {_resumable_flags()})")
    _add_cluster_flags(p)
    return p


def _config(p: OneLineParser, args: argparse.Namespace) -> TrainConfig:
    try:
        return validate(TrainConfig(**{s: read_fields(args, type(getattr(TrainConfig(), s)))
                                       for s in SECTIONS}))
    except (ValueError, TypeError) as e:  # one line, exit 2, before any directory or compilation
        p.error(str(e))


def parse(argv=None) -> tuple[TrainConfig, argparse.Namespace]:
    """The run's TrainConfig from the command line, defaults for this device; a bad value exits
    2 with one line, before any directory exists or anything compiles. With --resume the run's
    own settings come from `resume_config` (main calls it next)."""
    p = _parser()
    args = p.parse_args(argv)
    return _config(p, args), args


def resume_config(argv=None) -> TrainConfig:
    """--resume: the TrainConfig of the run in --out (its config.json) with the flags given on
    this command line applied; exits 2 in one line, before anything compiles, if --out holds no
    run or a given flag changes what may not change (`_resume_args`)."""
    p = _parser()
    args = _resume_args(p, argv, p.parse_args(argv))
    return _config(p, args)


def _flags(names) -> list[str]:
    return [f"--{n.replace('_', '-')}" for n in names]


def _resumable_flags() -> str:
    return ", ".join(_flags(n for n in RESUMABLE if n != "out"))


def _resume_args(p: argparse.ArgumentParser, argv, args: argparse.Namespace) -> argparse.Namespace:
    """--resume: the command line read again with the run's config.json as the flags' defaults,
    so every setting not given here is the run's. A given flag that differs from config.json
    and is not `RESUMABLE` (it would change what the checkpoint holds or means) exits 2 in one
    line, as does a directory without a run."""
    out = Path(args.out)
    try:
        saved, path = saved_config(out)
        cfg = from_json(_normalised(saved, path))
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    values = {k: v for s in SECTIONS for k, v in flag_values(getattr(cfg, s)).items() if k != "out"}
    given = given_flags(p, argv)
    p.set_defaults(**values)
    args = p.parse_args(argv)
    norm = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
    changed = [f"{_flags([k])[0]} {norm(getattr(args, k))!r} (the run has {values[k]!r})"
               for k in sorted(given & values.keys())
               if norm(getattr(args, k)) != values[k] and k not in RESUMABLE]
    if changed:
        p.error(f"--resume: {'; '.join(changed)}: the run in {out} was trained with the settings "
                f"of {path}; only {_resumable_flags()} may change (drop the other flags)")
    return args


def main(argv=None):
    distributed.initialize(cluster(argv))  # before anything touches a device (parse does)
    cfg, args = parse(argv)
    if args.resume:
        cfg = resume_config(argv)
    run = cfg.run
    if jax.default_backend() != "gpu" and distributed.is_main():
        print(f"no GPU: a short CPU run ({cfg.ppo.num_envs} envs x {run.iterations} iterations); "
              "it runs the whole pipeline, but learning the task needs a GPU (4096 envs, ~3 minutes)")
    try:
        agent, ts, history = train(cfg, resume=args.resume)
    except (FileExistsError, FileNotFoundError, ValueError) as e:  # the run as asked cannot start
        print(f"python -m ppo.train: error: {e}", file=sys.stderr)  # a bad value: one line, exit 2
        raise SystemExit(2) from None
    except (NonFiniteError, checkpoint.CheckpointError) as e:
        raise SystemExit(f"python -m ppo.train: stopped: {e}") from None
    except KeyboardInterrupt:
        last = latest_checkpoint(Path(run.out))
        if last is None:
            raise SystemExit(f"python -m ppo.train: interrupted before the first checkpoint of "
                             f"{run.out}: nothing to resume (start again with another --out)") from None
        every = " (in every process, with its cluster flags)" if jax.process_count() > 1 else ""
        raise SystemExit(f"python -m ppo.train: interrupted; the last checkpoint is {last}: "
                         f"continue with: {resume_command(run.out)}{every}") from None
    if distributed.is_main():
        report(agent, ts, history, cfg)


if __name__ == "__main__":
    main()
