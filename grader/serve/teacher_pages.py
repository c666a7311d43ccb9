"""The teacher's pages: the live class page (heat map, histograms, common failures,
latency, regrades), one student's history and reports, regrade-all, similarity on demand,
and the gradebook CSV (`grade batch`'s)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import sqlalchemy as sa
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from grader.course.spec import SpecError
from grader.messages import words
from grader.serve import auth, regrade, stats
from grader.serve.db import students, submissions
from grader.serve.student_pages import report_response, student_view
from grader.serve.web import REPORT_CSP, Service, clock, stage_of, page, refusal, sse, teacher_gate


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
    view = await to_thread.run_sync(student_view, svc, sid, True)
    return page(svc, "teacher_student.html.j2", **view, when=clock)


async def teacher_report(request: Request) -> Response:
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    c = submissions.c
    with svc.engine.connect() as conn:
        row = conn.execute(sa.select(c.state, c.report).where(c.id == request.path_params["sub"])).first()
    return report_response(svc, request, row)


async def teacher_regrade(request: Request) -> Response:
    """Start regrading a stage for everyone (or find the run already going), with the course as it
    is on disk now: its page."""
    svc: Service = request.app.state.svc
    denied = await teacher_gate(svc, request)
    if denied:
        return denied
    form = await request.form(max_files=0, max_fields=4)
    if not auth.csrf_ok(svc.secret, "teacher", form.get("csrf")):
        return refusal(svc, request, "serve.bad_csrf", 403)
    try:  # the course as it is on disk now (a spec changed since the start: loaded afresh)
        digest = await to_thread.run_sync(svc.refresh_course)
    except SpecError as exc:
        return refusal(svc, request, "serve.course_broken", 409, why=str(exc))
    spec = stage_of(svc, form.get("stage"))
    if spec is None:
        return refusal(svc, request, "serve.no_stage", 400)
    rid, _started = await to_thread.run_sync(regrade.start, svc.engine, spec.number, digest)
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
    spec = stage_of(svc, request.path_params["stage"])
    if spec is None:
        return refusal(svc, request, "serve.no_stage", 404)
    text = await to_thread.run_sync(similarity_page, svc, spec.number)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})
