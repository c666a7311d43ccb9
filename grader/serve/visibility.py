"""What a student may see of a result: the verdicts of cases that the visibility policy
withholds (`visibility:` in --deadlines, grader/serve/deadlines.py) are taken out, their
points with them, and the stage says how many are not shown. Pure; the teacher sees all."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from grader.messages import t


def stage_view(stage: dict, withheld: frozenset, lang: str) -> dict:
    """The stage's dict (StageResult.to_dict) without the withheld cases."""
    cases = stage.get("cases") or []
    held = [c for c in cases if c.get("name") in withheld]
    if not held:
        return stage
    shown = [c for c in cases if c.get("name") not in withheld]
    points = sum(float(c.get("max_score") or 0) for c in held)
    status = stage.get("status")
    if status in ("passed", "failed"):  # whether the withheld ones passed is not told
        status = "passed" if all(c.get("status") == "passed" for c in shown) else "failed"
    return {**stage, "cases": shown, "status": status,
            "score": round(sum(float(c.get("score") or 0) for c in shown), 6),
            "max_score": round(sum(float(c.get("max_score") or 0) for c in shown), 6),
            "message": t(lang, "serve.withheld", n=len(held), points=f"{points:g}")}


def report_view(report: dict, policy, student: str, lang: str, now: Optional[float] = None) -> dict:
    """A report's dict as the student may see it now."""
    if policy is None or not policy.visibility:
        return report
    when = time.time() if now is None else now
    return {**report, "stages": [stage_view(st, policy.withheld(student, st.get("number"), when), lang)
                                 for st in report.get("stages") or []]}


def score_view(report_json: Optional[str], score: Any, max_score: Any, policy, student: str, stage: int,
               lang: str) -> tuple[Any, Any]:
    """(score, max score) of a submission as the student may see them now."""
    if policy is None or not policy.withheld(student, stage, time.time()) or not report_json:
        return score, max_score
    stages = report_view(json.loads(report_json), policy, student, lang).get("stages") or []
    return sum(s["score"] for s in stages), sum(s["max_score"] for s in stages)
