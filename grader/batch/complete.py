"""One student, one denominator: the gradebook's stages a student did not hand in join their
report as 0 of their points, so the student's page, gradebook.json, the CSV and the overview
all count out of the same maximum (the selected stages' total).

The cached result stays as graded: which stages are columns depends on the whole class (or
on --stage), so a report is completed when the outputs are written, not when it is graded.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from grader.judging import judge
from grader.messages import t
from grader.verdict import Report, Status


def complete_report(report: Report, columns: Sequence[Any], lang: str) -> Report:
    """`report` with a stage for each column it lacks: "file not found", 0 of its points, and
    no case listed (one line on the student's page, not one per case it never ran)."""
    have = {st.number for st in report.stages}
    for spec in columns:
        if spec.number not in have:
            msg = t(lang, "missing_file", file=spec.file)
            report.stages.append(judge.stage_result(spec, lang, Status.ERROR, msg, []))
    report.stages.sort(key=lambda st: st.number)
    return report


def complete_payload(payload: Optional[dict], columns: Sequence[Any], lang: str) -> Optional[dict]:
    """A student's batch payload ({"report", "details"}) with both reports completed."""
    if not payload:
        return payload
    out = dict(payload)
    for part, details in (("report", False), ("details", True)):
        d = payload.get(part)
        if isinstance(d, dict):
            out[part] = complete_report(Report.from_dict(d), columns, lang).to_dict(details=details)
    return out
