"""The queue of record: every submission is a row (file inside) before anything grades it.

States: queued -> running -> graded | not_gradable; a queued submission that a newer one of
the same student and stage replaces becomes superseded (kept, never graded). A running job
holds a lease that its worker extends; a lease that expires (the worker died) puts the job
back in the queue, and after MAX_ATTEMPTS tries it ends not gradable with the reason. Every
write that ends a job is conditional on the lease, so a job's result is written once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa

from grader.serve.db import events, submissions

MAX_ATTEMPTS = 3
LEASE_S = 30.0


class Refused(Exception):
    """A submission not taken: `key` names the catalog sentence, `retry_after` the seconds to wait."""

    def __init__(self, key: str, status: int, retry_after: int):
        super().__init__(key)
        self.key, self.status, self.retry_after = key, status, max(1, int(retry_after))


@dataclass(frozen=True)
class QueueCaps:
    max_queue: int = 500          # queued submissions beyond which new ones get 503
    rate_count: int = 10          # submissions per student ...
    rate_window_s: float = 60.0   # ... in this window


def _final_event(conn: sa.Connection, sub_id: int, state: str, now: float, **data: Any) -> None:
    conn.execute(events.insert().values(submission_id=sub_id, kind="final",
                                        data=json.dumps({"state": state, **data}), created_at=now))


def _move(conn: sa.Connection, sub_id: int, from_state: str, **values: Any) -> bool:
    """One row from one state to another, only if it is still in the first: True when it was."""
    c = submissions.c
    return conn.execute(submissions.update().where(c.id == sub_id, c.state == from_state).values(**values)).rowcount == 1


def submit(engine: sa.Engine, student: str, stage: int, filename: str, content: bytes,
           received_at: float, limits: QueueCaps = QueueCaps(), priority: int = 0) -> int:
    """Store a submission (file and row, one transaction); an older queued one of the same
    student and stage is superseded. Raises Refused for a full queue or a student over the rate."""
    c = submissions.c
    with engine.begin() as conn:
        # interactive work only: a regrade of the whole class waiting behind it does not fill the queue
        queued = conn.scalar(sa.select(sa.func.count()).where(c.state == "queued", c.regrade_id.is_(None)))
        if queued >= limits.max_queue:
            raise Refused("serve.queue_full", 503, retry_after=estimate_s(conn, queued))
        recent = conn.scalar(sa.select(sa.func.count()).where(
            c.student_id == student, c.received_at > received_at - limits.rate_window_s,
            c.state != "not_gradable", c.regrade_id.is_(None)))
        if recent >= limits.rate_count:
            raise Refused("serve.rate_limited", 429, retry_after=limits.rate_window_s)
        now = time.time()
        older = conn.execute(sa.select(c.id).where(c.student_id == student, c.stage == stage,
                                                   c.state == "queued")).scalars().all()
        for sid in older:  # one by one, each only if still queued (a worker may have taken it meanwhile)
            if _move(conn, sid, "queued", state="superseded", finished_at=now):
                _final_event(conn, sid, "superseded", now)
        return conn.execute(submissions.insert().values(
            student_id=student, stage=stage, priority=priority, filename=filename, content=content,
            state="queued", attempts=0, received_at=received_at, queued_at=now)).inserted_primary_key[0]


def _runnable(conn: sa.Connection) -> Optional[int]:
    """The next queued job whose student has nothing running in that stage (interactive first)."""
    q, r = submissions.alias("q"), submissions.alias("r")
    busy = sa.select(r.c.id).where(r.c.state == "running", r.c.student_id == q.c.student_id,
                                   r.c.stage == q.c.stage).exists()
    return conn.scalar(sa.select(q.c.id).where(q.c.state == "queued", ~busy)
                       .order_by(q.c.priority, q.c.id).limit(1))


def claim(engine: sa.Engine, owner: str, lease_s: float = LEASE_S) -> Optional[sa.Row]:
    """Take the next job: running, leased to `owner`. None when nothing can run now."""
    c = submissions.c
    for _ in range(5):  # another worker may take the same row first: try the next one
        with engine.begin() as conn:
            sid = _runnable(conn)
            if sid is None:
                return None
            now = time.time()
            taken = conn.execute(submissions.update().where(c.id == sid, c.state == "queued").values(
                state="running", lease_owner=owner, lease_until=now + lease_s, attempts=c.attempts + 1,
                started_at=now)).rowcount
            if taken == 1:
                return conn.execute(sa.select(submissions).where(c.id == sid)).one()
    return None


def extend(engine: sa.Engine, owner: str, ids: list[int], lease_s: float = LEASE_S) -> None:
    """The worker is alive: its jobs' leases run on."""
    if ids:
        c = submissions.c
        with engine.begin() as conn:
            conn.execute(submissions.update().where(c.id.in_(ids), c.state == "running", c.lease_owner == owner)
                         .values(lease_until=time.time() + lease_s))


def add_stage_event(engine: sa.Engine, sub_id: int, owner: str, data: dict) -> bool:
    """One stage's verdicts, as the worker has them (ignored when the lease is no longer ours)."""
    return _add_event(engine, sub_id, owner, "stage", data)


def add_case_event(engine: sa.Engine, sub_id: int, owner: str, data: dict) -> bool:
    """One case's verdict while its stage runs (grader.verdict.CaseVerdict.to_dict); the stage's event follows."""
    return _add_event(engine, sub_id, owner, "case", data)


def _add_event(engine: sa.Engine, sub_id: int, owner: str, kind: str, data: dict) -> bool:
    c = submissions.c
    now = time.time()
    with engine.begin() as conn:
        ours = conn.execute(submissions.update().where(c.id == sub_id, c.state == "running", c.lease_owner == owner)
                            .values(first_verdict_at=sa.func.coalesce(c.first_verdict_at, now))).rowcount
        if ours:
            conn.execute(events.insert().values(submission_id=sub_id, kind=kind, data=json.dumps(data),
                                                created_at=now))
        return bool(ours)


def finish(engine: sa.Engine, sub_id: int, owner: str, state: str, *, score: Optional[float] = None,
           max_score: Optional[float] = None, reason: Optional[str] = None, report: Optional[dict] = None) -> bool:
    """The job's end, written once: False when the lease was lost (another attempt owns it)."""
    c = submissions.c
    now = time.time()
    with engine.begin() as conn:
        done = conn.execute(submissions.update().where(c.id == sub_id, c.state == "running", c.lease_owner == owner)
                            .values(state=state, finished_at=now, score=score, max_score=max_score, reason=reason,
                                    report=json.dumps(report) if report is not None else None,
                                    lease_owner=None, lease_until=None)).rowcount
        if done:
            _final_event(conn, sub_id, state, now, score=score, max_score=max_score, reason=reason)
        return bool(done)


def requeue(engine: sa.Engine, reason: str, expired_only: bool = True, owner_prefix: Optional[str] = None) -> int:
    """Jobs whose worker is gone back in the queue (at start every running one, a dead
    worker's at once, else expired leases: the watchdog); a job tried MAX_ATTEMPTS times
    ends not gradable with `reason`."""
    c = submissions.c
    now = time.time()
    lost = c.state == "running"
    if expired_only:
        lost = sa.and_(lost, c.lease_until < now)
    if owner_prefix is not None:
        lost = sa.and_(lost, c.lease_owner.startswith(owner_prefix, autoescape=True))
    with engine.begin() as conn:
        dead = conn.execute(sa.select(c.id).where(lost, c.attempts >= MAX_ATTEMPTS)).scalars().all()
        dead = [sid for sid in dead if _move(conn, sid, "running", state="not_gradable", reason=reason,
                                              finished_at=now, lease_owner=None, lease_until=None)]
        for sid in dead:
            _final_event(conn, sid, "not_gradable", now, reason=reason)
        back = conn.execute(submissions.update().where(lost, c.attempts < MAX_ATTEMPTS).values(
            state="queued", lease_owner=None, lease_until=None, started_at=None, first_verdict_at=None)).rowcount
        # the verdicts of the lost attempt are void: the next attempt streams its own
        conn.execute(events.delete().where(events.c.kind.in_(("stage", "case")), events.c.submission_id.in_(
            sa.select(c.id).where(c.state == "queued"))))
        return back + len(dead)


def estimate_s(conn: sa.Connection, ahead: int, workers: int = 2) -> float:
    """Seconds until a job with `ahead` jobs before it starts: recent grading times, shared by the workers."""
    c = submissions.c
    recent = sa.select((c.finished_at - c.started_at).label("d")).where(c.state == "graded") \
        .order_by(c.id.desc()).limit(20).subquery()
    mean = conn.scalar(sa.select(sa.func.avg(recent.c.d))) or 2.0
    return (ahead + 1) * float(mean) / max(1, workers)


def position(engine: sa.Engine, sub_id: int, workers: int = 2) -> tuple[int, float]:
    """(jobs ahead of this queued one, estimated seconds until it is graded)."""
    c = submissions.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.priority, c.id).where(c.id == sub_id)).one()
        ahead = conn.scalar(sa.select(sa.func.count()).where(
            c.state == "queued", sa.or_(c.priority < row.priority, sa.and_(c.priority == row.priority, c.id < row.id))))
        running = conn.scalar(sa.select(sa.func.count()).where(c.state == "running"))
        return ahead, estimate_s(conn, ahead + running, workers)


def mark_reported(engine: sa.Engine, sub_id: int) -> None:
    c = submissions.c
    with engine.begin() as conn:
        conn.execute(submissions.update().where(c.id == sub_id, c.reported_at.is_(None))
                     .values(reported_at=time.time()))
