"""The web app (Starlette): sign-in links, the student's pages, the teacher's class page.

It stores submissions and streams what the worker writes; it never runs student code.
Every page is rendered from grader/serve/templates with sentences from the catalog
(`serve.*` keys of grader.messages); a student's token opens only that student's pages.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import sqlalchemy as sa
from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from grader.messages import t, words
from grader.serve import auth, files, queue, regrade, stats
from grader.serve.db import events, students, submissions
from grader.serve.deadlines import Policy

HERE = Path(__file__).resolve().parent
POLL_S = 0.1      # how often a result stream looks for new events
POSITION_S = 1.0  # and for its queue position
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


@dataclass
class Service:
    engine: sa.Engine
    course: Any
    lang: str = "en"
    workers: int = 2
    limits: queue.Limits = field(default_factory=queue.Limits)
    secret: str = ""
    secure_cookies: bool = False  # served over HTTPS (behind a proxy): cookies only travel encrypted
    policy: Optional[Policy] = None  # deadlines and the late policy (--deadlines)

    @property
    def stage_files(self) -> list[str]:
        return [s.file for s in self.course.stages]

    def stage(self, number: int):
        return next((s for s in self.course.stages if s.number == number), None)


def _templates():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("grader.serve", "templates"), autoescape=select_autoescape(["html", "j2"]))


TEMPLATES = _templates()


def page(svc: Service, template: str, status: int = 200, headers: Optional[dict] = None, **ctx: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(w=words(svc.lang, "serve"), lang=svc.lang, **ctx)
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP, **(headers or {})})


def refusal(svc: Service, request: Request, key: str, status: int, retry_after: Optional[int] = None,
            **params: Any) -> Response:
    """A refused request: its reason in the catalog's words, as JSON or as a page."""
    message = t(svc.lang, key, **params)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return page(svc, "message.html.j2", status=status, headers=headers, message=message)


# -- who is asking ---------------------------------------------------------------------------

def _signed_in(svc: Service, request: Request, cookie: str, stored: Optional[str]) -> Optional[Response]:
    """None when the request carries this page's token; else a refusal (or a sign-in redirect)."""
    token = request.query_params.get("token")
    if token is not None:
        if not auth.same(token, stored):
            return refusal(svc, request, "serve.bad_token", 403)
        target = quote(request.scope["path"])  # the address as the browser sends it (non-ASCII ids quoted)
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(cookie, token, httponly=True, samesite="lax", path=target,
                        secure=svc.secure_cookies)
        return resp
    if not auth.same(request.cookies.get(cookie), stored):
        return refusal(svc, request, "serve.bad_token", 403)
    return None


async def student_gate(svc: Service, request: Request) -> tuple[str, Optional[Response]]:
    sid = request.path_params["sid"]
    stored = await to_thread.run_sync(auth.student_hash, svc.engine, sid)
    if stored is None:
        return sid, refusal(svc, request, "serve.bad_token", 403)
    cookie_path_ok = request.query_params.get("token") is None or request.scope["path"] == f"/s/{sid}"
    denied = _signed_in(svc, request, "grade_student", stored) if cookie_path_ok else \
        refusal(svc, request, "serve.bad_token", 403)
    return sid, denied


async def teacher_gate(svc: Service, request: Request) -> Optional[Response]:
    stored = await to_thread.run_sync(auth.teacher_hash, svc.engine)
    if request.query_params.get("token") is not None and request.scope["path"] != "/teacher":
        return refusal(svc, request, "serve.bad_token", 403)
    return _signed_in(svc, request, "grade_teacher", stored)


# -- student pages ---------------------------------------------------------------------------

def student_view(svc: Service, sid: str) -> dict[str, Any]:
    """The student's stages (best and latest score), history and last code per stage file."""
    c = submissions.c
    with svc.engine.connect() as conn:
        name = conn.scalar(sa.select(students.c.name).where(students.c.id == sid))
        history = conn.execute(sa.select(c.id, c.stage, c.state, c.score, c.max_score, c.received_at, c.filename)
                               .where(c.student_id == sid).order_by(c.id.desc()).limit(200)).all()
        best = {stage: r for (_s, stage), r in stats.best_rows(conn, sid, svc.policy).items()}
        latest = {stage: r for (_s, stage), r in stats.latest_rows(conn, sid).items()}
        code = {}
        for row in conn.execute(sa.select(c.stage, c.content, c.filename).where(c.student_id == sid)
                                .order_by(c.id)):
            if row.filename.endswith(".py"):
                code[row.stage] = row.content.decode("utf-8", "replace")
    due = svc.policy.due_for if svc.policy else (lambda _sid, _n: None)
    stages = [{"number": s.number, "slug": s.slug, "title": s.title.get(svc.lang), "file": s.file,
               "max": sum(cs.points for cs in s.cases), "best": best.get(s.number), "latest": latest.get(s.number),
               "due": due(sid, s.number), "code": code.get(s.number) or _template_code(svc, s.file)}
              for s in svc.course.stages]
    return {"sid": sid, "name": name or sid, "stages": stages, "history": history,
            "csrf": auth.csrf_token(svc.secret, sid)}


def _template_code(svc: Service, filename: str) -> str:
    path = svc.course.template / filename
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


async def student_home(request: Request) -> Response:
    svc: Service = request.app.state.svc
    sid, denied = await student_gate(svc, request)
    if denied:
        return denied
    view = await to_thread.run_sync(student_view, svc, sid)
    return page(svc, "student.html.j2", **view, when=_clock)


def _clock(ts: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


async def read_upload(svc: Service, request: Request) -> tuple[Optional[dict], Optional[Response]]:
    """The form's fields; a refusal for a body over the caps (size, one file at most)."""
    size = int(request.headers.get("content-length") or 0)
    if size > files.MAX_UPLOAD_BYTES + 65536:
        return None, refusal(svc, request, "serve.too_big", 413, limit=files.MAX_UPLOAD_BYTES // 2**20)
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=files.MAX_UPLOAD_BYTES)
    except Exception:  # starlette's MultiPartException: too many files or parts, a part too big
        return None, refusal(svc, request, "serve.bad_form", 400)
    fields = {"csrf": form.get("csrf"), "stage": form.get("stage"), "code": form.get("code")}
    upload = form.get("file")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        fields["filename"], fields["content"] = files.clean_name(upload.filename), await upload.read()
    return fields, None


def _stage_of(svc: Service, value: Any):
    """The course stage a form names by its number, or None."""
    text = value if isinstance(value, str) else ""
    return svc.stage(int(text)) if re.fullmatch(r"[0-9]{1,4}", text) else None


async def submit(request: Request) -> Response:
    svc: Service = request.app.state.svc
    received = time.time()
    sid, denied = await student_gate(svc, request)
    if denied:
        return denied
    fields, bad = await read_upload(svc, request)
    if bad:
        return bad
    if not auth.csrf_ok(svc.secret, sid, fields.get("csrf")):
        return refusal(svc, request, "serve.bad_csrf", 403)
    spec = _stage_of(svc, fields.get("stage"))
    if spec is None:
        return refusal(svc, request, "serve.no_stage", 400)
    if "content" not in fields:
        if not fields.get("code"):
            return refusal(svc, request, "serve.empty", 400)
        fields["filename"], fields["content"] = spec.file, str(fields["code"]).encode("utf-8")
    why = await to_thread.run_sync(files.problem, fields["filename"], fields["content"], svc.stage_files, svc.lang)
    if why:
        return refusal(svc, request, "serve.refused", 400, why=why)
    try:
        sub_id = await to_thread.run_sync(lambda: queue.submit(
            svc.engine, sid, spec.number, fields["filename"], fields["content"], received, svc.limits))
    except queue.Refused as r:
        return refusal(svc, request, r.key, r.status, retry_after=r.retry_after, s=r.retry_after)
    url = f"/s/{quote(sid, safe='')}/r/{sub_id}"
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": sub_id, "url": url}, status_code=201)
    return RedirectResponse(url, status_code=303)


def own_submission(svc: Service, sid: str, sub_id: int) -> Optional[sa.Row]:
    c = submissions.c
    with svc.engine.connect() as conn:
        return conn.execute(sa.select(c.id, c.stage, c.state, c.score, c.max_score, c.reason, c.report, c.filename)
                            .where(c.id == sub_id, c.student_id == sid)).first()


async def _mine(request: Request) -> tuple[Service, Optional[sa.Row], Optional[Response]]:
    svc: Service = request.app.state.svc
    sid, denied = await student_gate(svc, request)
    if denied:
        return svc, None, denied
    row = await to_thread.run_sync(own_submission, svc, sid, int(request.path_params["sub"]))
    if row is None:  # another student's submission is simply not there
        return svc, None, refusal(svc, request, "serve.no_submission", 404)
    return svc, row, None


async def result_page(request: Request) -> Response:
    svc, row, denied = await _mine(request)
    if denied:
        return denied
    spec = svc.stage(row.stage)
    return page(svc, "result.html.j2", sid=request.path_params["sid"], sub=row,
                stage_title=spec.title.get(svc.lang) if spec else str(row.stage),
                strings=json.dumps(words(svc.lang, "serve")))


async def report_page(request: Request) -> Response:
    """The same report as `grade --format html`, once graded."""
    svc, row, denied = await _mine(request)
    return denied or _report(svc, request, row)


def _report(svc: Service, request: Request, row: Optional[sa.Row]) -> Response:
    from grader.report import html
    from grader.verdict import Report

    if row is None or row.state != "graded" or not row.report:
        return refusal(svc, request, "serve.no_report", 404)
    text = html.render(Report.from_dict(json.loads(row.report)), svc.lang)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})


def read_events(svc: Service, sub_id: int, after: int) -> tuple[list[sa.Row], str]:
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.id, events.c.kind, events.c.data)
                            .where(events.c.submission_id == sub_id, events.c.id > after).order_by(events.c.id)).all()
        state = conn.scalar(sa.select(submissions.c.state).where(submissions.c.id == sub_id))
    return rows, state


def sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data) if not isinstance(data, str) else data}\n\n"


async def result_events(request: Request) -> Response:
    """Server-sent events: the queue position while waiting, each stage's verdicts, the end."""
    svc, row, denied = await _mine(request)
    if denied:
        return denied
    return StreamingResponse(_stream(svc, request, row.id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(svc: Service, request: Request, sub_id: int):
    last, shown, beat, asked = 0, None, time.monotonic(), 0.0
    while not await request.is_disconnected():
        rows, state = await to_thread.run_sync(read_events, svc, sub_id, last)
        for ev in rows:
            last = ev.id
            yield sse(ev.kind, ev.data)
            if ev.kind == "final":
                await to_thread.run_sync(queue.mark_reported, svc.engine, sub_id)
                return
        if (state, shown and shown[0]) == ("running", "queued") or time.monotonic() - asked > POSITION_S:
            asked = time.monotonic()  # the position: when the state changes, else once in POSITION_S
            where = (await to_thread.run_sync(queue.position, svc.engine, sub_id, svc.workers)) \
                if state == "queued" else (0, 0.0)
            now = (state, where[0], round(where[1]))
            if state in ("queued", "running") and now != shown:
                shown = now
                yield sse("position", {"state": state, "ahead": where[0], "estimate_s": round(where[1], 1)})
        if time.monotonic() - beat > 15:
            beat = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)


# -- teacher pages ---------------------------------------------------------------------------

async def teacher_home(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    with svc.engine.connect() as conn:
        roster = conn.execute(sa.select(students.c.id, students.c.name).order_by(students.c.id)).all()
    stages = [{"number": s.number, "slug": s.slug, "title": s.title.get(svc.lang)} for s in svc.course.stages]
    return page(svc, "teacher.html.j2", roster=roster, stages=stages, csrf=auth.csrf_token(svc.secret, "teacher"),
                strings=json.dumps(words(svc.lang, "serve")))


async def teacher_events(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    numbers = [s.number for s in svc.course.stages]

    async def stream():
        shown = None
        while not await request.is_disconnected():
            snap = await to_thread.run_sync(stats.snapshot, svc.engine, numbers, svc.policy)
            text = json.dumps(snap, sort_keys=True)
            if text != shown:
                shown = text
                yield sse("class", text)
            await asyncio.sleep(0.5)
    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def teacher_csv(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    text = await to_thread.run_sync(stats.gradebook_csv, svc.engine, svc.course, svc.lang, svc.policy)
    return Response(text.encode("utf-8-sig"), media_type="text/csv; charset=utf-8",  # as batch writes it
                    headers={"Content-Disposition": 'attachment; filename="gradebook.csv"'})


async def teacher_student(request: Request) -> Response:
    """One student's history, for the teacher."""
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    sid = request.path_params["sid"]
    if await to_thread.run_sync(auth.student_hash, svc.engine, sid) is None:
        return refusal(svc, request, "serve.no_submission", 404)
    view = await to_thread.run_sync(student_view, svc, sid)
    return page(svc, "teacher_student.html.j2", **view, when=_clock)


async def teacher_report(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    c = submissions.c
    with svc.engine.connect() as conn:
        row = conn.execute(sa.select(c.state, c.report).where(c.id == request.path_params["sub"])).first()
    return _report(svc, request, row)


async def teacher_regrade(request: Request) -> Response:
    """Start regrading a stage for everyone (or find the run already going): its page."""
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    form = await request.form(max_files=0, max_fields=4)
    if not auth.csrf_ok(svc.secret, "teacher", form.get("csrf")):
        return refusal(svc, request, "serve.bad_csrf", 403)
    spec = _stage_of(svc, form.get("stage"))
    if spec is None:
        return refusal(svc, request, "serve.no_stage", 400)
    rid, _started = await to_thread.run_sync(regrade.start, svc.engine, spec.number)
    return RedirectResponse(f"/teacher/regrade/{rid}", status_code=303)


async def teacher_regrade_page(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    job = await to_thread.run_sync(regrade.status, svc.engine, request.path_params["rid"])
    if job is None:
        return refusal(svc, request, "serve.no_submission", 404)
    return page(svc, "regrade.html.j2", job=job, fmt=lambda x: "" if x is None else f"{x:g}")


def similarity_page(svc: Service, stage: int) -> str:
    """`grade batch --similarity`'s page for the stage: each student's latest own .py file of it."""
    import tempfile

    from grader.batch.similarity import render_page, write_similarity

    spec = svc.stage(stage)
    c = submissions.c
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(c.student_id, c.content).where(
            c.stage == stage, c.regrade_id.is_(None), c.filename.endswith(".py")).order_by(c.id)).all()
    latest = {r.student_id: r.content for r in rows}
    with tempfile.TemporaryDirectory(prefix="grade-serve-similarity-") as tmp:
        folders = []
        for i, (sid, content) in enumerate(sorted(latest.items())):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            (folder / spec.file).write_bytes(content)
            folders.append((sid, folder))
        if len(folders) < 2:
            return render_page([], [spec.file], 0.6, svc.lang)
        return write_similarity(Path(tmp), folders, svc.course.template, [spec.file], lang=svc.lang) \
            .read_text(encoding="utf-8")


async def teacher_similarity(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    spec = _stage_of(svc, request.path_params["stage"])
    if spec is None:
        return refusal(svc, request, "serve.no_stage", 404)
    text = await to_thread.run_sync(similarity_page, svc, spec.number)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})


async def home(request: Request) -> Response:
    svc: Service = request.app.state.svc
    return page(svc, "message.html.j2", message=t(svc.lang, "serve.use_your_link"))


def make_app(svc: Service) -> Starlette:
    routes = [
        Route("/", home),
        Route("/s/{sid}", student_home),
        Route("/s/{sid}/submit", submit, methods=["POST"]),
        Route("/s/{sid}/r/{sub:int}", result_page),
        Route("/s/{sid}/r/{sub:int}/events", result_events),
        Route("/s/{sid}/r/{sub:int}/report", report_page),
        Route("/teacher", teacher_home),
        Route("/teacher/events", teacher_events),
        Route("/teacher/gradebook.csv", teacher_csv),
        Route("/teacher/s/{sid}", teacher_student),
        Route("/teacher/regrade", teacher_regrade, methods=["POST"]),
        Route("/teacher/similarity/{stage}", teacher_similarity),
        Route("/teacher/regrade/{rid:int}", teacher_regrade_page),
        Route("/teacher/r/{sub:int}/report", teacher_report),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.svc = svc
    return app
