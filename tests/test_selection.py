"""Never worse than the base (ppo.selection): the kept checkpoint is the best evaluated one,
eval.json and the export take it, pruning keeps it, and a run whose residual never beats the
base alone says so and its run dir is not exported without --force."""
import json

import jax
import numpy as np
import pytest

from ppo import checkpoint, export as export_mod, selection
from ppo import report as report_mod
from ppo.evaluate import evaluate_base, summary
from policy.exported import load
from ppo.train import train
from tiny import tiny_run


def entry(iteration, rate, ret, episodes=4):
    return {"iteration": iteration, "env_steps": 16 * iteration, "plausible_success_rate": rate,
            "plausible_ci95": [0.0, 1.0], "success_rate": rate, "ci95": [0.0, 1.0],
            "mean_return": ret, "episodes": episodes}


def test_the_rule_highest_plausible_success_then_return_then_earlier():
    evals = [entry(1, 0.5, 3.0), entry(2, 0.75, 1.0), entry(3, 0.75, 2.0), entry(4, 0.75, 2.0)]
    assert selection.best(evals)["iteration"] == 3  # 0.75 beats 0.5; return breaks the tie; 3 < 4
    assert selection.best(evals[:2])["iteration"] == 2 and selection.best([]) is None
    record = selection.new_record(1, 4)
    record["base_alone"] = entry(0, 0.75, 5.0)
    for e in evals:
        selection.add(record, e["iteration"], e["env_steps"], e)
    assert record["best"]["iteration"] == 3 and record["residual_helped"] is False  # 0.75 !> 0.75
    assert selection.verdict(record).startswith("the residual did not help")
    record["base_alone"]["plausible_success_rate"] = 0.5
    assert selection.helped(record) and selection.verdict(record).startswith("kept checkpoint 3")
    selection.cut(record, 2)
    assert [e["iteration"] for e in record["evaluations"]] == [1, 2] and record["best"]["iteration"] == 2
    assert [i for i in range(1, 8) if selection.due(i, 3, 7)] == [3, 6, 7]
    assert not any(selection.due(i, 0, 7) for i in range(1, 8))


def rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def no_help(tmp_path_factory):
    """A real tiny run evaluated at every iteration, --keep 1: 20-step episodes end before any
    base reaches the goal, so the base alone (0%) is never beaten."""
    out = tmp_path_factory.mktemp("nohelp") / "run"
    cfg = tiny_run(out, select_every=1, select_episodes=4, keep=1, video=0)
    agent, ts, history = train(cfg, progress=False)
    return agent, ts, history, cfg, out


def test_every_evaluation_is_recorded_and_the_best_is_kept(no_help):
    agent, ts, history, cfg, out = no_help
    record = json.loads((out / "selection.json").read_text())
    evals = record["evaluations"]
    assert [e["iteration"] for e in evals] == [1, 2, 3] and record["episodes"] == 4
    for e, row in zip(evals, rows(out)):  # metrics.jsonl carries the same numbers
        assert row["iteration"] == e["iteration"]
        assert row["selection_plausible_success_rate"] == e["plausible_success_rate"]
        assert row["selection_mean_return"] == e["mean_return"]
        assert [row["selection_plausible_ci95_lo"], row["selection_plausible_ci95_hi"]] == e["plausible_ci95"]
    want = max(evals, key=lambda e: (e["plausible_success_rate"], e["mean_return"], -e["iteration"]))
    assert record["best"] == want and len({e["mean_return"] for e in evals}) == 3  # distinct scores
    kept = want["iteration"]
    assert {p.name for p in checkpoint.checkpoints(out)} == {"3", str(kept)}  # --keep 1 + the best
    # the recorded numbers are evaluate_base's on the selection seeds: the kept checkpoint's
    params, stats = checkpoint.restore_params(out / "checkpoints" / str(kept), cfg.ppo)
    again = summary(evaluate_base(agent.env, agent.base, 4, selection.SELECT_SEED,
                                  lambda o, a: agent.deterministic_residual(params, stats, o, a)))
    assert again["mean_return"] == pytest.approx(want["mean_return"], rel=1e-5)
    assert again["plausible_success_rate"] == want["plausible_success_rate"]


def test_a_residual_that_never_beats_the_base_says_so_and_is_not_exported(no_help, tmp_path, capsys):
    agent, ts, history, cfg, out = no_help
    record = json.loads((out / "selection.json").read_text())
    assert record["base_alone"]["plausible_success_rate"] == 0.0 and record["residual_helped"] is False
    capsys.readouterr()
    result = report_mod.report(agent, ts, history, cfg)
    printed = capsys.readouterr().out
    assert "selection: the residual did not help: no evaluated checkpoint beat the base alone" in printed
    saved = json.loads((out / "eval.json").read_text())
    assert saved["selection"] == result["selection"]
    assert saved["selection"]["residual_helped"] is False
    assert saved["selection"]["checkpoint"] == record["best"]["iteration"]
    with pytest.raises(SystemExit) as stop:  # the run dir: refused, one line, exit 2
        export_mod.main([str(out), str(tmp_path / "refused")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "the residual did not help" in err
    assert "--force" in err and not (tmp_path / "refused").exists()
    forced = export_mod.main([str(out), str(tmp_path / "forced"), "--force"])
    assert load(forced).manifest["source"]["iteration"] == record["best"]["iteration"]
    named = export_mod.main([str(out / "checkpoints" / "3"), str(tmp_path / "named")])  # a path
    assert load(named).manifest["source"]["iteration"] == 3


def test_the_best_checkpoint_not_the_last_is_kept_evaluated_and_exported(tmp_path, monkeypatch, capsys):
    """Scores forced per iteration (the base alone 0.5; iterations 0.25, 0.75, 0.5): checkpoint 2
    is kept past --keep 1, eval.json evaluates its params, the run dir exports it."""
    scores = {0: 0.5, 1: 0.25, 2: 0.75, 3: 0.5}

    def forced(self, ts, on):
        it = 0 if on == 0.0 else int(ts.iteration)
        return entry(it, scores[it], float(it))

    monkeypatch.setattr(selection.Selector, "_summary", forced)
    out = tmp_path / "run"
    cfg = tiny_run(out, select_every=1, select_episodes=4, keep=1, video=0)
    agent, ts, history = train(cfg, progress=False)
    record = json.loads((out / "selection.json").read_text())
    assert record["best"]["iteration"] == 2 and record["residual_helped"] is True
    assert [r.get("selection_best_iteration") for r in rows(out)] == [1, 2, 2]
    assert {p.name for p in checkpoint.checkpoints(out)} == {"2", "3"}
    seen = []
    real = report_mod.evaluate_policy
    monkeypatch.setattr(report_mod, "evaluate_policy",
                        lambda agent, ts, *a, **k: seen.append(ts) or real(agent, ts, *a, **k))
    capsys.readouterr()
    result = report_mod.report(agent, ts, history, cfg)
    assert "selection: kept checkpoint 2, the best of 3 evaluations" in capsys.readouterr().out
    assert result["selection"]["checkpoint"] == 2 and result["selection"]["final_iteration"] == 3
    params, _ = checkpoint.restore_params(out / "checkpoints" / "2", cfg.ppo)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(seen[0].params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    exported = export_mod.main([str(out), str(tmp_path / "export")])  # no --force needed
    assert "kept checkpoint 2" in capsys.readouterr().out
    assert load(exported).manifest["source"]["iteration"] == 2
