"""ppo.progress: plain lines without a terminal (content and rate), a bar on one."""
import io

from ppo.progress import Progress, line


def row(i, ret=-120.34, succ=0.125):
    return {"iteration": i, "env_steps": i * 65536, "env_steps_per_s": 320_000.0,
            "episode_return": ret, "success_rate": succ, "plausible_success_rate": succ}


def test_line_content():
    text = line(row(12), 150, 185.0)
    assert text == ("it 12/150 | 786k env steps | 320k steps/s | return -120.3 | success 12.5% | "
                    "plausible 12.5% | ETA 3m05s")
    assert "return - | success - | plausible -" in line(row(1, None, None), 150, None)
    assert line(row(1), 150, None).endswith("ETA -")


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


def test_resumed_eta_counts_only_this_sessions_iterations():
    now = [0.0]
    out = io.StringIO()
    p = Progress(100, 50, stream=out, tty=False, clock=lambda: now[0])
    now[0] = 10.0
    p.update(row(51))
    assert out.getvalue().strip().endswith("ETA 8m10s")  # 49 left x 10 s


def test_a_terminal_gets_a_bar_and_disabled_prints_nothing():
    out = io.StringIO()
    p = Progress(3, 0, stream=out, tty=True)
    p.update(row(1))
    p.close()
    assert "\r" in out.getvalue() and "it 1/3 |" not in out.getvalue()
    quiet = io.StringIO()
    q = Progress(3, 0, enabled=False, stream=quiet, tty=False)
    q.update(row(1))
    q.close()
    assert quiet.getvalue() == ""
