"""Training progress a person can read anywhere: a tqdm bar on a terminal; elsewhere (a log
file, CI, nohup) one plain line every `every_s` seconds, plus the first and the last iteration.

    it 12/150 | 786k env steps | 320k steps/s | return -120.3 | success 12.0% | plausible 12.0% | ETA 3m05s
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm


def _count(n: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:.0f}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def _rate(row: dict, key: str) -> str:
    return "-" if row.get(key) is None else f"{row[key]:.1%}"


def line(row: dict, total: int, eta_s: float | None) -> str:
    """One progress line of a metrics row (`ppo.train`: iteration, env_steps, env_steps_per_s,
    episode_return, success_rate, plausible_success_rate; None where no episode ended)."""
    ret = "-" if row.get("episode_return") is None else f"{row['episode_return']:.1f}"
    return (f"it {row['iteration']}/{total} | {_count(row['env_steps'])} env steps | "
            f"{_count(row['env_steps_per_s'])} steps/s | return {ret} | "
            f"success {_rate(row, 'success_rate')} | plausible {_rate(row, 'plausible_success_rate')}"
            f" | ETA {'-' if eta_s is None else _duration(eta_s)}")


class Progress:
    """`update(row)` after each iteration, `close()` at the end. `enabled=False`: silent;
    `tty=None`: a bar if `stream` is a terminal, lines otherwise."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, stream: TextIO | None = None,
                 every_s: float = 30.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stdout
        self.total, self.start_iteration, self.every_s, self.clock = total, initial, every_s, clock
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self.started, self.last_line = clock(), None
        self.bar = tqdm(total=total, initial=initial, file=self.stream, unit="it",
                        dynamic_ncols=True) if enabled and self.tty else None
        self.shown = {"ret": "-", "succ": "-", "plaus": "-"}  # the last finished episodes'

    def eta_s(self, iteration: int) -> float | None:
        done = iteration - self.start_iteration
        return None if done <= 0 else (self.clock() - self.started) / done * (self.total - iteration)

    def update(self, row: dict) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            if row.get("episode_return") is not None:
                self.shown.update(ret=f"{row['episode_return']:.2f}", succ=f"{row['success_rate']:.2f}",
                                  plaus=f"{row['plausible_success_rate']:.2f}")
            self.bar.update(1)
            self.bar.set_postfix(self.shown, sps=f"{row['env_steps_per_s']:.0f}")
            return
        now = self.clock()
        due = self.last_line is None or now - self.last_line >= self.every_s
        if due or row["iteration"] >= self.total:
            print(line(row, self.total, self.eta_s(row["iteration"])), file=self.stream, flush=True)
            self.last_line = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
