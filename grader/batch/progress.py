"""Progress of a batch: a bar on a tty (students done/total, errors, ETA); plain lines
otherwise. Student ids and reasons are cleaned (grader.safe_text) before they reach the terminal.

The ETA (`estimate`) comes from the work finished so far: the time grading has taken per
student graded (all workers together), times the students left. A cached student costs
nothing and does not count. The clock is a parameter, so tests drive it."""

from __future__ import annotations

import time
from typing import Callable, Optional, TextIO

from grader.batch.rows import STATUS_ERROR, STATUS_GRADED, STATUS_NOT_GRADED, status_label
from grader.messages import t
from grader.safe_text import one_line


class ProgressBar:
    """A progress bar on a tty (students done/total, errors, ETA); plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool = False, jobs: int = 1, lang: str = "en",
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.stream, self.quiet, self.jobs, self.lang = total, stream, quiet, max(int(jobs), 1), lang
        self.clock = clock
        self.tty = bool(getattr(stream, "isatty", lambda: False)()) and not quiet
        self.done = self.failures = self.cached = self.not_graded = 0
        self.start = clock()
        self.first_start: Optional[float] = None  # when the first student's grading began
        self.graded_done = 0
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
        """A student's grading started (the ETA counts from the first)."""
        if self.first_start is None:
            self.first_start = self.clock()

    def student(self, row: dict, cached: bool) -> None:
        self.done += 1
        if row["status"] == STATUS_ERROR:
            self.failures += 1
        elif row["status"] == STATUS_NOT_GRADED:
            self.not_graded += 1
        if cached:
            self.cached += 1
        elif self.first_start is not None:  # finished by grading (not found wanting before it began)
            self.graded_done += 1
        if self.quiet:
            return
        label = status_label(row, self.lang)
        if self.tty:
            if row["status"] != STATUS_GRADED:  # problems scroll above the bar
                self.stream.write(f"\r\x1b[K{one_line(row['id'])}: {label} - {one_line(row['reason'])}\n")
            self._bar(force=True)
        else:
            w = len(str(self.total))
            extra = f" ({t(self.lang, 'batch.cached')})" if cached else f" ({row.get('duration_s', 0):.1f} s)"
            reason = f" - {one_line(row['reason'])}" if row.get("reason") else ""
            self.stream.write(f"[{self.done:>{w}}/{self.total}] {one_line(row['id'])}: {row['total']}/{row['max']} "
                              f"{label}{extra}{reason}\n")
            self.stream.flush()

    def tick(self) -> None:
        if self.tty and self.clock() - self._last > 0.5:
            self._bar()

    def eta_s(self) -> Optional[float]:
        """Seconds until every student is graded (None before one was)."""
        if self.first_start is None:
            return None if self.done < self.total else 0.0
        return estimate(self.graded_done, self.clock() - self.first_start, self.total - self.done)

    def eta(self) -> str:
        s = self.eta_s()
        if s is None:
            return "--:--"
        return clock_text(s)

    def _bar(self, force: bool = False) -> None:
        self._last = self.clock()
        width = 28
        frac = self.done / self.total if self.total else 1.0
        filled = int(width * frac)
        bar = "█" * filled + "░" * (width - filled)
        self.stream.write("\r\x1b[K" + t(self.lang, "batch.bar", bar=bar, done=self.done, total=self.total,
                                         errors=self.failures, elapsed=clock_text(self.clock() - self.start),
                                         eta=self.eta()))
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def clock_text(seconds: float) -> str:
    s = max(int(round(seconds)), 0)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def estimate(finished: int, elapsed_s: float, left: int) -> Optional[float]:
    """Seconds until the `left` students still to grade are done, from the `finished` ones graded
    in `elapsed_s` of grading (every worker's share in it); None before any finished."""
    if left <= 0:
        return 0.0
    if finished <= 0:
        return None
    return elapsed_s / finished * left
