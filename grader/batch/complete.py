"""One student, one denominator: the gradebook's stages a student did not hand in join their
report as 0 of their points ("not handed in"), so the student's page, gradebook.json, the CSV
and the overview all count out of the same maximum (the selected stages' total).

The cached result stays as graded: which stages are columns depends on the whole class (or
on --stage), so a report is completed when the outputs are written, not when it is graded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from grader.judging import judge
from grader.messages import t
from grader.verdict import Report, Status


def complete_report(report: Report, columns: Sequence[Any], lang: str) -> Report:
    """A copy of `report` with a stage for each column it lacks: "file not found", 0 of its
    points, not handed in (`unstarted`), no case listed (one line on the student's page, not
    one per case it never ran). `report` itself is left as graded."""
    have = {st.number for st in report.stages}
    stages = list(report.stages)
    for spec in columns:
        if spec.number not in have:
            missing = judge.stage_result(spec, lang, Status.ERROR, t(lang, "missing_file", file=spec.file), [])
            missing.unstarted = True
            stages.append(missing)
    stages.sort(key=lambda st: st.number)
    return dataclasses.replace(report, stages=stages, notes=list(report.notes))
