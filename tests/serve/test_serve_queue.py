"""The queue of record, on SQLite and on a real PostgreSQL server: stored first, leased,
superseded, requeued after a crash, never finished twice, refused when full."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from grader.serve import auth, queue
from grader.serve.db import events, open_db, submissions
from serve_fixtures import db_url, pg_url  # noqa: F401 (fixtures)


@pytest.fixture
def engine(db_url):
    eng = open_db(db_url)
    auth.issue(eng, [("alice", "Alice"), ("bob", "Bob")])
    yield eng
    eng.dispose()


def _row(engine, sub_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(submissions).where(submissions.c.id == sub_id)).one()


def _events(engine, sub_id):
    with engine.connect() as conn:
        return [(e.kind, json.loads(e.data)) for e in conn.execute(
            sa.select(events).where(events.c.submission_id == sub_id).order_by(events.c.id))]


def test_migrations_run_twice_and_stop_at_head(db_url):
    open_db(db_url).dispose()
    eng = open_db(db_url)  # a second start finds the schema current: nothing to do
    with eng.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0002"
        assert {"settings", "students", "submissions", "events", "regrades"} <= set(sa.inspect(conn).get_table_names())
    eng.dispose()


def test_a_submission_is_stored_with_its_file_and_times(engine):
    t0 = time.time()
    sid = queue.submit(engine, "alice", 1, "activation.py", b"print('hi')\n", t0)
    row = _row(engine, sid)
    assert (row.state, row.content, row.attempts, row.filename) == ("queued", b"print('hi')\n", 0, "activation.py")
    assert row.received_at == t0 and row.queued_at >= t0 and row.started_at is None


def test_a_newer_submission_supersedes_the_queued_one_of_the_same_stage_only(engine):
    old = queue.submit(engine, "alice", 1, "activation.py", b"a", time.time())
    other_stage = queue.submit(engine, "alice", 2, "activation.py", b"b", time.time())
    other_student = queue.submit(engine, "bob", 1, "activation.py", b"c", time.time())
    new = queue.submit(engine, "alice", 1, "activation.py", b"d", time.time())
    assert _row(engine, old).state == "superseded" and _row(engine, old).content == b"a"  # kept
    assert [k for k, _ in _events(engine, old)] == ["final"]  # its page learns it is over
    assert {_row(engine, i).state for i in (other_stage, other_student, new)} == {"queued"}


def test_one_running_submission_per_student_and_stage(engine):
    first = queue.submit(engine, "alice", 1, "activation.py", b"a", time.time())
    job = queue.claim(engine, "w1")
    assert job.id == first and job.state == "running" and job.attempts == 1
    second = queue.submit(engine, "alice", 1, "activation.py", b"b", time.time())
    bob = queue.submit(engine, "bob", 1, "activation.py", b"c", time.time())
    assert queue.claim(engine, "w2").id == bob  # alice's second waits for her first
    assert queue.claim(engine, "w2") is None
    assert queue.finish(engine, first, "w1", "graded", score=9, max_score=9, report={"stages": []})
    assert queue.claim(engine, "w2").id == second


def test_a_job_is_finished_once_and_only_by_its_lease_holder(engine):
    sid = queue.submit(engine, "alice", 1, "activation.py", b"a", time.time())
    queue.claim(engine, "w1")
    assert not queue.finish(engine, sid, "intruder", "graded", score=0, max_score=9)
    assert not queue.add_stage_event(engine, sid, "intruder", {"number": 1})
    assert queue.add_stage_event(engine, sid, "w1", {"number": 1})
    assert queue.finish(engine, sid, "w1", "graded", score=9, max_score=9)
    assert not queue.finish(engine, sid, "w1", "graded", score=1, max_score=9)  # no second result
    row = _row(engine, sid)
    assert (row.state, row.score) == ("graded", 9) and row.first_verdict_at and row.finished_at
    assert [k for k, _ in _events(engine, sid)] == ["stage", "final"]


def test_a_restart_requeues_running_jobs_and_voids_their_partial_verdicts(engine):
    sid = queue.submit(engine, "alice", 1, "activation.py", b"a", time.time())
    queue.claim(engine, "dead-worker")
    queue.add_stage_event(engine, sid, "dead-worker", {"number": 1})
    assert queue.requeue(engine, "lost", expired_only=False) == 1
    row = _row(engine, sid)
    assert (row.state, row.lease_owner, row.attempts) == ("queued", None, 1)
    assert _events(engine, sid) == []
    assert not queue.finish(engine, sid, "dead-worker", "graded", score=9, max_score=9)  # too late
    assert queue.claim(engine, "w2").attempts == 2


def test_the_watchdog_requeues_expired_leases_then_gives_the_reason(engine):
    sid = queue.submit(engine, "alice", 1, "activation.py", b"a", time.time())
    alive = queue.submit(engine, "bob", 1, "activation.py", b"b", time.time())
    for attempt in range(queue.MAX_ATTEMPTS):
        queue.claim(engine, f"w{attempt}", lease_s=-1)  # the lease is over at once: a worker that died
        if attempt == 0:
            queue.claim(engine, "healthy", lease_s=600)
        assert queue.requeue(engine, "the grader stopped 3 times") == 1
    row = _row(engine, sid)
    assert (row.state, row.reason) == ("not_gradable", "the grader stopped 3 times")
    assert _events(engine, sid)[-1] == ("final", {"state": "not_gradable", "reason": "the grader stopped 3 times"})
    assert _row(engine, alive).state == "running"  # a live lease is left alone


def test_a_full_queue_refuses_with_retry_after_and_stores_nothing(engine):
    limits = queue.QueueCaps(max_queue=2)
    queue.submit(engine, "alice", 1, "activation.py", b"a", time.time(), limits)
    queue.submit(engine, "alice", 2, "activation.py", b"b", time.time(), limits)
    with pytest.raises(queue.Refused) as exc:
        queue.submit(engine, "bob", 1, "activation.py", b"c", time.time(), limits)
    assert exc.value.status == 503 and exc.value.retry_after >= 1 and exc.value.key == "serve.queue_full"
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(submissions)) == 2


def test_the_rate_limit_counts_one_students_recent_submissions(engine):
    limits = queue.QueueCaps(rate_count=3, rate_window_s=60)
    now = time.time()
    for stage in (1, 2, 3):
        queue.submit(engine, "alice", stage, "activation.py", b"a", now, limits)
    with pytest.raises(queue.Refused) as exc:
        queue.submit(engine, "alice", 4, "mp_neuron.py", b"a", now, limits)
    assert exc.value.status == 429 and exc.value.retry_after == 60
    queue.submit(engine, "bob", 1, "activation.py", b"a", now, limits)  # others are not slowed
    queue.submit(engine, "alice", 4, "mp_neuron.py", b"a", now + 61, limits)  # the window has passed


def test_queue_position_counts_jobs_ahead_interactive_first(engine):
    a = queue.submit(engine, "alice", 1, "activation.py", b"a", time.time(), priority=1)
    b = queue.submit(engine, "bob", 1, "activation.py", b"b", time.time())
    c = queue.submit(engine, "bob", 2, "activation.py", b"c", time.time())
    assert queue.position(engine, b)[0] == 0 and queue.position(engine, c)[0] == 1
    assert queue.position(engine, a)[0] == 2
    ahead, estimate = queue.position(engine, c)
    assert estimate > 0
    assert queue.claim(engine, "w").id == b


def test_tokens_are_stored_hashed_and_compared_whole(engine):
    issued = auth.issue(engine, [("carol", "Carol"), ("alice", "again")])
    assert [i.id for i in issued] == ["carol"]  # alice keeps her token
    stored = auth.student_hash(engine, "carol")
    assert stored != issued[0].token and auth.same(issued[0].token, stored)
    assert not auth.same(issued[0].token[:-1], stored) and not auth.same("", stored) and not auth.same(None, stored)


def test_a_reissued_token_replaces_the_old_one(engine):
    from grader.errors import UsageError

    (old,) = auth.issue(engine, [("carol", "Carol")])
    (new,) = auth.reissue(engine, ["carol"])
    stored = auth.student_hash(engine, "carol")
    assert auth.same(new.token, stored) and not auth.same(old.token, stored) and new.name == "Carol"
    with pytest.raises(UsageError, match="no student 'dave'"):
        auth.reissue(engine, ["dave"])
    first = auth.teacher_token(engine)
    assert auth.teacher_token(engine) is None  # kept
    second = auth.teacher_token(engine, rotate=True)
    assert auth.same(second, auth.teacher_hash(engine)) and not auth.same(first, auth.teacher_hash(engine))
