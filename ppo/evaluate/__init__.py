"""Fixed-seed success of a base policy, alone and with a residual, through the chunk cache (the
trainer's evaluation; `python -m ppo.evaluate`'s command line is `ppo.evaluate_cli`).

Episodes run in rounds of `batch` side by side (default: all at once), through `bridge.rollout`;
episode i uses key i of `jax.random.split(PRNGKey(seed), episodes)`, whatever the batch.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jp
import numpy as np

from bridge import rollout
from bridge.base import BasePolicy
from mjx_env.outcome import TRACE_KEYS, episode_implausible, plausibility_summary, rate_with_ci
from ppo.progress import Episodes


def _segment_length(length: int, updates: int = 30) -> int:
    """Control steps per compiled segment: the largest divisor of `length` that is at most
    `length // updates` (at least 1), so an episode is whole segments and about `updates`
    progress updates."""
    most = max(1, length // updates)
    return max(d for d in range(1, most + 1) if length % d == 0)


def _programs(env, base: BasePolicy, b: int, residual: Callable | None):
    """(start, segment, steps), not jitted: `start(round_keys (b, 2)) -> carry` resets one round
    of `b` episodes side by side (`bridge.rollout`); `segment(params, on, carry) -> (carry,
    outputs)` runs the next `steps` control steps. The residual is
    `on x residual(params, state, base_action)` (None: zeros), so `on = 0` runs the base alone
    through the same program (its target unfiltered: the setpoint filter is on where the
    residual is, `bridge.rollout`). The episode runs as segments, the host between them, so
    progress needs no callback inside the program: a program with a host callback never hits
    JAX's persistent compilation cache (the callback is part of its key)."""
    steps = _segment_length(env.config.episode_length)

    def segment(params, on, carry):
        if residual is None:
            return rollout.segment(env, base, None, carry, steps)
        res = lambda state, a: on * residual(params, state, a)  # noqa: E731
        return rollout.segment(env, base, res, carry, steps, filtered=on)

    return (lambda round_keys: rollout.start(env, base, round_keys)), segment, steps


def _gather(rounds: list, episodes: int) -> dict[str, np.ndarray]:
    """The rounds' (final carry, trace {key: (b, T)}) as `evaluate_base`'s dict (padding
    dropped)."""
    cat = lambda arrays: np.concatenate([np.asarray(x) for x in arrays])[:episodes]  # noqa: E731
    trace = {k: cat(t[k] for _, t in rounds) for k in TRACE_KEYS}
    success = cat(c.tally.success for c, _ in rounds)
    return {"success": success, "plausible_success": success & ~episode_implausible(trace),
            "steps": cat(c.tally.steps for c, _ in rounds),
            "episode_return": cat(c.tally.ret for c, _ in rounds),
            "final_goal_distance": cat(c.tally.final_goal_distance for c, _ in rounds),
            "trace": trace, "base_calls": sum(int(c.cache.calls) for c, _ in rounds)}


def evaluate_base(env, base: BasePolicy, episodes: int, seed: int = 0,
                  residual: Callable | None = None, batch: int | None = None,
                  progress: str | None = None) -> dict[str, np.ndarray]:
    """`residual(obs (B, 25), base_action (B, 6)) -> (B, 6)` in [-1, 1], None = zeros; `batch`
    episodes side by side (default: all). Returns (episodes,) arrays: success (bool),
    plausible_success (bool), steps, episode_return, final_goal_distance (m); `trace` (per-step
    plausibility metrics, (episodes, T), NaN after the episode ended) and `base_calls` (batched).
    `progress`: a label; then lines `<label>: <done>/<episodes> episodes done, step s/L,
    <elapsed>` are printed while the episodes run (`ppo.progress.Episodes`; None: silent)."""
    fn = None if residual is None else (lambda params, state, a: residual(state.obs, a))
    run = SeededEvaluation(env, base, fn, min(batch or episodes, episodes))
    return run(None, episodes, seed, progress=progress)


class SeededEvaluation:
    """`evaluate_base`'s fixed-seed episodes, in rounds of `batch` side by side, compiled once
    for many parameter sets of one residual (the params are an argument of the programs, not
    constants baked into them): `self(params, episodes, seed)` runs the base +
    `residual(params, state, base_action)` (`bridge.rollout`'s residual, with params), `on=0.0`
    the base alone (the residual times 0: the same program and episodes). Returns
    `evaluate_base`'s dict."""

    def __init__(self, env, base: BasePolicy, residual: Callable | None, batch: int):
        self.b, self.length = batch, env.config.episode_length
        start, segment, self.steps = _programs(env, base, batch, residual)
        self.start, self.segment = jax.jit(start), jax.jit(segment)

    def _round(self, keys, params, on, shown, ended: int, real: int):
        """One round's final carry and trace {key: (b, T)}; `shown`: the progress line (None:
        silent), told after each segment."""
        carry, traces = self.start(keys), []
        for done in range(self.steps, self.length + 1, self.steps):
            carry, out = self.segment(params, on, carry)
            traces.append(out["trace"])
            if shown is not None:
                shown.update(ended + int((~np.asarray(carry.tally.alive)[:real]).sum()), done)
        return carry, {k: np.concatenate([np.asarray(t[k]) for t in traces]).T for k in TRACE_KEYS}

    def __call__(self, params, episodes: int, seed: int, on: float = 1.0,
                 progress: str | None = None) -> dict[str, np.ndarray]:
        keys, b = rollout.round_keys(seed, episodes, self.b), self.b
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
        def residual(params, state, base_action):
            return agent.deterministic_residual(params[0], params[1], state.obs, base_action)
        programs[batch] = SeededEvaluation(agent.env, agent.base, residual, batch)
    return programs[batch]


def summary(result: dict) -> dict:
    """Success and plausible success with 95% Wilson CIs, mean return, plausibility max / p95."""
    success, plausible = rate_with_ci(result["success"]), rate_with_ci(result["plausible_success"])
    return {"success_rate": success["rate"], "ci95": success["ci95"],
            "plausible_success_rate": plausible["rate"], "plausible_ci95": plausible["ci95"],
            "episodes": success["episodes"], "mean_return": float(result["episode_return"].mean()),
            **plausibility_summary(result["trace"])}


def report(result: dict, summ: dict, env_config) -> dict:
    """The evaluation CLIs' results: `summary` plus mean episode length (steps and s), the env's
    deploy stop threshold `max_target_gap` (rad) and arm-table force limit `max_table_force` (N)."""
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
