"""Deadlines, a late policy, extensions and a late-day bank (`grade serve --deadlines FILE`).

    timezone: "+08:00"          # for times written without an offset (default: this machine's)
    late:
      penalty_per_day: 0.1      # the share of a stage's score lost per day late, after late days
      max_days: 3               # later than that, the submission counts 0 (it is still graded)
      late_days: 2              # each student's bank of free late days
    stages:
      1: "2026-12-10 23:59"
    extensions:                 # a later due date for one student and stage
      alice: {1: "2026-12-12 23:59"}

A day late is any part of 24 hours after the due date. For each student, stages are taken in
the order of their due dates; each stage counts the submission worth most once late days
(as many as it needs, while the bank lasts) and the penalty are applied. Pure: no database.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from grader.errors import UsageError
from grader.messages import t

DAY_S = 86400.0


@dataclass(frozen=True)
class Late:
    days: int = 0        # whole days after the due date (0: on time)
    free: int = 0        # of those, late days taken from the bank
    factor: float = 1.0  # the share of the score that counts


@dataclass(frozen=True)
class Policy:
    due: dict[int, float] = field(default_factory=dict)  # stage -> due time (epoch seconds)
    extensions: dict[tuple[str, int], float] = field(default_factory=dict)
    penalty_per_day: float = 0.0
    max_days: Optional[int] = None
    late_days: int = 0

    def due_for(self, student: str, stage: int) -> Optional[float]:
        return self.extensions.get((student, stage), self.due.get(stage))

    def days_late(self, student: str, stage: int, received: float) -> int:
        due = self.due_for(student, stage)
        return 0 if due is None or received <= due else math.ceil((received - due) / DAY_S)

    def factor(self, days: int) -> float:
        if days <= 0:
            return 1.0
        if self.max_days is not None and days > self.max_days:
            return 0.0
        return max(0.0, 1.0 - self.penalty_per_day * days)

    def choose(self, student: str, by_stage: dict[int, Sequence[Any]]) -> dict[int, tuple[Any, Late]]:
        """stage -> (the submission that counts, its lateness); rows have .score and .received_at."""
        bank, out = self.late_days, {}
        for stage in sorted(by_stage, key=lambda s: (self.due_for(student, s) or math.inf, s)):
            best = None
            for row in by_stage[stage]:
                days = self.days_late(student, stage, row.received_at)
                free = min(days, bank)
                late = Late(days, free, self.factor(days - free))
                value = (row.score or 0.0) * late.factor
                if best is None or value >= best[0]:  # the later one among equals
                    best = (value, row, late)
            if best is not None:
                bank -= best[2].free
                out[stage] = (best[1], best[2])
        return out


def _when(value: Any, tz: dt.tzinfo, where: str, lang: str) -> float:
    try:
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise UsageError(t(lang, "serve.bad_deadlines", where=where, why=repr(value))) from None
    return (when if when.tzinfo else when.replace(tzinfo=tz)).timestamp()


def _zone(text: Any, lang: str) -> dt.tzinfo:
    if text is None:
        return dt.datetime.now().astimezone().tzinfo
    try:
        return dt.datetime.fromisoformat(f"2000-01-01T00:00:00{text}").tzinfo
    except ValueError:
        raise UsageError(t(lang, "serve.bad_deadlines", where="timezone", why=repr(text))) from None


def parse(doc: Any, stages: Sequence[int], lang: str = "en") -> Policy:
    if not isinstance(doc, dict):
        raise UsageError(t(lang, "serve.bad_deadlines", where="(file)", why="not a mapping"))
    tz, late = _zone(doc.get("timezone"), lang), doc.get("late") or {}
    due = {}
    for key, value in (doc.get("stages") or {}).items():
        if not str(key).isdigit() or int(key) not in stages:
            raise UsageError(t(lang, "serve.bad_deadlines", where=f"stages.{key}", why="no such stage"))
        due[int(key)] = _when(value, tz, f"stages.{key}", lang)
    ext = {(str(who), int(stage)): _when(value, tz, f"extensions.{who}.{stage}", lang)
           for who, per in (doc.get("extensions") or {}).items() for stage, value in (per or {}).items()}
    try:
        return Policy(due, ext, float(late.get("penalty_per_day", 0.0)),
                      None if late.get("max_days") is None else int(late["max_days"]), int(late.get("late_days", 0)))
    except (TypeError, ValueError) as exc:
        raise UsageError(t(lang, "serve.bad_deadlines", where="late", why=str(exc))) from None


def load(path: Optional[str], stages: Sequence[int], lang: str = "en") -> Optional[Policy]:
    if not path:
        return None
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(t(lang, "serve.bad_deadlines", where=path, why=str(exc).splitlines()[0])) from None
    return parse(doc, stages, lang)
