"""Progress of a batch: a bar on a tty (students done/total, failures, ETA); plain lines
otherwise. Student ids and reasons are cleaned (grader.safe_text) before they reach the terminal."""

from __future__ import annotations

import time
from typing import TextIO

from grader.batch.rows import STATUS_ERROR, STATUS_GRADED, STATUS_NOT_GRADED
from grader.safe_text import one_line


class Progress:
    """A progress bar on a tty (students done/total, failures, ETA); plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool = False):
        self.total, self.stream, self.quiet = total, stream, quiet
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

    def student(self, row: dict, cached: bool) -> None:
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
        if self.graded_done == 0:
            return "--:--"
        el = time.monotonic() - self.start
        s = int(el / self.graded_done * left)
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
