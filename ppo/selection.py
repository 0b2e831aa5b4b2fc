"""Best-checkpoint selection: never hand back something worse than the base.

During training (`ppo.train`, `--select-every N`, `--select-episodes M`) the deterministic
policy is evaluated every N iterations and at the last one, on M fixed-seed episodes
(`SELECT_SEED`; episode i starts from key i of split(PRNGKey(SELECT_SEED), M)), and the base
alone once at the start on the same episodes (`ppo.evaluate.SeededEvaluation`: one compiled
program for all of them). Each evaluated iteration is checkpointed and recorded in
`<run>/selection.json` (and in that iteration's metrics.jsonl row).

The kept checkpoint is the best evaluated one: the highest plausible success; between equal
rates the higher mean return; between equal both the earlier iteration. The residual *helped*
when the kept checkpoint's plausible success is above the base alone's (strictly); otherwise
the run says that it did not help, its eval.json records it, and `python -m ppo.export <run
dir>` refuses unless --force (or a checkpoint path) is given. Checkpoint pruning never deletes
the kept checkpoint; `--resume` keeps the evaluations up to the checkpoint it resumes from.

This module reads and writes the record only (no JAX): the export reads it without the trainer.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

SELECT_SEED = 4321  # not the final evaluation's seed (ppo.evaluate.EVAL_SEED): eval.json is
# then an estimate of the kept checkpoint on episodes it was not selected on
FILE = "selection.json"
KEYS = ("plausible_success_rate", "plausible_ci95", "success_rate", "ci95", "mean_return",
        "episodes")


def due(iteration: int, every: int, last: int) -> bool:
    """Whether `iteration` is evaluated: every `every` iterations and the last one (0: never)."""
    return every > 0 and (iteration % every == 0 or iteration == last)


def numbers(summary: dict) -> dict:
    """The recorded part of a `ppo.evaluate.summary`."""
    return {k: summary[k] for k in KEYS}


def score(entry: dict) -> tuple[float, float]:
    return entry["plausible_success_rate"], entry["mean_return"]


def best(evaluations: list[dict]) -> dict | None:
    """The kept evaluation: highest plausible success, then higher mean return, then earlier."""
    kept = None
    for e in sorted(evaluations, key=lambda e: e["iteration"]):
        if kept is None or score(e) > score(kept):
            kept = e
    return kept


def helped(record: dict) -> bool | None:
    """Whether the kept checkpoint's plausible success is above the base alone's (None: nothing
    evaluated yet)."""
    kept, base = record.get("best"), record.get("base_alone")
    if kept is None or base is None:
        return None
    return kept["plausible_success_rate"] > base["plausible_success_rate"]


def pct(entry: dict) -> str:
    lo, hi = entry["plausible_ci95"]
    return f"{entry['plausible_success_rate']:.1%} (95% CI {lo:.1%}..{hi:.1%})"


def verdict(record: dict) -> str:
    """One line: which checkpoint is kept and whether the residual helped."""
    kept, base = record["best"], record["base_alone"]
    n, where = len(record["evaluations"]), f"{base['episodes']} episodes, seed {record['seed']}"
    if helped(record):
        return (f"kept checkpoint {kept['iteration']}, the best of {n} evaluations: plausible "
                f"success {pct(kept)} vs the base alone's {pct(base)} ({where})")
    return (f"the residual did not help: no evaluated checkpoint beat the base alone (best: "
            f"iteration {kept['iteration']}, plausible success {pct(kept)} vs the base alone's "
            f"{pct(base)}; {n} evaluations, {where})")


def new_record(every: int, episodes: int) -> dict:
    return {"every": every, "episodes": episodes, "seed": SELECT_SEED, "base_alone": None,
            "evaluations": [], "best": None, "residual_helped": None,
            "rule": "highest plausible success, then higher mean return, then the earlier iteration; "
                    "the residual helped when the kept checkpoint's plausible success is above the "
                    "base alone's"}


def add(record: dict, iteration: int, env_steps: int, summary: dict) -> dict:
    """`record` with the evaluation of `iteration` (replacing an earlier one of it), its best
    and verdict updated; returns the new entry."""
    entry = {"iteration": iteration, "env_steps": env_steps, **numbers(summary)}
    record["evaluations"] = [e for e in record["evaluations"] if e["iteration"] != iteration] + [entry]
    record["evaluations"].sort(key=lambda e: e["iteration"])
    record["best"] = best(record["evaluations"])
    record["residual_helped"] = helped(record)
    return entry


def read(run_dir) -> dict | None:
    """The run's selection record, or None (no selection.json: selection was off, or an older run)."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def cut(record: dict, iteration: int) -> dict:
    """`record` as it stood at `iteration` (a resumed run redoes the evaluations after it)."""
    record["evaluations"] = [e for e in record["evaluations"] if e["iteration"] <= iteration]
    record["best"] = best(record["evaluations"])
    record["residual_helped"] = helped(record)
    return record


def write(run_dir, record: dict) -> None:
    """selection.json, atomically (written beside it, then renamed)."""
    path = Path(run_dir) / FILE
    tmp = path.with_name(f".{FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def kept_iteration(run_dir) -> int | None:
    """The kept checkpoint's iteration of the run in `run_dir` (None: no selection record)."""
    kept = (read(run_dir) or {}).get("best")
    return None if kept is None else kept["iteration"]


class Selector:
    """The selection of a training run (`ppo.train.train`): evaluates the base alone once and
    the deterministic policy at each `due` iteration, keeps the record in `out`/selection.json.
    Only the main process evaluates and writes (`main`); the others follow the same checkpoints."""

    def __init__(self, agent, run, out: Path, iteration: int, resume: bool, main: bool = True,
                 log=print):
        self.agent, self.out, self.main, self.log = agent, Path(out), main, log
        self.every, self.last, self.episodes = run.select_every, run.iterations, run.select_episodes
        record = read(out) if resume else None
        if record is None or record.get("episodes") != self.episodes:
            record = new_record(self.every, self.episodes)
        self.record = cut(record, iteration)
        self.record["every"] = self.every

    def due(self, iteration: int) -> bool:
        return due(iteration, self.every, self.last)

    def _summary(self, ts, on: float) -> dict:
        import jax

        from ppo.evaluate import agent_evaluation, summary
        run = agent_evaluation(self.agent, self.episodes)  # one program: base alone and policies
        return summary(run(jax.device_get((ts.params, ts.stats)), self.episodes, SELECT_SEED, on))

    def start(self, ts) -> None:
        """The base alone on the selection episodes, unless a resumed record has it; a resumed
        run's checkpoint that is due but was not recorded (interrupted in between) is evaluated."""
        if not self.main:
            return
        if self.record["base_alone"] is None:
            self.record["base_alone"] = numbers(self._summary(ts, 0.0))
            self.log(f"selection: the base alone, plausible success {pct(self.record['base_alone'])} "
                     f"over {self.episodes} episodes (seed {SELECT_SEED}); the policy is evaluated "
                     f"on them every {self.every} iterations and at the last")
            write(self.out, self.record)
        it = int(ts.iteration)
        if it > 0 and self.due(it) and all(e["iteration"] != it for e in self.record["evaluations"]):
            self.evaluate(ts)
            write(self.out, self.record)

    def evaluate(self, ts) -> dict:
        """Evaluate `ts` (a due iteration); returns the metrics.jsonl fields of it."""
        entry = add(self.record, int(ts.iteration), int(ts.env_steps), self._summary(ts, 1.0))
        kept = self.record["best"]
        self.log(f"selection: iteration {entry['iteration']}, plausible success {pct(entry)}"
                 f"{' (the best so far)' if kept is entry else ''}; the base alone "
                 f"{self.record['base_alone']['plausible_success_rate']:.1%}")
        lo, hi = entry["plausible_ci95"]
        return {"selection_plausible_success_rate": entry["plausible_success_rate"],
                "selection_plausible_ci95_lo": lo, "selection_plausible_ci95_hi": hi,
                "selection_mean_return": entry["mean_return"],
                "selection_best_iteration": kept["iteration"],
                "selection_base_plausible_success_rate": self.record["base_alone"]["plausible_success_rate"]}

    def save(self) -> None:
        if self.main:
            write(self.out, self.record)

    def kept(self) -> int | None:
        kept = self.record["best"]
        return None if kept is None else kept["iteration"]
