"""Progress a person can read anywhere: a tqdm bar on a terminal; elsewhere (a log file, CI,
nohup) one plain line every `every_s` seconds, plus the first and the last.

Training (`Progress`), one line per iteration shown; the episode figures are running means over
the last `WINDOW` finished episodes (fewer until that many have ended; the count is shown), so
every line has them once any episode has ended:

    it 12/150 | 786k env steps | 320k steps/s | last 100 episodes: return -120.3, success 12.0%, plausible 12.0% | ETA 3m05s

Evaluation and video (`Episodes`): episodes done of the total, the step reached, elapsed time:

    evaluation (base + residual): 23/64 episodes done, step 150/300, 41 s
"""
from __future__ import annotations

import sys
import time
from collections import deque
from typing import Callable, TextIO

from tqdm import tqdm

WINDOW = 100  # finished episodes the training progress averages over
EPISODE_KEYS = ("episode_return", "success_rate", "plausible_success_rate")


def _count(n: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:.0f}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


class EpisodeWindow:
    """Running means of the last `size` finished episodes, from the per-iteration rows of
    `ppo.train` (each: the means over the `episodes` that ended in that iteration, None where
    none did). The oldest iteration still in the window counts with the episodes the window
    has room for (its mean stands for each of them)."""

    def __init__(self, size: int = WINDOW):
        self.size = size
        self.rows: deque[tuple[float, dict]] = deque()  # (episodes, {key: mean}), oldest first

    def add(self, row: dict) -> None:
        n = row.get("episodes", 1 if row.get("episode_return") is not None else 0) or 0
        if n <= 0 or any(row.get(k) is None for k in EPISODE_KEYS):
            return
        self.rows.append((float(n), {k: float(row[k]) for k in EPISODE_KEYS}))
        while len(self.rows) > 1 and sum(c for c, _ in self.rows) - self.rows[0][0] >= self.size:
            self.rows.popleft()  # the newer iterations fill the window without it

    def means(self) -> tuple[int, dict] | None:
        """(episodes averaged, {key: mean}), or None before any episode has ended."""
        total, sums = 0.0, dict.fromkeys(EPISODE_KEYS, 0.0)
        for n, values in reversed(self.rows):
            take = min(n, self.size - total)
            for k in EPISODE_KEYS:
                sums[k] += values[k] * take
            total += take
            if total >= self.size:
                break
        return None if total <= 0 else (int(round(total)), {k: v / total for k, v in sums.items()})


def episodes_text(means: tuple[int, dict] | None) -> str:
    if means is None:
        return "no episode ended yet"
    n, m = means
    return (f"last {n} episode{'s' if n != 1 else ''}: return {m['episode_return']:.1f}, "
            f"success {m['success_rate']:.1%}, plausible {m['plausible_success_rate']:.1%}")


def line(row: dict, total: int, eta_s: float | None, means: tuple[int, dict] | None) -> str:
    """One progress line: a metrics row of `ppo.train` (iteration, env_steps, env_steps_per_s)
    and the running episode means (`EpisodeWindow.means`)."""
    return (f"it {row['iteration']}/{total} | {_count(row['env_steps'])} env steps | "
            f"{_count(row['env_steps_per_s'])} steps/s | {episodes_text(means)}"
            f" | ETA {'-' if eta_s is None else _duration(eta_s)}")


class Progress:
    """Training: `update(row)` after each iteration, `close()` at the end. `enabled=False`:
    silent; `tty=None`: a bar if `stream` is a terminal, lines otherwise; `history`: the rows
    of the iterations before this session (a resumed run), which fill the episode window."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, stream: TextIO | None = None,
                 every_s: float = 30.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, history: list[dict] = (),
                 window: int = WINDOW):
        self.stream = stream or sys.stdout
        self.total, self.start_iteration, self.every_s, self.clock = total, initial, every_s, clock
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self.started, self.last_line = clock(), None
        self.bar = tqdm(total=total, initial=initial, file=self.stream, unit="it",
                        dynamic_ncols=True) if enabled and self.tty else None
        self.window = EpisodeWindow(window)
        for row in history:
            self.window.add(row)

    def eta_s(self, iteration: int) -> float | None:
        done = iteration - self.start_iteration
        return None if done <= 0 else (self.clock() - self.started) / done * (self.total - iteration)

    def update(self, row: dict) -> None:
        if not self.enabled:
            return
        self.window.add(row)
        means = self.window.means()
        if self.bar is not None:
            shown = {"ret": "-", "succ": "-", "plaus": "-", "last": 0} if means is None else {
                "ret": f"{means[1]['episode_return']:.2f}", "succ": f"{means[1]['success_rate']:.2f}",
                "plaus": f"{means[1]['plausible_success_rate']:.2f}", "last": means[0]}
            self.bar.update(1)
            self.bar.set_postfix(shown, sps=f"{row['env_steps_per_s']:.0f}")
            return
        now = self.clock()
        due = self.last_line is None or now - self.last_line >= self.every_s
        if due or row["iteration"] >= self.total:
            print(line(row, self.total, self.eta_s(row["iteration"]), means), file=self.stream,
                  flush=True)
            self.last_line = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Episodes:
    """Progress of fixed episodes run in steps (evaluation, video): a line when it starts
    (`<label>: <total> episodes of up to L steps`: compiling comes first), `update(done, step)`
    as they run (a line at the first, then one every `every_s` seconds), `finish(done)` at the
    end: `<label>: <done>/<total> episodes done, step s/L, <elapsed>`."""

    def __init__(self, label: str, total: int, length: int, stream: TextIO | None = None,
                 every_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.length, self.every_s, self.clock = label, total, length, every_s, clock
        self.stream = stream or sys.stdout
        self.started, self.last_line = clock(), None
        print(f"{label}: {total} episode{'s' if total != 1 else ''} of up to {length} steps",
              file=self.stream, flush=True)

    def _print(self, text: str) -> None:
        print(f"{self.label}: {text}, {_duration(self.clock() - self.started)}", file=self.stream,
              flush=True)
        self.last_line = self.clock()

    def update(self, done: int, step: int) -> None:
        if self.last_line is None or self.clock() - self.last_line >= self.every_s:
            self._print(f"{done}/{self.total} episodes done, step {step}/{self.length}")

    def finish(self, done: int | None = None) -> None:
        self._print(f"{self.total if done is None else done}/{self.total} episodes done")
