"""Kill the real `grade serve` (SIGKILL to the server and its worker) while 20 submissions
are queued or running, start it again: all 20 end graded, each with one result, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from serve_fixtures import ROOT, db_url, make_server, pg_url  # noqa: F401 (fixtures)

from grader.serve.db import connect, events, submissions  # noqa: E402

ANSWER = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
WRONG = ANSWER.replace("np.exp(-x)", "np.exp(x)")
STUDENTS = [f"s{i:02d}" for i in range(20)]


def _submit(server, who: str, code: str) -> int:
    c = httpx.Client(base_url=server.url, timeout=30)
    page = c.get(f"/s/{who}?token={server.tokens[who]}", follow_redirects=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post(f"/s/{who}/submit", data={"csrf": csrf, "stage": "1", "code": code},
               headers={"accept": "application/json"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _states(engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(submissions.c.id, submissions.c.state)).all())


def _wait(engine, until, timeout_s: float, poll_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = _states(engine)
        if until(states):
            return states
        time.sleep(poll_s)
    pytest.fail(f"timed out; states: {_states(engine)}")


def _worker_pid(server) -> int:
    """The server's child: its worker process."""
    children = [pid for task in Path(f"/proc/{server.proc.pid}/task").iterdir()  # any thread may have started it
                for pid in (task / "children").read_text().split()]
    assert len(children) == 1
    return int(children[0])


def test_killed_with_20_submissions_in_flight_all_20_end_graded_once(db_url, make_server):
    server = make_server(db_url, STUDENTS, "--rate", "100").start()
    engine = connect(db_url)
    worker = _worker_pid(server)
    os.kill(worker, signal.SIGSTOP)  # the 20 pile up in the queue while the worker is paused
    try:
        ids = {_submit(server, who, WRONG if i % 3 == 0 else ANSWER): i for i, who in enumerate(STUDENTS)}
    finally:
        os.kill(worker, signal.SIGCONT)
    states = _wait(engine, lambda s: "running" in s.values(), 60, poll_s=0.005)
    server.kill()
    in_flight = [i for i, st in _states(engine).items() if st in ("queued", "running")]
    assert len(in_flight) >= 18 and "running" in states.values()  # queued or running when it died

    make_server(db_url, STUDENTS, "--rate", "100").start()
    final = _wait(engine, lambda s: len(s) == 20 and all(v == "graded" for v in s.values()), 240)
    assert sorted(final) == sorted(ids)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(submissions))}
        evs = conn.execute(sa.select(events.c.submission_id, events.c.kind, events.c.data)).all()
    for sub_id, i in ids.items():
        finals = [json.loads(e.data) for e in evs if e.submission_id == sub_id and e.kind == "final"]
        stages = [e for e in evs if e.submission_id == sub_id and e.kind == "stage"]
        assert len(finals) == 1 and len(stages) == 1, (sub_id, finals, stages)  # one result, none twice
        expected_full = i % 3 != 0
        assert (rows[sub_id].score == 9) == expected_full and finals[0]["score"] == rows[sub_id].score
        assert 1 <= rows[sub_id].attempts <= 2
    engine.dispose()


def test_a_worker_that_dies_is_started_again_and_its_job_graded_once(tmp_path, make_server):
    from grader.serve.db import sqlite_url

    url = sqlite_url(tmp_path / "serve.sqlite")
    server = make_server(url, ["alice"]).start()
    engine = connect(url)
    first = _worker_pid(server)
    os.kill(first, signal.SIGSTOP)  # held while the submission arrives, then killed while it runs
    sub = _submit(server, "alice", ANSWER)
    os.kill(first, signal.SIGCONT)
    _wait(engine, lambda s: s.get(sub) == "running", 60, poll_s=0.005)
    os.kill(first, signal.SIGKILL)
    _wait(engine, lambda s: s.get(sub) == "graded", 120)
    assert _worker_pid(server) != first  # the server started another
    with engine.connect() as conn:
        row = conn.execute(sa.select(submissions).where(submissions.c.id == sub)).one()
        finals = conn.execute(sa.select(events).where(events.c.submission_id == sub, events.c.kind == "final")).all()
    assert (row.score, row.attempts, len(finals)) == (9, 2, 1)
    assert "worker process ended" in (tmp_path / "server.log").read_text(errors="replace")
    engine.dispose()
