"""Gradebook rows: one per student, from a report (or from why there is none).

A row's `reason` is written in the report's language from a `Reason` (a catalog key and its
parameters) that travels from where the problem was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from grader.messages import t
from grader.safe_text import one_line
from grader.verdict import Report, StageResult, Status

STATUS_GRADED = "graded"
STATUS_ERROR = "error"
STATUS_NOT_GRADED = "not graded"


@dataclass(frozen=True)
class Reason:
    """A sentence of the catalog (`grader.messages`, keys ``batch.*``) and its parameters."""

    key: str
    params: dict = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return t(lang, self.key, **self.params)


def reason(key: str, **params: Any) -> Reason:
    return Reason(key, params)


def num(x: float) -> float | int:
    x = round(float(x), 4)
    return int(x) if x == int(x) else x


def summarize(report: Report, stage_max: dict[int, float], lang: str = "en") -> dict:
    """Row fields from a report: per-stage scores, total, status and reason."""
    scores: dict[int, Optional[float]] = {n: None for n in stage_max}
    for st in report.stages:
        if st.number in scores or not stage_max:
            scores[st.number] = num(st.score)
    errors = _errors(report.stages, lang)
    if not report.stages:
        status, why = STATUS_NOT_GRADED, t(lang, "batch.no_stage_files_short")
    elif errors:
        status, why = STATUS_ERROR, _group_errors(errors, lang)
    else:
        status, why = STATUS_GRADED, ""
    return {"scores": scores, "total": num(sum(v for v in scores.values() if v)), "status": status,
            "reason": why, "duration_s": round(sum(st.duration_s for st in report.stages), 3),
            "run_s": round(sum(st.run_s for st in report.stages), 3)}


def tally(rows: list[dict]) -> dict[str, int]:
    """Every student in exactly one count (they add up to the number of students): graded
    in this run, unchanged (taken from the cache), with errors, not graded."""
    out = {"graded": 0, "cached": 0, "errors": 0, "not_graded": 0}
    for r in rows:
        if r["status"] == STATUS_ERROR:
            out["errors"] += 1
        elif r["status"] == STATUS_NOT_GRADED:
            out["not_graded"] += 1
        else:
            out["cached" if r.get("cached") else "graded"] += 1
    return out


def _errors(stages: list[StageResult], lang: str) -> list[tuple[str, str]]:
    """(stage label, message) for each stage that errored or had a case time out."""
    errors = []
    for st in stages:
        label = f"{st.number} {st.slug}".strip()
        if st.status == Status.ERROR:
            errors.append((label, one_line(st.message or "error", 160)))
            continue
        timeout = next((c for c in st.cases if c.status == Status.TIMEOUT), None)
        if timeout is not None:
            errors.append((label, one_line(timeout.message or t(lang, "batch.case_timeout", name=timeout.name), 160)))
    return errors


def _group_errors(errors: list[tuple[str, str]], lang: str) -> str:
    groups: dict[str, list[str]] = {}
    for label, msg in errors:
        groups.setdefault(msg, []).append(label)
    parts = [t(lang, "batch.stage_group", labels=", ".join(labels), msg=msg) for msg, labels in groups.items()]
    return one_line("; ".join(parts), 240)
