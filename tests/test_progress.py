"""ppo.progress: plain lines without a terminal (content and rate), a bar on one; running means
over the last finished episodes; progress of the evaluation and the video."""
import io
from types import SimpleNamespace

import jax.numpy as jp
import numpy as np
import pytest

from bridge.base import make_base
from mjx_env.env_base import State
from mjx_env.outcome import TRACE_KEYS
from ppo import evaluate as evaluate_mod
from ppo.evaluate import evaluate_base
from ppo.progress import EpisodeWindow, Episodes, Progress, line


def row(i, ret=-120.34, succ=0.125, episodes=8):
    return {"iteration": i, "env_steps": i * 65536, "env_steps_per_s": 320_000.0,
            "episode_return": ret, "success_rate": succ, "plausible_success_rate": succ,
            "episodes": episodes if ret is not None else 0}


def test_line_content():
    means = (100, {"episode_return": -120.34, "success_rate": 0.125, "plausible_success_rate": 0.1})
    text = line(row(12), 150, 185.0, means)
    assert text == ("it 12/150 | 786k env steps | 320k steps/s | last 100 episodes: return -120.3, "
                    "success 12.5%, plausible 10.0% | ETA 3m05s")
    assert "| no episode ended yet |" in line(row(1, None, None), 150, None, None)
    assert line(row(1), 150, None, means).endswith("ETA -")


def test_window_means_the_last_n_episodes():
    w = EpisodeWindow(10)
    assert w.means() is None
    w.add(row(1, None, None))  # no episode ended: nothing changes
    assert w.means() is None
    w.add(row(2, ret=1.0, succ=1.0, episodes=4))
    assert w.means() == (4, pytest.approx({"episode_return": 1.0, "success_rate": 1.0,
                                           "plausible_success_rate": 1.0}))
    w.add(row(3, ret=2.0, succ=0.0, episodes=4))
    w.add(row(4, ret=4.0, succ=0.5, episodes=4))  # 12 ended: the oldest iteration counts 2 of its 4
    n, m = w.means()
    assert n == 10 and m["episode_return"] == pytest.approx((2 * 1 + 4 * 2 + 4 * 4) / 10)
    assert m["success_rate"] == pytest.approx((2 * 1 + 4 * 0 + 4 * 0.5) / 10)
    w.add(row(5, ret=0.0, succ=0.0, episodes=20))  # one iteration fills it alone
    assert w.means()[0] == 10 and w.means()[1]["episode_return"] == 0.0 and len(w.rows) == 1


def test_every_line_has_episode_figures_once_one_ended():
    """Episodes end in few iterations (9 of 10 rows have none): every line after the first
    ended episode still shows return, success and plausible success (running means)."""
    out = io.StringIO()
    p = Progress(20, 0, stream=out, every_s=0.0, tty=False)
    for i in range(1, 21):
        p.update(row(i) if i % 10 == 3 else row(i, None, None))
    lines = out.getvalue().splitlines()
    assert len(lines) == 20
    assert all("no episode ended yet" in s for s in lines[:2])
    assert all("last 8 episodes: return -120.3, success 12.5%, plausible 12.5%" in s for s in lines[2:12])
    assert all("last 16 episodes:" in s for s in lines[12:])


def test_lines_every_n_seconds_plus_first_and_last():
    now = [0.0]
    out = io.StringIO()
    p = Progress(100, 0, stream=out, every_s=30.0, tty=False, clock=lambda: now[0])
    for i in range(1, 101):  # one iteration per 2 s: 200 s in all
        now[0] = 2.0 * i
        p.update(row(i))
    p.close()
    lines = out.getvalue().splitlines()
    printed = [int(s.split()[1].split("/")[0]) for s in lines]
    assert printed[0] == 1 and printed[-1] == 100
    assert printed == [1, 16, 31, 46, 61, 76, 91, 100]  # >= 30 s apart, then the last
    assert "ETA 0m00s" in lines[-1] and "ETA 2m18s" in lines[2]  # 69 left x 2 s (31 done in 62 s)
    assert "last 8 episodes" in lines[0] and "last 100 episodes" in lines[-1]


def test_resumed_eta_counts_only_this_sessions_iterations_and_history_fills_the_window():
    now = [0.0]
    out = io.StringIO()
    p = Progress(100, 50, stream=out, tty=False, clock=lambda: now[0],
                 history=[row(i, ret=1.0, succ=1.0, episodes=10) for i in range(1, 51)])
    now[0] = 10.0
    p.update(row(51, None, None))
    text = out.getvalue().strip()
    assert text.endswith("ETA 8m10s")  # 49 left x 10 s
    assert "last 100 episodes: return 1.0, success 100.0%, plausible 100.0%" in text


def test_a_terminal_gets_a_bar_and_disabled_prints_nothing():
    out = io.StringIO()
    p = Progress(3, 0, stream=out, tty=True)
    p.update(row(1))
    p.close()
    assert "\r" in out.getvalue() and "it 1/3 |" not in out.getvalue() and "last=8" in out.getvalue()
    quiet = io.StringIO()
    q = Progress(3, 0, enabled=False, stream=quiet, tty=False)
    q.update(row(1))
    q.close()
    assert quiet.getvalue() == ""


def test_episodes_progress_lines():
    now = [0.0]
    out = io.StringIO()
    p = Episodes("evaluation", 64, 300, stream=out, every_s=10.0, clock=lambda: now[0])
    for step in range(1, 301):  # 0.1 s per step
        now[0] = 0.1 * step
        p.update(step // 10, step)
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["evaluation: 64 episodes of up to 300 steps",
                         "evaluation: 0/64 episodes done, step 1/300, 0m00s",
                         "evaluation: 10/64 episodes done, step 101/300, 0m10s"]
    assert len(lines) == 5 and lines[-1] == "evaluation: 64/64 episodes done, 0m30s"


class _CountingEnv:
    """A stand-in env for `ppo.evaluate.evaluate_base` (compiles in a second): env i of a batch
    ends after 3 (i + 1) steps (with success), the episodes last at most 30 steps."""

    config = SimpleNamespace(episode_length=30)

    def reset(self, keys):
        n = keys.shape[0]
        zeros = jp.zeros(n)
        return State(
            data={"t": jp.zeros(n, jp.int32)}, obs=jp.zeros((n, 25)), reward=zeros, done=zeros,
            metrics={k: zeros for k in (*TRACE_KEYS, "success", "goal_distance")},
            info={"base_target": jp.zeros((n, 6)), "base_active": zeros, "base_filtered": zeros,
                  "last_target": jp.zeros((n, 6))})

    def step(self, state, action):
        t = state.data["t"] + 1
        end = (t >= 3 * (jp.arange(t.shape[0]) + 1)).astype(jp.float32)
        metrics = {**state.metrics, "success": end}
        return state.replace(data={"t": t}, reward=jp.ones_like(end), done=end, metrics=metrics)


def test_the_evaluation_prints_its_progress_and_the_same_results(capsys, monkeypatch):
    """`evaluate_base(..., progress=label)`: lines of episodes done / total and the step, in
    rounds of `batch` episodes, then the total; the results are those of a silent run."""
    env = _CountingEnv()
    base = make_base("zero", env)
    quiet = evaluate_base(env, base, 6, batch=4)
    capsys.readouterr()
    loud = evaluate_base(env, base, 6, batch=4, progress="evaluation (base alone)")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "evaluation (base alone): 6 episodes of up to 30 steps"
    assert lines[1].startswith("evaluation (base alone): 0/6 episodes done, step 1/30, ")
    assert lines[-1].startswith("evaluation (base alone): 6/6 episodes done, ")
    assert len(lines) == 3  # every 10 s: the first and the last here
    for k in ("success", "steps", "episode_return"):
        np.testing.assert_array_equal(quiet[k], loud[k])
    np.testing.assert_array_equal(quiet["steps"], [3, 6, 9, 12, 3, 6])  # two rounds of 4

    seen = []
    every = Episodes("x", 6, 30, stream=io.StringIO(), every_s=0.0)  # a line per callback
    monkeypatch.setattr(every, "_print", seen.append)
    monkeypatch.setattr(evaluate_mod, "Episodes", lambda *args, **kw: every)
    evaluate_base(env, base, 6, batch=4, progress="x")
    done = [int(s.split("/")[0]) for s in seen[:-1]]
    steps = [int(s.split("step ")[1].split("/")[0]) for s in seen[:-1]]
    assert steps == list(range(1, 31)) * 2  # each step of both rounds
    assert done[:12] == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]  # round 1: its 4 episodes
    assert done[30:42] == [4, 4, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6]  # round 2: its 2 real ones, not the padding
