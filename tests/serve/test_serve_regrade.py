"""Regrade a stage for everyone: one idempotent job, behind interactive work, with a
before/after score per student; and the migration that added it keeps existing data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from serve_fixtures import db_url, make_server, pg_url  # noqa: F401 (fixtures)

from grader.serve import auth, queue, regrade  # noqa: E402
from grader.serve import db as serve_db  # noqa: E402
from grader.serve.db import connect, open_db, submissions  # noqa: E402


def _graded(engine, who: str, stage: int, score: float) -> int:
    sid = queue.submit(engine, who, stage, "activation.py", f"# {who} {score}".encode(), time.time())
    job = queue.claim(engine, "w")
    assert job.id == sid
    queue.finish(engine, sid, "w", "graded", score=score, max_score=9, report={"stages": []})
    return sid


def test_the_migration_to_regrades_keeps_the_submissions_there(db_url):
    from alembic import command
    from alembic.config import Config

    engine = connect(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(serve_db.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(sa.text("INSERT INTO students (id, name, token_hash) VALUES ('alice', 'Alice', 'x')"))
        conn.execute(sa.text("INSERT INTO submissions (student_id, stage, priority, filename, content, state, attempts,"
                             " received_at, queued_at) VALUES ('alice', 1, 0, 'activation.py', :c, 'queued', 0, 1, 1)"),
                     {"c": b"code"})
    engine.dispose()
    engine = open_db(db_url)  # to the head
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0002"
        row = conn.execute(sa.select(submissions)).one()
    assert (row.content, row.state, row.regrade_id, row.source_id) == (b"code", "queued", None, None)
    engine.dispose()


def test_regrade_all_is_one_job_behind_interactive_work_with_a_diff(db_url):
    engine = open_db(db_url)
    auth.issue(engine, [("alice", "A"), ("bob", "B"), ("carol", "C")])
    _graded(engine, "alice", 1, 5)
    old_alice = _graded(engine, "alice", 1, 9)  # her latest counts
    old_bob = _graded(engine, "bob", 1, 3)
    rid, started = regrade.start(engine, 1)
    assert started
    assert regrade.start(engine, 1) == (rid, False)  # pressed twice: the same job, nothing queued twice
    with engine.connect() as conn:
        jobs = conn.execute(sa.select(submissions).where(submissions.c.regrade_id == rid)).all()
    assert sorted((j.student_id, j.source_id, j.priority) for j in jobs) == [("alice", old_alice, 1), ("bob", old_bob, 1)]
    assert {j.content for j in jobs} == {b"# alice 9", b"# bob 3"}
    carol = queue.submit(engine, "carol", 1, "activation.py", b"c", time.time())
    assert queue.claim(engine, "w").id == carol  # interactive first
    for _ in jobs:
        job = queue.claim(engine, "w")
        queue.finish(engine, job.id, "w", "graded", score=9 if job.student_id == "alice" else 6, max_score=9)
    st = regrade.status(engine, rid)
    assert st["finished"] and (st["done"], st["total"]) == (2, 2)
    assert [(s["student"], s["before"], s["after"]) for s in st["students"]] == [("alice", 9, 9), ("bob", 3, 6)]
    again, started = regrade.start(engine, 1)  # done: a new one may start
    assert started and again != rid
    # its two queued copies do not fill a queue of two: interactive submissions still get in
    queue.submit(engine, "carol", 2, "activation.py", b"c", time.time(), queue.QueueCaps(max_queue=2))
    engine.dispose()


def test_the_teacher_starts_a_regrade_from_the_class_page(tmp_path):
    import re

    from starlette.testclient import TestClient

    from grader.course.folder import load_course
    from grader.serve.app import Service, make_app
    from grader.serve.db import sqlite_url

    engine = open_db(sqlite_url(tmp_path / "s.sqlite"))
    (alice,) = auth.issue(engine, [("alice", "A")])
    teacher = auth.teacher_token(engine)
    _graded(engine, "alice", 2, 4)
    app = make_app(Service(engine=engine, course=load_course(str(Path(__file__).resolve().parents[2])), secret="k"))
    t = TestClient(app)
    page = t.get(f"/teacher?token={teacher}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert t.post("/teacher/regrade", data={"stage": "2"}).status_code == 403  # no CSRF token
    s = TestClient(app)
    s.get(f"/s/alice?token={alice.token}")
    assert s.post("/teacher/regrade", data={"stage": "2", "csrf": csrf}).status_code == 403  # not the teacher
    r = t.post("/teacher/regrade", data={"stage": "2", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    again = t.post("/teacher/regrade", data={"stage": "2", "csrf": csrf}, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]
    progress = t.get(r.headers["location"]).text
    assert 'data-done="0" data-total="1"' in progress and 'http-equiv="refresh"' in progress
    from grader.serve.stats import snapshot
    assert snapshot(engine, [2])["regrades"][0]["total"] == 1
    engine.dispose()


def _until(check, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_a_regrade_after_a_spec_change_uses_the_new_spec_without_a_restart(make_server, tmp_path):
    """A teacher edits a case's points in the course while `grade serve` runs, then regrades the
    stage: the new scores, the diff against the old ones, and later submissions get the new spec."""
    import re

    import httpx
    import yaml

    from conftest import make_course
    from grader.serve.db import sqlite_url

    course = make_course(tmp_path / "course", stage_files=("01_sigmoid.yaml",))
    url = sqlite_url(tmp_path / "serve.sqlite")
    server = make_server(url, ["alice"], "--course", str(course)).start()
    engine = connect(url)
    answer = (Path(__file__).resolve().parents[2] / "reference" / "activation.py").read_text(encoding="utf-8")
    alice = httpx.Client(base_url=server.url, timeout=60, follow_redirects=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', alice.get(f"/s/alice?token={server.tokens['alice']}").text)[1]

    def submit() -> sa.Row:
        r = alice.post("/s/alice/submit", data={"csrf": csrf, "stage": "1", "code": answer},
                       headers={"accept": "application/json"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]

        def graded():
            with engine.connect() as conn:
                return conn.execute(sa.select(submissions).where(submissions.c.id == sid,
                                                                 submissions.c.state == "graded")).first()
        return _until(graded, "graded")

    first = submit()
    assert (first.score, first.max_score) == (9, 9)
    spec_file = course / "stages" / "01_sigmoid.yaml"
    spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    small = next(c for c in spec["cases"] if c["name"] == "small-vector")
    assert small["points"] == 2
    small["points"] = 5  # the teacher's edit, while the service runs
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")

    teacher = httpx.Client(base_url=server.url, timeout=60)
    page = teacher.get(f"/teacher?token={server.tokens['(teacher)']}", follow_redirects=True).text
    token = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    r = teacher.post("/teacher/regrade", data={"stage": "1", "csrf": token})
    assert r.status_code == 303, r.text
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    status = _until(lambda: (lambda st: st if st["finished"] else None)(regrade.status(engine, rid)), "regraded")
    assert [(s["student"], s["before"], s["after"], s["max"]) for s in status["students"]] == [("alice", 9, 12, 12)]
    diff = teacher.get(r.headers["location"]).text
    assert re.search(r'<td class="before">9</td><td class="after">12</td>', diff), diff
    again = submit()  # after the regrade, new submissions are graded with the new spec too
    assert (again.score, again.max_score) == (12, 12)

    spec_file.write_text("cases: [unclosed\n", encoding="utf-8")  # a broken edit: refused, said, nothing queued
    r = teacher.post("/teacher/regrade", data={"stage": "1", "csrf": token})
    assert r.status_code == 409 and "cannot be loaded" in r.text and "nothing was regraded" in r.text
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(regrade.regrades)) == 1
    engine.dispose()
