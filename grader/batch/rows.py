"""Gradebook rows: one per student, from a report (or from why there is none).

One vocabulary for a student's state, the same in the terminal, the overview and the CSV:
``not handed in`` (no stage file), ``not started`` (stage files, none begun: the template),
``graded``, ``error`` (said whose: the student's code crashed or timed out, or the grader
failed). A row's `reason` is written in the report's language from a `Reason` (a catalog key
and its parameters) that travels from where the problem was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from grader.messages import t
from grader.safe_text import one_line
from grader.verdict import Progress, Report, StageResult, Status

STATUS_GRADED = "graded"
STATUS_NOT_STARTED = "not started"
STATUS_NOT_HANDED_IN = "not handed in"
STATUS_ERROR = "error"
STATUS_NOT_GRADED = "not graded"  # not the student's state but the run's: interrupted before their turn
STATUSES = (STATUS_NOT_HANDED_IN, STATUS_NOT_STARTED, STATUS_GRADED, STATUS_ERROR, STATUS_NOT_GRADED)
FAULT_STUDENT, FAULT_GRADER = "student", "grader"
# Row-level problems that are the grader's, not the student's (everything else found before a
# report exists is about the submission itself: a bad zip, a symbolic link ...).
GRADER_KEYS = frozenset({"batch.grader_failed", "batch.start_failed", "batch.too_slow", "cluster.worker_died"})


@dataclass(frozen=True)
class Reason:
    """A sentence of the catalog (`grader.messages`, keys ``batch.*``) and its parameters."""

    key: str
    params: dict = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return t(lang, self.key, **self.params)

    @property
    def fault(self) -> str:
        return FAULT_GRADER if self.key in GRADER_KEYS else FAULT_STUDENT


def reason(key: str, **params: Any) -> Reason:
    return Reason(key, params)


def num(x: float) -> float | int:
    x = round(float(x), 4)
    return int(x) if x == int(x) else x


def status_label(row: dict, lang: str) -> str:
    """The status as a person reads it: "error (student's code)" says whose error it is."""
    if row["status"] == STATUS_ERROR:
        return t(lang, f"batch.status.error_{row.get('fault') or FAULT_STUDENT}")
    return t(lang, f"batch.status.{row['status'].replace(' ', '_')}")


def summarize(report: Report, stage_max: dict[int, float], lang: str = "en") -> dict:
    """Row fields from a report: per-stage scores, total, status, whose fault an error is, reason."""
    scores: dict[int, Optional[float]] = {n: None for n in stage_max}
    for st in report.stages:
        if (st.number in scores or not stage_max) and not _not_handed_in(st):
            scores[st.number] = num(st.score)
    handed_in = [st for st in report.stages if not _not_handed_in(st)]
    errors = _errors(handed_in, lang)
    fault = ""
    if not handed_in:
        status, why = STATUS_NOT_HANDED_IN, t(lang, "batch.no_stage_files_short")
    elif errors:
        status, why = STATUS_ERROR, _group_errors([(label, msg) for label, msg, _ in errors], lang)
        fault = FAULT_GRADER if any(g for _, _, g in errors) else FAULT_STUDENT
    elif all(st.progress == Progress.NOT_STARTED for st in handed_in):
        status, why = STATUS_NOT_STARTED, t(lang, "batch.all_unstarted")
    else:
        status, why = STATUS_GRADED, ""
    return {"scores": scores, "total": num(sum(v for v in scores.values() if v)), "status": status,
            "fault": fault, "reason": why, "run_s": round(sum(st.run_s for st in report.stages), 3)}


def _not_handed_in(st: StageResult) -> bool:
    return st.unstarted  # no file for it (a stage the gradebook lists, see complete.py)


def tally(rows: list[dict]) -> dict[str, int]:
    """Every student in exactly one count (they add up to the number of students): graded
    in this run, unchanged (taken from the cache), not started, with errors, not handed in, not
    graded (the run was interrupted first)."""
    out = {"graded": 0, "cached": 0, "not_started": 0, "errors": 0, "not_handed_in": 0, "not_graded": 0}
    for r in rows:
        if r["status"] == STATUS_NOT_GRADED:
            out["not_graded"] += 1
        elif r["status"] == STATUS_ERROR:
            out["errors"] += 1
        elif r["status"] == STATUS_NOT_HANDED_IN:
            out["not_handed_in"] += 1
        elif r["status"] == STATUS_NOT_STARTED:
            out["not_started"] += 1
        else:
            out["cached" if r.get("cached") else "graded"] += 1
    return out


def _errors(stages: list[StageResult], lang: str) -> list[tuple[str, str, bool]]:
    """(stage label, message, the grader's fault) for each stage that errored or had a case time out."""
    errors = []
    for st in stages:
        label = f"{st.number} {st.slug}".strip()
        if st.status == Status.ERROR:
            errors.append((label, one_line(st.message or "error", 160), st.grader_fault))
            continue
        timeout = next((c for c in st.cases if c.status == Status.TIMEOUT), None)
        if timeout is not None:
            errors.append((label, one_line(timeout.message or t(lang, "batch.case_timeout", name=timeout.name), 160),
                           False))
    return errors


def _group_errors(errors: list[tuple[str, str]], lang: str) -> str:
    groups: dict[str, list[str]] = {}
    for label, msg in errors:
        groups.setdefault(msg, []).append(label)
    parts = [t(lang, "batch.stage_group", labels=", ".join(labels), msg=msg) for msg, labels in groups.items()]
    return one_line("; ".join(parts), 240)
