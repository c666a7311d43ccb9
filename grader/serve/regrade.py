"""Regrade a stage for everyone, after a spec change (no restart needed).

One job per stage at a time (regrades.open_stage is unique while it runs): starting it
again while it runs returns the running one. Its submissions are copies of each student's
latest own graded submission of the stage, queued behind interactive work (priority 1),
graded and resumed after a restart like any other. Its status lists every student's score
before (under the course as it was) and after.

The course's digest (grader/course/digest.py) as the web process loaded it from disk is
stored with the jobs (setting `course_digest`, in the same transaction): a worker that sees
it change loads the course afresh before its next job, so the regrade and every submission
after it are graded with the course as it is now.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import sqlalchemy as sa

from grader.serve.db import FINAL_STATES, regrades, settings, submissions

PRIORITY = 1  # behind interactive submissions (0)
DIGEST_KEY = "course_digest"


def _latest_own(conn: sa.Connection, stage: int) -> list[sa.Row]:
    """Each student's latest graded submission of the stage that was theirs (not a regrade)."""
    c = submissions.c
    rows = conn.execute(sa.select(c.id, c.student_id, c.filename, c.content).where(
        c.stage == stage, c.state == "graded", c.regrade_id.is_(None)).order_by(c.id)).all()
    return list({r.student_id: r for r in rows}.values())


def put_digest(conn: sa.Connection, digest: str) -> None:
    """The course's digest that the workers must grade with (they load it afresh when it changes)."""
    conn.execute(settings.delete().where(settings.c.key == DIGEST_KEY))
    conn.execute(settings.insert().values(key=DIGEST_KEY, value=digest))


def wanted_digest(engine: sa.Engine) -> Optional[str]:
    with engine.connect() as conn:
        return conn.scalar(sa.select(settings.c.value).where(settings.c.key == DIGEST_KEY))


def start(engine: sa.Engine, stage: int, digest: Optional[str] = None) -> tuple[int, bool]:
    """(the regrade's id, whether it was started now); a running one of the stage is returned as is.
    `digest`: the course's as it is on disk now, stored for the workers with the jobs."""
    close_finished(engine)
    now = time.time()
    try:
        with engine.begin() as conn:
            if digest is not None:
                put_digest(conn, digest)
            sources = _latest_own(conn, stage)
            rid = conn.execute(regrades.insert().values(stage=stage, open_stage=stage, total=len(sources),
                                                        created_at=now)).inserted_primary_key[0]
            for src in sources:
                conn.execute(submissions.insert().values(
                    student_id=src.student_id, stage=stage, priority=PRIORITY, filename=src.filename,
                    content=src.content, state="queued", attempts=0, received_at=now, queued_at=now,
                    regrade_id=rid, source_id=src.id))
    except sa.exc.IntegrityError:  # one is running for this stage: that one
        if digest is not None:
            with engine.begin() as conn:
                put_digest(conn, digest)
        with engine.connect() as conn:
            return conn.scalar(sa.select(regrades.c.id).where(regrades.c.open_stage == stage)), False
    close_finished(engine)
    return rid, True


def close_finished(engine: sa.Engine) -> None:
    """Regrades whose submissions have all ended are done (their stage may be regraded again)."""
    c = submissions.c
    pending = sa.select(c.id).where(c.regrade_id == regrades.c.id, c.state.not_in(FINAL_STATES)).exists()
    with engine.begin() as conn:
        conn.execute(regrades.update().where(regrades.c.finished_at.is_(None), ~pending)
                     .values(finished_at=time.time(), open_stage=None))


def status(engine: sa.Engine, rid: int) -> Optional[dict[str, Any]]:
    """Progress and the before/after score of every student in the regrade."""
    close_finished(engine)
    c = submissions.c
    src = submissions.alias("src")
    with engine.connect() as conn:
        job = conn.execute(sa.select(regrades).where(regrades.c.id == rid)).first()
        if job is None:
            return None
        rows = conn.execute(sa.select(c.id, c.student_id, c.state, c.score, c.max_score, src.c.score.label("before"))
                            .join(src, src.c.id == c.source_id).where(c.regrade_id == rid)
                            .order_by(c.student_id)).all()
    students = [{"student": r.student_id, "before": r.before, "after": r.score, "max": r.max_score,
                 "state": r.state, "id": r.id} for r in rows]
    done = sum(1 for r in rows if r.state in FINAL_STATES)
    return {"id": job.id, "stage": job.stage, "total": job.total, "done": done,
            "finished": job.finished_at is not None, "students": students}


def recent(engine: sa.Engine, limit: int = 10) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        ids = conn.execute(sa.select(regrades.c.id).order_by(regrades.c.id.desc()).limit(limit)).scalars().all()
    out = []
    for rid in ids:
        st = status(engine, rid)
        out.append({k: st[k] for k in ("id", "stage", "total", "done", "finished")})
    return out
