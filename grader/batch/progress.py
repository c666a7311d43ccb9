"""Progress of a batch: a bar on a tty (students done/total, failures, ETA); plain lines
otherwise. Student ids and reasons are cleaned (grader.safe_text) before they reach the terminal.

The ETA (`estimate`) counts the students still running: one that has run longer than a
typical student may go on until its time limit, so it is not "done soon"."""

from __future__ import annotations

import statistics
import time
from typing import Optional, Sequence, TextIO

from grader.batch.rows import STATUS_ERROR, STATUS_GRADED, STATUS_NOT_GRADED
from grader.safe_text import one_line


class ProgressBar:
    """A progress bar on a tty (students done/total, failures, ETA); plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool = False, jobs: int = 1):
        self.total, self.stream, self.quiet, self.jobs = total, stream, quiet, max(int(jobs), 1)
        self.limit_s = 0.0                     # the longest one student may run (set when grading starts)
        self._running: dict[str, float] = {}   # file id -> when its grading started
        self._walls: list[float] = []          # how long each student graded in this run took
        self.tty = bool(getattr(stream, "isatty", lambda: False)()) and not quiet
        self.done = self.failures = self.cached = self.not_graded = 0
        self.start = time.monotonic()
        self.graded_done = 0
        self.to_grade = total
        self._last = 0.0

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(one_line(text) + "\n")
        self.stream.flush()
        if self.tty:
            self._bar(force=True)

    def running(self, file_id: str) -> None:
        """A student's grading started (for the ETA)."""
        self._running[file_id] = time.monotonic()

    def student(self, row: dict, cached: bool) -> None:
        began = self._running.pop(row.get("file", ""), None)
        if began is not None:
            self._walls.append(time.monotonic() - began)
        self.done += 1
        if row["status"] == STATUS_ERROR:
            self.failures += 1
        elif row["status"] == STATUS_NOT_GRADED:
            self.not_graded += 1
        if cached:
            self.cached += 1
        else:
            self.graded_done += 1
        if self.quiet:
            return
        if self.tty:
            if row["status"] != STATUS_GRADED:  # problems scroll above the bar
                self.stream.write(f"\r\x1b[K{one_line(row['id'])}: {row['status']} - {one_line(row['reason'])}\n")
            self._bar(force=True)
        else:
            w = len(str(self.total))
            extra = " (cached)" if cached else f" ({row.get('duration_s', 0):.1f} s)"
            reason = f" - {one_line(row['reason'])}" if row.get("reason") else ""
            self.stream.write(f"[{self.done:>{w}}/{self.total}] {one_line(row['id'])}: {row['total']}/{row['max']} "
                              f"{row['status']}{extra}{reason}\n")
            self.stream.flush()

    def tick(self) -> None:
        if self.tty and time.monotonic() - self._last > 0.5:
            self._bar()

    def _eta(self) -> str:
        left = self.total - self.done
        if left == 0:
            return "0:00"
        now = time.monotonic()
        s = estimate(self._walls, [now - t0 for t0 in self._running.values()], left, self.jobs, self.limit_s)
        if s is None:
            return "--:--"
        s = int(s)
        return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def _bar(self, force: bool = False) -> None:
        self._last = time.monotonic()
        width = 28
        frac = self.done / self.total if self.total else 1.0
        filled = int(width * frac)
        bar = "█" * filled + "░" * (width - filled)
        el = int(time.monotonic() - self.start)
        ng = f"  not graded {self.not_graded}" if self.not_graded else ""
        self.stream.write(f"\r\x1b[Kgrading {bar} {self.done}/{self.total}  failures {self.failures}{ng}"
                          f"  elapsed {el // 60}:{el % 60:02d}  ETA {self._eta()}")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def estimate(walls: Sequence[float], running_for: Sequence[float], left: int, jobs: int,
             limit_s: float) -> Optional[float]:
    """Seconds until every student is graded; None before any student was timed.

    walls: how long each finished student took; running_for: how long each running student
    has been running; left: students not finished (running ones included); limit_s: the
    longest a student may run. A running student is expected to take a typical time, and
    once past it, up to its limit."""
    if not walls:
        return None
    typical = statistics.median(walls)
    each = [typical - r if r < typical else max(limit_s - r, 0.0) for r in running_for]
    waiting = max(left - len(running_for), 0)
    queue = typical * waiting / max(jobs, 1) + (min(each) if each and waiting else 0.0)
    return max([queue, *each])
