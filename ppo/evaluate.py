"""Fixed-seed success of a base policy, alone and with a residual, through the chunk cache.

Episodes run in rounds of `batch` side by side (default: all at once); episode i uses key i of `jax.random.split(PRNGKey(seed), episodes)`, as
`mjx_env.rollout.evaluate` does, so both give the same episodes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jp
import numpy as np

from bridge import chunk_cache
from bridge.base import BasePolicy, check_bridge, make_base
from cmdline import OneLineParser
from mjx_env.paper_return import PaperReturn, set_base
from mjx_env.rollout import TRACE_KEYS, episode_implausible, plausibility_summary, rate_with_ci
from policy import exported as policy
from ppo import export
from ppo.progress import Episodes


def _segment_length(length: int, updates: int = 30) -> int:
    """Control steps per compiled segment: the largest divisor of `length` that is at most
    `length // updates` (at least 1), so an episode is whole segments and about `updates`
    progress updates."""
    most = max(1, length // updates)
    return max(d for d in range(1, most + 1) if length % d == 0)


def _rollout(env, base: BasePolicy, b: int, residual: Callable | None):
    """(start, segment, steps), not jitted: `start(round_keys (b, 2)) -> carry` resets one round
    of `b` episodes side by side; `segment(params, on, carry) -> (carry, trace)` runs the next
    `steps` control steps (trace: {key: (steps, b)}). The residual is
    `on x residual(params, obs, base_action)` (None: zeros), so `on = 0` runs the base alone
    through the same program. The episode runs as segments, the host between them, so progress
    needs no callback inside the program: a program with a host callback never hits JAX's
    persistent compilation cache (the callback is part of its key)."""
    steps = _segment_length(env.config.episode_length)

    def one_step(params, on, carry, _):
        state, cache, alive, length, ret, success = carry
        cache, base_action = chunk_cache.next_action(cache, base, state)
        state = set_base(state, base_action, base.active)
        act = jp.zeros((b, 6)) if residual is None else on * residual(params, state.obs, base_action)
        state = env.step(state, act)
        ret = ret + alive * state.reward
        success = success | (alive & (state.metrics["success"] > 0))
        length = length + alive.astype(jp.int32)
        trace = {k: jp.where(alive, state.metrics[k], jp.nan) for k in TRACE_KEYS}
        alive = alive & (state.done == 0)
        return (state, cache, alive, length, ret, success), trace

    def start(round_keys):
        return (env.reset(round_keys), chunk_cache.init(b, base.horizon), jp.ones(b, bool),
                jp.zeros(b, jp.int32), jp.zeros(b), jp.zeros(b, bool))

    def segment(params, on, carry):
        return jax.lax.scan(lambda c, t: one_step(params, on, c, t), carry, None, steps)

    return start, segment, steps


def _episode_keys(seed: int, episodes: int, b: int) -> jax.Array:
    """Key i of split(PRNGKey(seed), episodes) for episode i, padded with the last one to whole
    rounds of `b`."""
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    rounds = -(-episodes // b)
    return jp.concatenate([keys, jp.repeat(keys[-1:], rounds * b - episodes, axis=0)])


def _gather(results: list, episodes: int) -> dict[str, np.ndarray]:
    """The rounds' outputs as `evaluate_base`'s dict (padding dropped)."""
    cat = lambda j: np.concatenate([np.asarray(r[j]) for r in results])[:episodes]  # noqa: E731
    trace = {k: np.concatenate([np.asarray(r[4][k]) for r in results])[:episodes] for k in TRACE_KEYS}
    success = cat(0)
    return {"success": success, "plausible_success": success & ~episode_implausible(trace),
            "steps": cat(1), "episode_return": cat(2), "trace": trace,
            "base_calls": sum(int(r[3]) for r in results)}


def evaluate_base(env, base: BasePolicy, episodes: int, seed: int = 0,
                  residual: Callable | None = None, batch: int | None = None,
                  progress: str | None = None) -> dict[str, np.ndarray]:
    """`residual(obs (B, 25), base_action (B, 6)) -> (B, 6)` in [-1, 1], None = zeros; `batch`
    episodes side by side (default: all). Returns (episodes,) arrays: success (bool),
    plausible_success (bool), steps, episode_return; `trace` (per-step plausibility metrics,
    (episodes, T), NaN after the episode ended) and `base_calls` (batched). `progress`: a label;
    then lines `<label>: <done>/<episodes> episodes done, step s/L, <elapsed>` are printed while
    the episodes run (`ppo.progress.Episodes`; None: silent)."""
    fn = None if residual is None else (lambda params, obs, base_action: residual(obs, base_action))
    run = SeededEvaluation(env, base, fn, min(batch or episodes, episodes))
    return run(None, episodes, seed, progress=progress)


class SeededEvaluation:
    """`evaluate_base`'s fixed-seed episodes, in rounds of `batch` side by side, compiled once
    for many parameter sets of one residual (the params are an argument of the programs, not
    constants baked into them): `self(params, episodes, seed)` runs the base +
    `residual(params, obs, base_action)`, `on=0.0` the base alone (the residual times 0: the same
    program and episodes). Returns `evaluate_base`'s dict."""

    def __init__(self, env, base: BasePolicy, residual: Callable | None, batch: int):
        self.b, self.length = batch, env.config.episode_length
        start, segment, self.steps = _rollout(env, base, batch, residual)
        self.start, self.segment = jax.jit(start), jax.jit(segment)

    def _round(self, keys, params, on, shown, ended: int, real: int):
        """One round's (success, length, return, base calls, trace {key: (b, T)}); `shown`:
        the progress line (None: silent), told after each segment."""
        carry, traces = self.start(keys), []
        for done in range(self.steps, self.length + 1, self.steps):
            carry, trace = self.segment(params, on, carry)
            traces.append(trace)
            if shown is not None:
                shown.update(ended + int((~np.asarray(carry[2])[:real]).sum()), done)
        _, cache, _, length, ret, success = carry
        trace = {k: np.concatenate([np.asarray(t[k]) for t in traces]).T for k in TRACE_KEYS}
        return success, length, ret, cache.calls, trace

    def __call__(self, params, episodes: int, seed: int, on: float = 1.0,
                 progress: str | None = None) -> dict[str, np.ndarray]:
        keys, b = _episode_keys(seed, episodes, self.b), self.b
        shown = None if progress is None else Episodes(progress, episodes, self.length)
        results = []
        for i in range(-(-episodes // b)):
            results.append(self._round(keys[i * b:(i + 1) * b], params, jp.float32(on), shown,
                                       ended=i * b, real=min(b, episodes - i * b)))
        if shown is not None:
            shown.finish()
        return _gather(results, episodes)


def agent_evaluation(agent, batch: int) -> SeededEvaluation:
    """The agent's deterministic policy (params = (params, stats)) in rounds of `batch`: one
    compiled program per agent and batch, shared by the selection (`ppo.selection`) and the
    final evaluation (`evaluate_policy`)."""
    programs = agent.__dict__.setdefault("_evaluations", {})
    if batch not in programs:
        def residual(params, obs, base_action):
            return agent.deterministic_residual(params[0], params[1], obs, base_action)
        programs[batch] = SeededEvaluation(agent.env, agent.base, residual, batch)
    return programs[batch]


def summary(result: dict) -> dict:
    """Success and plausible success with 95% Wilson CIs, mean return, plausibility max / p95."""
    success, plausible = rate_with_ci(result["success"]), rate_with_ci(result["plausible_success"])
    return {"success_rate": success["rate"], "ci95": success["ci95"],
            "plausible_success_rate": plausible["rate"], "plausible_ci95": plausible["ci95"],
            "episodes": success["episodes"], "mean_return": float(result["episode_return"].mean()),
            **plausibility_summary(result["trace"])}


def episode_window(episode_length: int, unroll_length: int) -> int:
    """Iterations per episode length: the window of `windowed_rate`."""
    return -(-episode_length // unroll_length)


def windowed_rate(rates: np.ndarray, episodes: np.ndarray, window: int) -> np.ndarray:
    """(..., iterations) per-iteration rates over the episodes that ended in each iteration (NaN
    where none did) -> the rate over all episodes that ended in the last `window` iterations
    (one episode length: time-outs end in waves, so one iteration alone swings between 0 and
    1). NaN until a whole window has passed: before that only the episodes that ended early
    (successes, mostly) are counted, which flatters the start; 0 where none ended."""
    rates, episodes = np.asarray(rates, float), np.asarray(episodes, float)
    hits = np.cumsum(np.nan_to_num(rates) * episodes, axis=-1)
    count = np.cumsum(episodes, axis=-1)

    def lag(a):  # a shifted right by `window` along the last axis, zeros in front
        return np.concatenate([np.zeros_like(a[..., :window]), a], axis=-1)[..., :a.shape[-1]]

    n = count - lag(count)
    out = np.where(n > 0, (hits - lag(hits)) / np.maximum(n, 1), 0.0)
    out[..., :window - 1] = np.nan
    return out


TARGET = 0.8  # the plausible success rate whose first crossing the reports time
EVAL_SEED = 1234  # episode i of an evaluation starts from key i of split(PRNGKey(EVAL_SEED), n)


def first_crossing(rate, target: float = TARGET) -> int | None:
    """Index of the first entry of `rate` (..., NaN counts as below) that is >= target, or None."""
    hit = np.flatnonzero(np.nan_to_num(np.asarray(rate, float), nan=0.0) >= target)
    return int(hit[0]) if len(hit) else None


def first_reach(history: list[dict], window: int, target: float = TARGET) -> dict | None:
    """The first logged iteration whose windowed training plausible success is >= target:
    {iteration, env_steps, wall_s} (wall_s: training seconds, compilation excluded), or None."""
    if not history:
        return None
    rate = windowed_rate([h["plausible_success_rate"] if h["plausible_success_rate"] is not None
                          else np.nan for h in history], [h["episodes"] for h in history], window)
    i = first_crossing(rate, target)
    if i is None:
        return None
    h = history[i]
    return {"iteration": h["iteration"], "env_steps": h["env_steps"], "wall_s": h.get("wall_s"),
            "target": target}


def evaluate_policy(agent, ts, episodes: int, seed: int = EVAL_SEED, batch: int | None = None,
                    progress: bool = False) -> dict:
    """Success of the base alone (zero residual) and base + the deterministic residual,
    `batch` episodes side by side (default: all); `progress`: print how far each has come.
    Both run through one compiled program (`agent_evaluation`)."""
    run = agent_evaluation(agent, min(batch or episodes, episodes))
    params = jax.device_get((ts.params, ts.stats))
    label = lambda name: f"evaluation ({name.replace('_plus_', ' + ').replace('_', ' ')})"  # noqa: E731
    return {name: summary(run(params, episodes, seed, on, label(name) if progress else None))
            for name, on in (("base_alone", 0.0), ("base_plus_residual", 1.0))}


# --- `python -m ppo.evaluate <run | checkpoint | export>` ------------------------------------
CLI_DOC = """`python -m ppo.evaluate <run dir | checkpoint dir | export dir>`: fixed-seed evaluation.

    python -m ppo.evaluate runs/ppo                       # a run dir: its kept checkpoint
    python -m ppo.evaluate exports/zero_cpu-150 --video 2 --out eval.json

Runs --episodes episodes of the policy (the run's base plus the deterministic residual,
tanh of the actor's mean) on the run's env config; episode i starts from key i of
jax.random.split(PRNGKey(--seed), --episodes), so a rerun gives the same numbers. Prints success
and plausible success with 95% Wilson CIs, mean return, mean episode length and the plausibility
maxima and 95th percentiles; --out also writes them as JSON, --video N an MP4 of the first N
episodes (top camera, with step, success and plausibility flags).
"""
CPU_EVAL_ENVS = 16  # episodes side by side on a CPU (on a GPU: all of them at once)


def parse(argv=None) -> argparse.Namespace:
    """The CLI's arguments; a bad one exits 2 with a one-line message, before anything compiles.
    Adds `kind` ("export" or "checkpoint") and `source` (the export or checkpoint dir)."""
    p = OneLineParser(prog="python -m ppo.evaluate", description=CLI_DOC,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="a run dir (its kept checkpoint: selection.json, else the latest), a checkpoint dir "
                                "(<run>/checkpoints/<iteration>) or an export dir (manifest.json)")
    p.add_argument("--episodes", type=int, default=64, help="episodes (default 64)")
    p.add_argument("--seed", type=int, default=EVAL_SEED,
                   help=f"episode seed (default {EVAL_SEED}: the episodes of the run's eval.json)")
    p.add_argument("--num-envs", type=int, default=None,
                   help=f"episodes side by side (default: all on a GPU, {CPU_EVAL_ENVS} on a CPU)")
    p.add_argument("--impl", choices=("jax", "warp"), default=None,
                   help="MJX backend (default: the run's, else the faster on this device)")
    p.add_argument("--video", type=int, default=0, metavar="N",
                   help="also write an MP4 of the first N episodes (default 0: none)")
    p.add_argument("--video-out", default=None, metavar="FILE.mp4",
                   help="the MP4 (default: --out with .mp4, else eval-<name>.mp4 here)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.num_envs is not None and args.num_envs < 1:
        p.error(f"--num-envs must be >= 1, got {args.num_envs}")
    if not 0 <= args.video <= args.episodes:
        p.error(f"--video must be in 0..--episodes ({args.episodes}), got {args.video}")
    try:
        args.kind, args.source = _input_kind(Path(args.path))
    except ValueError as e:
        p.error(str(e))
    return args


def _input_kind(path: Path) -> tuple[str, Path]:
    """("export", dir) for a dir with manifest.json, ("checkpoint", dir) for a run or checkpoint
    dir; ValueError (one line) otherwise."""

    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory: expected a run, checkpoint or export dir")
    if (path / "manifest.json").is_file():
        return "export", path.resolve()
    try:
        return "checkpoint", export.find_checkpoint(path)
    except ValueError:  # policy.exported.ExportError
        raise ValueError(f"{path} is not a run dir (checkpoints/<iteration>), a checkpoint dir or "
                         "an export dir (manifest.json)") from None


def actor_residual(actor: dict, stats, hidden, base_active: float) -> Callable:
    """`residual(obs (B, 25), base_action (B, 6) rad) -> (B, 6)` in (-1, 1): tanh of the actor's
    mean on the normalised [obs, base_action * base_active] (the deterministic policy)."""
    def residual(obs, base_action):
        return policy.residual(actor, stats, obs, base_action * base_active, hidden=tuple(hidden))

    return residual


def load_policy(kind: str, source: Path) -> tuple[dict, dict, tuple[int, ...]]:
    """(training config.json, {"actor", "stats"}, hidden) of an export or a checkpoint."""
    if kind == "export":
        pol = policy.load(source)
        return pol.manifest["training_config"], {"actor": pol.actor, "stats": pol.stats}, pol.hidden
    config = json.loads(export.config_path(source).read_text())
    ppo = export.configs(config).ppo
    params, stats = export.restore_params(source, ppo)
    actor = export.saved_tree(params, stats, ppo.hidden)["actor"]  # the export's actor layers
    return config, {"actor": actor, "stats": stats}, tuple(ppo.hidden)


def build(config: dict, impl: str | None):
    """(env, base) of a run's training config: its EnvConfig with `impl` (None: the run's), and
    its base policy."""
    cfg = export.configs(config)
    run = cfg.run
    env = PaperReturn(dataclasses.replace(cfg.env, impl=impl or cfg.env.impl))
    check_bridge(run.base, cfg.bridge)  # one-line error before compiling
    return env, make_base(run.base, env, run.base_horizon, run.base_refresh, config=cfg.bridge)


def report(result: dict, summ: dict, env_config) -> dict:
    """The CLI's results: `summary` plus mean episode length (steps and s), the env's deploy
    stop threshold `max_target_gap` (rad) and arm-table force limit `max_table_force` (N)."""
    steps = float(np.mean(result["steps"]))
    return {**summ, "mean_episode_steps": steps, "mean_episode_s": steps * env_config.ctrl_dt,
            "max_target_gap": env_config.max_target_gap,
            "max_table_force": env_config.max_table_force}


def format_report(r: dict) -> str:
    """Human-readable lines of `report`'s dict (rates in %, lengths in mm, speeds in m/s)."""
    (lo, hi), (plo, phi) = r["ci95"], r["plausible_ci95"]
    mm = lambda k: f"{r[f'{k}_max'] * 1e3:.1f} / {r[f'{k}_p95'] * 1e3:.1f} mm"  # noqa: E731
    return "\n".join([
        f"  success            {r['success_rate']:6.1%}  (95% CI {lo:.1%}..{hi:.1%})",
        f"  plausible success  {r['plausible_success_rate']:6.1%}  (95% CI {plo:.1%}..{phi:.1%})",
        f"  mean return        {r['mean_return']:.3f}",
        f"  mean length        {r['mean_episode_steps']:.1f} steps ({r['mean_episode_s']:.2f} s)",
        f"  arm depth          {mm('arm_depth')} (max / p95)",
        f"  arm-table force    {r['arm_table_force_max']:.1f} / {r['arm_table_force_p95']:.1f} N "
        f"(max / p95; implausible above {r['max_table_force']:.0f})",
        f"  sheet lift         {mm('paper_lift')} (max / p95)",
        f"  sheet speed        {r['paper_speed_max']:.3f} / {r['paper_speed_p95']:.3f} m/s (max / p95)",
        f"  target gap         {np.degrees(r['target_gap_max']):.1f} / {np.degrees(r['target_gap_p95']):.1f} deg "
        f"(max / p95; deploy stops above {np.degrees(r['max_target_gap']):.0f})",
        f"  implausible        {r['implausible_episodes']:.1%} of episodes "
        f"({r['deploy_stop_episodes']:.1%} ended by deploy's safety stop)"])


def main(argv=None) -> dict:
    """The CLI (see CLI_DOC); returns the results written by --out."""
    # `python -m ppo.evaluate --base <spec> ...`: the base alone, no run (ppo.base_check).
    if any(a == "--base" or a.startswith("--base=") for a in (__import__("sys").argv[1:] if argv is None else argv)):
        from ppo.base_check import main as base_check
        return base_check(argv)
    args = parse(argv)
    start = time.monotonic()
    try:
        config, net, hidden = load_policy(args.kind, args.source)
        default_envs = args.episodes if jax.default_backend() == "gpu" else CPU_EVAL_ENVS
        batch = min(args.num_envs or default_envs, args.episodes)
        env, base = build(config, args.impl)
    except (ValueError, TypeError, OSError) as e:  # ExportError is a ValueError
        raise SystemExit(f"python -m ppo.evaluate: error: {e}") from None
    residual = actor_residual(net["actor"], net["stats"], hidden, base.active)
    print(f"evaluating {args.source} ({args.kind}; base {base.name}, {args.episodes} episodes, "
          f"seed {args.seed}, impl {env.impl}, {batch} envs side by side)", flush=True)
    result = evaluate_base(env, base, args.episodes, args.seed, residual, batch, "evaluation")
    out = {"source": str(args.source), "kind": args.kind, "base": base.name, "seed": args.seed,
           "impl": env.impl, "num_envs": batch,
           **report(result, summary(result), env.config)}
    out["wall_s"] = time.monotonic() - start
    print(format_report(out))
    print(f"  evaluated in {out['wall_s']:.1f} s (compilation included)", flush=True)
    if args.video:
        from ppo.video import record

        path = Path(args.video_out or (Path(args.out).with_suffix(".mp4") if args.out
                                       else f"eval-{_name(args)}.mp4"))
        out["video"] = record(env, base, residual, args.video, path, args.seed, args.episodes,
                              progress=True)
        print(f"  video: {path} ({args.video} episodes, {out['video']['frames']} frames, "
              f"{out['video']['seconds']:.1f} s)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
        print(f"  results: {args.out}")
    return out


def _name(args) -> str:
    """exports/<name> -> name; <run>/checkpoints/<iteration> -> <run>-<iteration>."""
    src = args.source
    return src.name if args.kind == "export" else f"{src.parent.parent.name}-{src.name}"


if __name__ == "__main__":
    main()
