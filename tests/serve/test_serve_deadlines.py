"""Deadlines, the late policy, extensions and the late-day bank: which submission counts,
for how much, and what the student and the gradebook show; per-case visibility: what the
student sees of a withheld case (nothing, until its time) and what the teacher sees (all)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as Row

import pytest
import sqlalchemy as sa

from grader.errors import UsageError
from grader.serve.deadlines import DAY_S, Late, Policy, parse

DUE = dt.datetime(2026, 12, 10, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


def sub(score, days_after: float):
    return Row(score=score, received_at=DUE + days_after * DAY_S)


def test_parse_reads_due_dates_extensions_and_the_policy():
    p = parse({"timezone": "+08:00", "late": {"penalty_per_day": 0.25, "max_days": 2, "late_days": 1},
               "stages": {1: "2026-12-10 23:59", "2": "2026-12-17T23:59:00+00:00"},
               "extensions": {"alice": {1: "2026-12-12 23:59"}}}, stages={1: {"vector"}, 2: set(), 3: set()})
    assert p.due[1] == DUE and p.due_for("alice", 1) == DUE + 2 * DAY_S and p.due_for("bob", 1) == DUE
    assert p.due[2] == dt.datetime(2026, 12, 17, 23, 59, tzinfo=dt.timezone.utc).timestamp()
    assert (p.penalty_per_day, p.max_days, p.late_days) == (0.25, 2, 1) and p.due_for("bob", 3) is None


@pytest.mark.parametrize("doc, where", [
    ({"stages": {99: "2026-12-10"}}, "stages.99"),
    ({"stages": {1: "next friday"}}, "stages.1"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"late": {"max_days": "three"}}, "late"),
    (["not", "a", "mapping"], "(file)"),
])
def test_a_broken_deadlines_file_says_where(doc, where):
    with pytest.raises(UsageError, match=f"--deadlines: {__import__('re').escape(where)}"):
        parse(doc, stages={1: set(), 2: set()})


def test_days_late_penalty_and_the_cut_off():
    p = Policy(due={1: DUE}, penalty_per_day=0.1, max_days=3)
    assert [p.days_late("x", 1, DUE + d * DAY_S) for d in (-1, 0, 0.01, 1, 1.5)] == [0, 0, 1, 1, 2]
    assert [p.factor(d) for d in (0, 1, 3, 4)] == [1.0, 0.9, 0.7, 0.0]
    assert p.days_late("x", 2, DUE + 100 * DAY_S) == 0  # a stage without a due date is never late


def test_the_submission_worth_most_after_the_penalty_counts():
    p = Policy(due={1: DUE}, penalty_per_day=0.5)
    row, late = p.choose("x", {1: [sub(6, -1), sub(9, 1.5)]})[1]  # 9 two days late counts 0: the 6 on time wins
    assert (row.score, late) == (6, Late(0, 0, 1.0))
    row, late = p.choose("x", {1: [sub(6, -1), sub(9, 0.5)]})[1]  # 9 x 0.5 = 4.5 < 6
    assert row.score == 6
    row, late = p.choose("x", {1: [sub(2, -1), sub(9, 0.5)]})[1]
    assert (row.score, late) == (9, Late(1, 0, 0.5))


def test_late_days_are_spent_in_the_order_of_the_due_dates_while_they_last():
    p = Policy(due={1: DUE, 2: DUE + 7 * DAY_S}, penalty_per_day=0.2, late_days=2)
    got = p.choose("x", {2: [sub(10, 7 + 2.5)], 1: [sub(10, 1.2)]})  # stage 1: 2 days late, stage 2: 3 days
    assert got[1][1] == Late(2, 2, 1.0)  # the bank covers stage 1
    assert got[2][1] == Late(3, 0, pytest.approx(0.4))  # nothing left for stage 2
    ext = Policy(due=p.due, extensions={("x", 1): DUE + 5 * DAY_S}, penalty_per_day=0.2, late_days=2)
    got = ext.choose("x", {2: [sub(10, 7 + 2.5)], 1: [sub(10, 1.2)]})
    assert got[1][1] == Late() and got[2][1] == Late(3, 2, pytest.approx(0.8))  # the extension saves the bank


def test_the_gradebook_and_the_students_page_follow_the_policy(tmp_path):
    import re
    import time

    from starlette.testclient import TestClient

    from grader.course.folder import load_course
    from grader.serve import auth, queue
    from grader.serve.app import Service, make_app
    from grader.serve.db import open_db, sqlite_url
    from grader.serve.stats import gradebook_csv, snapshot
    from serve_fixtures import ROOT

    engine = open_db(sqlite_url(tmp_path / "s.sqlite"))
    (alice,) = auth.issue(engine, [("alice", "Alice")])
    sid = queue.submit(engine, "alice", 1, "activation.py", b"x", time.time())
    queue.claim(engine, "w")
    report = {"submission": "a", "course": "c", "seed": 1, "lang": "en", "stages": [
        {"number": 1, "slug": "sigmoid", "title": "t", "status": "passed", "score": 9, "max_score": 9, "message": "",
         "cases": []}]}
    queue.finish(engine, sid, "w", "graded", score=9, max_score=9, report=report)
    course = load_course(str(ROOT))
    policy = Policy(due={1: time.time() - 1.5 * DAY_S}, penalty_per_day=0.25)  # two days late: half counts
    assert "alice,4.5," in gradebook_csv(engine, course, "en", policy)
    assert "alice,9," in gradebook_csv(engine, course, "en")
    assert snapshot(engine, [1], policy)["heat"] == {"alice": {"1": 0.5}}
    c = TestClient(make_app(Service(engine=engine, course=course, secret="k", policy=policy)))
    page = c.get(f"/s/alice?token={alice.token}").text
    assert re.search(r'<td class="best">4.5 / 9\s*<span class="late">\(late by 2 day\(s\), 0 late day\(s\) used: '
                     r'50% counts\)</span>', page)
    engine.dispose()


def test_withheld_cases_stay_out_of_everything_the_student_sees_until_the_due_date(tmp_path):
    import json
    import re
    import time

    from starlette.testclient import TestClient

    from conftest import grader_for
    from grader.course.folder import load_course
    from grader.serve import auth, queue
    from grader.serve.app import Service, make_app
    from grader.serve.db import open_db, settings, sqlite_url, submissions
    from grader.serve.worker import Worker
    from serve_fixtures import ROOT

    engine = open_db(sqlite_url(tmp_path / "s.sqlite"))
    with engine.begin() as conn:
        conn.execute(settings.insert().values(key="seed", value="12345"))
    (alice,) = auth.issue(engine, [("alice", "Alice")])
    teacher = auth.teacher_token(engine)
    course = load_course(str(ROOT))
    wrong = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8").replace("np.exp(-x)", "np.exp(x)")
    sid = queue.submit(engine, "alice", 1, "activation.py", wrong.encode(), time.time())
    Worker(engine, grader_for(12345), "w", 300).grade(queue.claim(engine, "w"))
    rules = {1: {"random-arrays": "after_due_date", "large-magnitudes": "hidden"}}

    def pages(due: float):
        policy = Policy(due={1: due}, visibility=rules)
        app = make_app(Service(engine=engine, course=course, secret="k", policy=policy))
        c, t = TestClient(app), TestClient(app)
        c.get(f"/s/alice?token={alice.token}")
        t.get(f"/teacher?token={teacher}")
        stream = c.get(f"/s/alice/r/{sid}/events").text
        events = re.findall(r"event: (\w+)\ndata: (.*)\n", stream)
        got = {k: json.loads(d) for k, d in events}
        got["cases"] = [json.loads(d) for k, d in events if k == "case"]  # each case's verdict, streamed
        return got, c.get(f"/s/alice/r/{sid}/report").text, c.get("/s/alice").text, t.get(f"/teacher/r/{sid}/report").text

    with engine.connect() as conn:
        full = json.loads(conn.scalar(sa.select(submissions.c.report).where(submissions.c.id == sid)))["stages"][0]
    points = {c["name"]: (c["score"], c["max_score"]) for c in full["cases"]}
    got, report, home, whole = pages(due=time.time() + 3 * DAY_S)
    names = [c["name"] for c in got["stage"]["cases"]]
    assert "random-arrays" not in names and "large-magnitudes" not in names and names
    assert [e["case"]["name"] for e in got["cases"]] == names  # a withheld case is not streamed at all
    shown_score = sum(points[n][0] for n in names)
    assert got["stage"]["score"] == got["final"]["score"] == shown_score
    assert got["final"]["max_score"] == 9 - 4 - 1 and "2 case(s) worth 5 point(s) are not shown" in got["stage"]["message"]
    assert "random-arrays" not in report and "large-magnitudes" not in report and "not shown yet" in report
    assert re.search(rf'<td class="best">{shown_score:g} / 4', home)
    assert "random-arrays" in whole and "large-magnitudes" in whole  # the teacher sees every case

    got, report, home, _ = pages(due=time.time() - DAY_S)  # after the due date
    names = [c["name"] for c in got["stage"]["cases"]]
    assert "random-arrays" in names and "large-magnitudes" not in names and got["final"]["max_score"] == 8
    assert [e["case"]["name"] for e in got["cases"]] == names
    hidden = next(e["case"] for e in got["cases"] if e["case"]["name"] == "random-arrays")  # `hidden: true` in the spec
    visible = next(e["case"] for e in got["cases"] if e["case"]["name"] == "small-vector")
    assert hidden["hidden"] and hidden["status"] == "failed" and "details" not in hidden
    assert "expected" in visible["message"] and "expected" not in hidden["message"]  # it shows no answer
    engine.dispose()
