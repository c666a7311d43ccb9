"""What the teacher's page shows, computed from the queue of record (pure reads).

The heat map and the gradebook take each student's best graded submission per stage (after
the late policy, grader/serve/deadlines.py, when there is one); the gradebook CSV is written
by the batch's own code (grader.batch.gradebook.csv_text), so its columns and formatting
are those of `grade batch`."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa

from grader.batch.gradebook import csv_text
from grader.course.digest import course_hash
from grader.batch.rows import STATUS_NOT_HANDED_IN, num, reason, summarize
from grader.serve.deadlines import Late, Policy
from grader.serve.db import students, submissions
from grader.verdict import Report, StageResult

BINS = 10


@dataclass(frozen=True)
class Counted:
    """The submission that counts for a student's stage, and its score after the late policy."""

    id: int
    student_id: str
    stage: int
    score: float
    max_score: Optional[float]
    raw: float
    late: Late = Late()


def best_rows(conn: sa.Connection, student: Optional[str] = None,
              policy: Optional[Policy] = None) -> dict[tuple[str, int], Counted]:
    """(student, stage) -> the graded submission worth most (the latest among equals), after
    the late policy when there is one."""
    c = submissions.c
    q = sa.select(c.id, c.student_id, c.stage, c.score, c.max_score, c.received_at).where(c.state == "graded")
    if student is not None:
        q = q.where(c.student_id == student)
    grouped: dict[str, dict[int, list]] = {}
    for row in conn.execute(q.order_by(c.id)):
        grouped.setdefault(row.student_id, {}).setdefault(row.stage, []).append(row)
    chosen = policy or Policy()  # no policy: nothing is late
    out = {}
    for sid, by_stage in grouped.items():
        for stage, (row, late) in chosen.choose(sid, by_stage).items():
            raw = row.score or 0.0
            out[(sid, stage)] = Counted(row.id, sid, stage, round(raw * late.factor, 6), row.max_score, raw, late)
    return out


def latest_rows(conn: sa.Connection, student: Optional[str] = None) -> dict[tuple[str, int], sa.Row]:
    c = submissions.c
    q = sa.select(c.id, c.student_id, c.stage, c.score, c.max_score, c.report).where(c.state == "graded")
    if student is not None:
        q = q.where(c.student_id == student)
    return {(r.student_id, r.stage): r for r in conn.execute(q.order_by(c.id))}


def heat(conn: sa.Connection, policy: Optional[Policy] = None) -> dict[str, dict[str, float]]:
    """student -> stage -> best score as a fraction of the stage's points."""
    out: dict[str, dict[str, float]] = {}
    for (sid, stage), row in best_rows(conn, policy=policy).items():
        out.setdefault(sid, {})[str(stage)] = round((row.score or 0) / row.max_score, 4) if row.max_score else 0.0
    return out


def histograms(cells: dict[str, dict[str, float]], stages: list[int]) -> dict[str, list[int]]:
    """stage -> how many students' best score falls in each tenth (the last bin is full marks)."""
    out = {str(n): [0] * (BINS + 1) for n in stages}
    for row in cells.values():
        for stage, frac in row.items():
            if stage in out:
                out[stage][min(BINS, int(frac * BINS + 1e-9))] += 1
    return out


def failures(conn: sa.Connection, limit: int = 12) -> list[dict[str, Any]]:
    """The cases most students fail in their latest graded submission, with the commonest message."""
    counts: Counter = Counter()
    messages: dict[tuple[int, str], Counter] = {}
    for (_sid, stage), row in latest_rows(conn).items():
        for st in (json.loads(row.report or "{}").get("stages") or []):
            for case in st.get("cases") or []:
                if case.get("status") != "passed":
                    key = (stage, str(case.get("name")))
                    counts[key] += 1
                    messages.setdefault(key, Counter())[str(case.get("message") or "")[:200]] += 1
    return [{"stage": s, "case": name, "students": n, "message": messages[(s, name)].most_common(1)[0][0]}
            for (s, name), n in counts.most_common(limit)]


def percentiles(conn: sa.Connection) -> dict[str, dict[str, Optional[float]]]:
    """p50/p95 seconds from receiving a submission to its first verdict, its end, its report shown."""
    c = submissions.c
    rows = conn.execute(sa.select(c.received_at, c.first_verdict_at, c.finished_at, c.reported_at)
                        .where(c.state == "graded").order_by(c.id.desc()).limit(2000)).all()
    out = {}
    for name in ("first_verdict_at", "finished_at", "reported_at"):
        values = sorted(getattr(r, name) - r.received_at for r in rows if getattr(r, name) is not None)
        out[name] = {"p50": _pct(values, 0.50), "p95": _pct(values, 0.95), "n": len(values)}
    return out


def _pct(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def counts(conn: sa.Connection) -> dict[str, int]:
    c = submissions.c
    return dict(conn.execute(sa.select(c.state, sa.func.count()).group_by(c.state)).all())


def snapshot(engine: sa.Engine, stages: list[int], policy: Optional[Policy] = None) -> dict[str, Any]:
    with engine.connect() as conn:
        cells = heat(conn, policy)
        out = {"heat": cells, "histograms": histograms(cells, stages), "failures": failures(conn),
               "latency": percentiles(conn), "states": counts(conn)}
    from grader.serve.regrade import recent
    out["regrades"] = recent(engine)
    return out


def _late_adjusted(stage: StageResult, counted: Counted) -> StageResult:
    """The stage's score as the late policy counts it (unchanged when on time)."""
    if counted.late.factor != 1.0:
        stage.score = round(stage.score * counted.late.factor, 6)
    return stage


def gradebook_csv(engine: sa.Engine, course, lang: str, policy: Optional[Policy] = None) -> str:
    """One row per student of the roster, as `grade batch` writes gradebook.csv: its columns
    are the stages someone submitted, each student's best graded submission per stage."""
    with engine.connect() as conn:
        best = best_rows(conn, policy=policy)
        submitted = set(conn.execute(sa.select(submissions.c.stage).distinct()).scalars())
        reports = {r.id: r.report for r in conn.execute(
            sa.select(submissions.c.id, submissions.c.report).where(submissions.c.id.in_([b.id for b in best.values()])))}
        roster = conn.execute(sa.select(students.c.id).order_by(students.c.id)).scalars().all()
    columns = [s for s in course.stages if s.number in submitted]
    stage_max = {s.number: num(sum(c.points for c in s.cases)) for s in columns}
    files = ", ".join(sorted({s.file for s in course.stages}))
    rows = []
    for sid in roster:
        stages = [_late_adjusted(StageResult.from_dict(st), b) for (who, _n), b in sorted(best.items()) if who == sid
                  for st in json.loads(reports[b.id] or "{}").get("stages") or []]
        report = Report(submission=sid, course=str(course.root), seed=None, lang=lang, stages=stages)
        row = {"id": sid, **summarize(report, stage_max, lang), "max": num(sum(stage_max.values()))}
        if row["status"] == STATUS_NOT_HANDED_IN:
            row["reason"] = reason("batch.no_stage_files", files=files).text(lang)
        rows.append(row)
    return csv_text(rows, columns, (str(course.root), course_hash(course.root)))  # as write_outputs does
