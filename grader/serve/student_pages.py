"""The student's pages: sign-in, the editor and upload form, storing a submission, its
result streamed as server-sent events, and the report (`grade --format html`'s).
The web process stores and streams; it never runs student code."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Optional
from urllib.parse import quote

import sqlalchemy as sa
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from grader.messages import words
from grader.serve import auth, files, queue, stats
from grader.serve.db import events, students, submissions
from grader.serve.visibility import report_view, score_view, stage_view
from grader.serve.web import REPORT_CSP, Service, clock, page, refusal, sse, stage_of, student_gate

POLL_S = 0.1      # how often a result stream looks for new events
POSITION_S = 1.0  # and for its queue position


def student_view(svc: Service, sid: str, teacher: bool = False) -> dict[str, Any]:
    """The student's stages (best and latest score), history and last code per stage file,
    as the student may see them (cases withheld by the visibility policy do not count) or,
    for the `teacher`, whole."""
    hides = None if teacher else svc.policy
    c = submissions.c
    with svc.engine.connect() as conn:
        name = conn.scalar(sa.select(students.c.name).where(students.c.id == sid))
        history = conn.execute(sa.select(c.id, c.stage, c.state, c.score, c.max_score, c.received_at, c.report)
                               .where(c.student_id == sid).order_by(c.id.desc()).limit(200)).all()
        best = {stage: r for (_s, stage), r in stats.best_rows(conn, sid, svc.policy).items()}
        latest = {stage: r for (_s, stage), r in stats.latest_rows(conn, sid).items()}
        reports = dict(conn.execute(sa.select(c.id, c.report).where(c.id.in_([b.id for b in best.values()]))).all())
        code = {}
        for row in conn.execute(sa.select(c.stage, c.content, c.filename).where(c.student_id == sid)
                                .order_by(c.id)):
            if row.filename.endswith(".py"):
                code[row.stage] = row.content.decode("utf-8", "replace")

    def shown(stage: int, report: Optional[str], score: Any, max_score: Any, factor: float = 1.0) -> dict:
        score, max_score = score_view(report, score, max_score, hides, sid, stage, svc.lang)
        return {"score": None if score is None else round(score * factor, 6), "max_score": max_score}
    due = svc.policy.due_for if svc.policy else (lambda _sid, _n: None)
    stages = []
    for s in svc.course.stages:
        b, last = best.get(s.number), latest.get(s.number)
        stages.append({
            "number": s.number, "slug": s.slug, "title": s.title.get(svc.lang), "file": s.file,
            "best": b and {**shown(s.number, reports.get(b.id), b.raw, b.max_score, b.late.factor), "late": b.late},
            "latest": last and shown(s.number, last.report, last.score, last.max_score),
            "due": due(sid, s.number), "code": code.get(s.number) or _template_code(svc, s.file)})
    rows = [{"id": h.id, "stage": h.stage, "state": h.state, "received_at": h.received_at,
             **shown(h.stage, h.report, h.score, h.max_score)} for h in history]
    return {"sid": sid, "name": name or sid, "stages": stages, "history": rows, "csrf": auth.csrf_token(svc.secret, sid)}


def _template_code(svc: Service, filename: str) -> str:
    path = svc.course.template / filename
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


async def student_home(request: Request) -> Response:
    svc: Service = request.app.state.svc
    sid, denied = await student_gate(svc, request)
    if denied:
        return denied
    view = await to_thread.run_sync(student_view, svc, sid)
    return page(svc, "student.html.j2", **view, when=clock)


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
    spec = stage_of(svc, fields.get("stage"))
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
    return denied or report_response(svc, request, row, student=request.path_params["sid"])


def report_response(svc: Service, request: Request, row: Optional[sa.Row], student: Optional[str] = None) -> Response:
    """The report page; for a `student`, without the cases the visibility policy withholds."""
    from grader.report import html
    from grader.verdict import Report

    if row is None or row.state != "graded" or not row.report:
        return refusal(svc, request, "serve.no_report", 404)
    doc = json.loads(row.report)
    if student is not None:
        doc = report_view(doc, svc.policy, student, svc.lang)
    text = html.render(Report.from_dict(doc), svc.lang)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})


def read_events(svc: Service, sub_id: int, after: int) -> tuple[list[sa.Row], str]:
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.id, events.c.kind, events.c.data)
                            .where(events.c.submission_id == sub_id, events.c.id > after).order_by(events.c.id)).all()
        state = conn.scalar(sa.select(submissions.c.state).where(submissions.c.id == sub_id))
    return rows, state


async def result_events(request: Request) -> Response:
    """Server-sent events: the queue position while waiting, each case's verdict as it comes, each
    stage's verdicts (authoritative: they replace the stage's case rows), the end."""
    svc, row, denied = await _mine(request)
    if denied:
        return denied
    return StreamingResponse(_stream(svc, request, request.path_params["sid"], row.id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def shown_event(svc: Service, sid: str, sub_id: int, kind: str, data: str) -> Optional[str]:
    """An event's data as the student may see it (the visibility policy's withheld cases out);
    None for a case whose verdict is withheld: it is not sent at all."""
    if svc.policy is None or not svc.policy.visibility or kind not in ("stage", "final", "case"):
        return data
    doc = json.loads(data)
    if kind == "case":
        withheld = svc.policy.withheld(sid, doc.get("stage"), time.time())
        return None if (doc.get("case") or {}).get("name") in withheld else data
    if kind == "stage":
        return json.dumps(stage_view(doc, svc.policy.withheld(sid, doc.get("number"), time.time()), svc.lang))
    if doc.get("state") == "graded":
        row = own_submission(svc, sid, sub_id)
        doc["score"], doc["max_score"] = score_view(row.report, doc.get("score"), doc.get("max_score"), svc.policy,
                                                    sid, row.stage, svc.lang)
    return json.dumps(doc)


async def _stream(svc: Service, request: Request, sid: str, sub_id: int):
    last, shown, beat, asked = 0, None, time.monotonic(), 0.0
    while not await request.is_disconnected():
        rows, state = await to_thread.run_sync(read_events, svc, sub_id, last)
        for ev in rows:
            last = ev.id
            data = await to_thread.run_sync(shown_event, svc, sid, sub_id, ev.kind, ev.data)
            if data is not None:
                yield sse(ev.kind, data)
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
