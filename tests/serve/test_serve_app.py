"""The web app through Starlette's test client: tokens, CSRF, upload caps, refusals with
Retry-After, results streamed as server-sent events, the report, the teacher's pages.

Grading happens as in the service, by a Worker (grader/serve/worker.py) around the test
session's shared Grader, here in the test process: the app itself never grades."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from serve_fixtures import ROOT, db_url, pg_url  # noqa: F401 (fixtures)

from starlette.testclient import TestClient  # noqa: E402

from conftest import grader_for  # noqa: E402
from grader.course.folder import load_course  # noqa: E402
from grader.serve import auth, queue  # noqa: E402
from grader.serve.app import Service, make_app  # noqa: E402
from grader.serve.db import open_db, settings  # noqa: E402
from grader.serve.worker import Worker  # noqa: E402
from grader.verdict import command_line  # noqa: E402

SEED = 12345
ANSWER = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")


class Site:
    def __init__(self, url: str, **limits):
        self.engine = open_db(url)
        with self.engine.begin() as conn:
            conn.execute(settings.insert().values(key="seed", value=str(SEED)))
        self.tokens = {i.id: i.token for i in auth.issue(self.engine, [("alice", "Alice"), ("bob", "Bob")])}
        self.teacher = auth.teacher_token(self.engine)
        self.svc = Service(engine=self.engine, course=load_course(str(ROOT)), secret="s3cret",
                           limits=queue.QueueCaps(**limits))
        self.app = make_app(self.svc)

    def client(self, who: str | None = None) -> TestClient:
        c = TestClient(self.app)
        if who:
            r = c.get(f"/s/{who}?token={self.tokens[who]}")
            assert r.status_code == 200 and "grade_student" in c.cookies
        return c

    def csrf(self, client: TestClient, who: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', client.get(f"/s/{who}").text).group(1)

    def submit(self, client: TestClient, who: str, code: str = ANSWER, stage: int = 1, **kw):
        data = {"csrf": self.csrf(client, who), "stage": str(stage), "code": code}
        return client.post(f"/s/{who}/submit", data=data, headers={"accept": "application/json"}, **kw)

    def grade_next(self) -> None:
        worker = Worker(self.engine, grader_for(SEED), "test-worker", 300)
        worker.grade(queue.claim(self.engine, "test-worker"))


@pytest.fixture
def site(tmp_path):
    from grader.serve.db import sqlite_url
    s = Site(sqlite_url(tmp_path / "serve.sqlite"))
    yield s
    s.engine.dispose()


def _no_timings(page: str) -> str:
    """A report without the numbers that differ from one run to the next (durations)."""
    return re.sub(r"\d+(\.\d+)?\s*(ms|s)\b", "T", page)


def _sse(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_the_sign_in_link_sets_a_cookie_for_that_student_only(site):
    c = site.client("alice")
    page = c.get("/s/alice")
    assert page.status_code == 200 and "Alice" in page.text and "codemirror.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert c.get("/s/bob").status_code == 403  # her cookie does not open bob's pages


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_second_students_url_with_the_first_ones_token_is_refused(backend, tmp_path, request):
    from grader.serve.db import sqlite_url
    url = sqlite_url(tmp_path / "s.sqlite") if backend == "sqlite" else request.getfixturevalue("pg_url")
    site = Site(url)
    try:
        alice = site.client("alice")
        sub = site.submit(alice, "alice").json()
        stranger = TestClient(site.app)
        r = stranger.get(f"/s/bob?token={site.tokens['alice']}")
        assert r.status_code == 403 and "does not open this page" in r.text and "grade_student" not in stranger.cookies
        assert stranger.get(f"/s/alice/r/{sub['id']}").status_code == 403  # no token, no result
        bob = site.client("bob")
        assert bob.get(f"/s/bob/r/{sub['id']}").status_code == 404  # alice's submission is not bob's
        assert bob.get(f"/s/alice/r/{sub['id']}").status_code == 403
        assert bob.get(f"/s/alice/r/{sub['id']}/events").status_code == 403
        assert bob.get(f"/s/alice/r/{sub['id']}/report").status_code == 403
        assert bob.get(f"/s/alice?token={site.tokens['bob']}").status_code == 403
        assert stranger.get("/teacher").status_code == 403
        assert stranger.get(f"/teacher?token={site.tokens['alice']}").status_code == 403
    finally:
        site.engine.dispose()


def test_a_form_without_the_pages_csrf_token_is_refused(site):
    c = site.client("alice")
    r = c.post("/s/alice/submit", data={"stage": "1", "code": ANSWER})
    assert r.status_code == 403 and "reload your page" in r.text
    r = c.post("/s/alice/submit", data={"stage": "1", "code": ANSWER, "csrf": auth.csrf_token("s3cret", "bob")})
    assert r.status_code == 403  # bob's form token is not alice's


def test_uploads_follow_the_batchs_zip_rules_and_size_cap(site):
    c = site.client("alice")
    token = site.csrf(c, "alice")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../evil.py", "x = 1\n")
    r = c.post("/s/alice/submit", data={"csrf": token, "stage": "1"}, files={"file": ("work.zip", evil.getvalue())})
    assert r.status_code == 400 and "cannot be unpacked safely" in r.text
    big = b"#" * (21 * 2**20)
    r = c.post("/s/alice/submit", data={"csrf": token, "stage": "1"}, files={"file": ("activation.py", big)})
    assert r.status_code == 413 and "at most 20 MiB" in r.text
    two = [("file", ("a.py", b"x")), ("file", ("b.py", b"y"))]
    assert c.post("/s/alice/submit", data={"csrf": token, "stage": "1"}, files=two).status_code == 400
    r = c.post("/s/alice/submit", data={"csrf": token, "stage": "1"}, files={"file": ("notes.txt", b"x")})
    assert r.status_code == 400 and "activation.py" in r.text
    for stage in ("99", "²", "-1", "1e3", ""):
        assert c.post("/s/alice/submit", data={"csrf": token, "stage": stage, "code": "x"}).status_code == 400


def test_a_full_queue_answers_503_with_retry_after(tmp_path):
    from grader.serve.db import sqlite_url
    site = Site(sqlite_url(tmp_path / "s.sqlite"), max_queue=1)
    c = site.client("alice")
    assert site.submit(c, "alice").status_code == 201
    r = site.submit(c, "alice", stage=2)
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "not stored" in r.json()["error"]


def test_a_student_over_the_rate_gets_429_with_retry_after(tmp_path):
    from grader.serve.db import sqlite_url
    site = Site(sqlite_url(tmp_path / "s.sqlite"), rate_count=2)
    c = site.client("alice")
    assert site.submit(c, "alice").status_code == 201 and site.submit(c, "alice", stage=2).status_code == 201
    r = site.submit(c, "alice", stage=3)
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    assert site.submit(site.client("bob"), "bob").status_code == 201


def test_verdicts_stream_then_the_same_report_as_grade_html(site, tmp_path):
    from grader.report import html

    c = site.client("alice")
    sub = site.submit(c, "alice").json()
    page = c.get(sub["url"])
    assert page.status_code == 200 and 'id="cases"' in page.text
    site.grade_next()
    got = _sse(c.get(sub["url"] + "/events").text)
    kinds = [k for k, _ in got]
    assert kinds[-2:] == ["stage", "final"] and kinds.count("final") == 1
    stage, final = got[-2][1], got[-1][1]
    assert [case["status"] for case in stage["cases"]] == ["passed"] * len(stage["cases"]) and stage["cases"]
    # each case's verdict came first, on its own, in order, as the stage then gives it
    streamed = [data for kind, data in got if kind == "case"]
    assert kinds[:len(streamed)] == ["case"] * len(streamed) == ["case"] * len(stage["cases"])
    assert [(v["stage"], v["index"], v["case"]) for v in streamed] == [(1, i, c) for i, c in enumerate(stage["cases"])]
    assert final == {"state": "graded", "score": 9.0, "max_score": 9.0, "reason": None}
    # the report `grade activation.py --stage 1 --seed SEED --format html` writes
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "activation.py").write_text(ANSWER, encoding="utf-8")
    expected = grader_for(SEED).grade(tmp_path / "w", [1])
    report = c.get(sub["url"] + "/report")
    assert report.headers["content-security-policy"].startswith("default-src 'none'")
    expected.submission = "activation.py"
    expected.reproduce = command_line("activation.py", [1], SEED)
    shown, direct = (_no_timings(x) for x in (report.text, html.render(expected, "en")))
    assert shown == direct
    home = c.get("/s/alice").text
    assert re.search(r'id="stage-1">.*?<td class="best">9 / 9</td>', home, re.S)


def test_a_wrong_answer_streams_its_failed_cases_and_a_crash_is_not_gradable(site, monkeypatch):
    c = site.client("alice")
    wrong = ANSWER.replace("np.exp(-x)", "np.exp(x)")
    assert wrong != ANSWER
    sub = site.submit(c, "alice", code=wrong).json()
    site.grade_next()
    got = dict(_sse(c.get(sub["url"] + "/events").text))
    assert got["final"]["state"] == "graded" and got["final"]["score"] < 9
    failed = [case for case in got["stage"]["cases"] if case["status"] == "failed"]
    assert failed and all(case["message"] for case in failed)

    def broken(*a, **k):
        raise RuntimeError("disk full")
    sub2 = site.submit(c, "alice", stage=2).json()
    monkeypatch.setattr(grader_for(SEED), "grade", broken)
    site.grade_next()
    final = dict(_sse(c.get(sub2["url"] + "/events").text))["final"]
    assert final["state"] == "not_gradable" and "disk full" in final["reason"] and "not count" in final["reason"]


def test_the_teacher_pages_and_the_gradebook_csv_of_grade_batch(site, tmp_path):
    from grader.batch import run_batch

    t = TestClient(site.app)
    assert t.get("/teacher/gradebook.csv").status_code == 403
    assert t.get(f"/teacher?token={site.teacher}").status_code == 200
    a = site.client("alice")
    for stage in (1, 2, 3):
        site.submit(a, "alice", stage=stage)
        site.grade_next()
    exported = t.get("/teacher/gradebook.csv").content
    cls = tmp_path / "class"
    (cls / "alice").mkdir(parents=True)
    (cls / "bob").mkdir()
    (cls / "alice" / "activation.py").write_text(ANSWER, encoding="utf-8")
    (cls / "bob" / "notes.txt").write_text("nothing yet", encoding="utf-8")
    res = run_batch(cls, tmp_path / "grades", course_dir=ROOT, jobs=1, seed=SEED, quiet=True)
    assert exported == (res.out_dir / "gradebook.csv").read_bytes()  # byte for byte
    history = t.get("/teacher/s/alice")
    assert history.status_code == 200 and history.text.count("/report") == 3
    first = re.search(r'href="(/teacher/r/\d+/report)"', history.text).group(1)
    assert "sigmoid" in t.get(first).text or "tanh" in t.get(first).text or "relu" in t.get(first).text
    assert a.get(first).status_code == 403 and a.get("/teacher/s/alice").status_code == 403  # not for students
    from grader.serve import stats
    snap = stats.snapshot(site.engine, [1, 2, 3])
    assert snap["heat"] == {"alice": {"1": 1.0, "2": 1.0, "3": 1.0}}
    assert snap["histograms"]["1"][-1] == 1 and snap["latency"]["finished_at"]["n"] == 3


def test_a_non_ascii_student_id_signs_in_and_a_slash_in_an_id_is_refused(site):
    from urllib.parse import quote

    from grader.errors import UsageError

    (zhang,) = auth.issue(site.engine, auth.read_roster("\ufeffid,name\r\n张 三,张三\r\n"))
    c = TestClient(site.app)
    r = c.get(f"/s/{quote(zhang.id)}?token={zhang.token}")
    assert r.status_code == 200 and "张三" in r.text
    assert c.get(f"/s/{quote(zhang.id)}/r/1").status_code == 404  # signed in: no such submission, not 403
    with pytest.raises(UsageError, match="slash"):
        auth.read_roster("id\na/b\n")


def test_similarity_on_demand_pairs_the_students_latest_files(site):
    t = TestClient(site.app)
    t.get(f"/teacher?token={site.teacher}")
    renamed = ANSWER.replace("def sigmoid(self, x)", "def sigmoid(self, z)").replace("(-x)", "(-z)")
    site.submit(site.client("alice"), "alice", code=ANSWER)
    site.submit(site.client("bob"), "bob", code=renamed)
    page = t.get("/teacher/similarity/1")
    assert page.status_code == 200 and page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "alice" in page.text and "bob" in page.text and "<mark>" in page.text  # the pair, its shared code marked
    assert TestClient(site.app).get("/teacher/similarity/1").status_code == 403
    assert t.get("/teacher/similarity/99").status_code == 404


def test_an_uploaded_zip_and_an_uploaded_file_are_graded_like_the_editors_code(site):
    c = site.client("alice")
    token = site.csrf(c, "alice")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr("my-work/activation.py", ANSWER)
        z.writestr("my-work/__MACOSX/._activation.py", "junk")
    r = c.post("/s/alice/submit", data={"csrf": token, "stage": "1"}, files={"file": ("work.zip", packed.getvalue())},
               headers={"accept": "application/json"})
    assert r.status_code == 201
    site.grade_next()
    assert dict(_sse(c.get(r.json()["url"] + "/events").text))["final"]["score"] == 9
    r = c.post("/s/alice/submit", data={"csrf": token, "stage": "2"},
               files={"file": ("C:\\\\Users\\\\alice\\\\activation.py", ANSWER.encode())}, headers={"accept": "application/json"})
    site.grade_next()
    final = dict(_sse(c.get(r.json()["url"] + "/events").text))["final"]
    assert final["state"] == "graded" and final["score"] == final["max_score"] > 0
