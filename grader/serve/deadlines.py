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
    visibility:                 # per stage and case: visible (default), after_due_date, hidden
      1: {large-random: after_due_date}

A day late is any part of 24 hours after the due date. For each student, stages are taken in
the order of their due dates; each stage counts the submission worth most once late days
(as many as it needs, while the bank lasts) and the penalty are applied. Pure: no database.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping, Optional, Sequence

import yaml

from grader.errors import UsageError
from grader.messages import t

DAY_S = 86400.0
VISIBILITY = ("visible", "after_due_date", "hidden")  # a case's verdict shown to its student: always, after the due date, never


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
    visibility: dict[int, dict[str, str]] = field(default_factory=dict)  # stage -> case name -> VISIBILITY

    def withheld(self, student: str, stage: int, now: float) -> frozenset[str]:
        """The cases of the stage whose verdicts the student may not see now."""
        due = self.due_for(student, stage)
        return frozenset(name for name, v in self.visibility.get(stage, {}).items()
                         if v == "hidden" or (v == "after_due_date" and (due is None or now <= due)))

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


def _stage_key(key: Any, stages: Mapping[int, Collection[str]], where: str, lang: str) -> int:
    if not str(key).isdigit() or int(key) not in stages:
        raise UsageError(t(lang, "serve.bad_deadlines", where=where, why=t(lang, "serve.no_such_stage", stage=key)))
    return int(key)


def _visibility(doc: Any, stages: Mapping[int, Collection[str]], lang: str) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for key, per in (doc or {}).items():
        stage = _stage_key(key, stages, f"visibility.{key}", lang)
        for name, value in (per or {}).items():
            where = f"visibility.{key}.{name}"
            if str(name) not in stages[stage]:
                raise UsageError(t(lang, "serve.bad_deadlines", where=where, why=t(lang, "serve.no_such_case")))
            if value not in VISIBILITY:
                raise UsageError(t(lang, "serve.bad_deadlines", where=where, why=" | ".join(VISIBILITY)))
            out.setdefault(stage, {})[str(name)] = value
    return out


def parse(doc: Any, stages: Mapping[int, Collection[str]], lang: str = "en") -> Policy:
    """The policy of a deadlines document; `stages`: each stage number's case names."""
    if not isinstance(doc, dict):
        raise UsageError(t(lang, "serve.bad_deadlines", where="(file)", why=t(lang, "serve.not_a_mapping")))
    tz, late = _zone(doc.get("timezone"), lang), doc.get("late") or {}
    due = {_stage_key(k, stages, f"stages.{k}", lang): _when(v, tz, f"stages.{k}", lang)
           for k, v in (doc.get("stages") or {}).items()}
    ext = {(str(who), _stage_key(k, stages, f"extensions.{who}.{k}", lang)): _when(v, tz, f"extensions.{who}.{k}", lang)
           for who, per in (doc.get("extensions") or {}).items() for k, v in (per or {}).items()}
    try:
        numbers = (float(late.get("penalty_per_day", 0.0)), None if late.get("max_days") is None
                   else int(late["max_days"]), int(late.get("late_days", 0)))
    except (TypeError, ValueError, AttributeError) as exc:
        raise UsageError(t(lang, "serve.bad_deadlines", where="late", why=str(exc))) from None
    return Policy(due, ext, *numbers, visibility=_visibility(doc.get("visibility"), stages, lang))


def load(path: Optional[str], stages: Mapping[int, Collection[str]], lang: str = "en") -> Optional[Policy]:
    if not path:
        return None
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(t(lang, "serve.bad_deadlines", where=path, why=str(exc).splitlines()[0])) from None
    return parse(doc, stages, lang)
