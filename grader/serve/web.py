"""What every page of the web app shares: the Service it serves, rendering pages and
refusals (sentences from the catalog, `serve.*` keys of grader.messages), and who is asking
(a student's token opens only that student's pages; the teacher's opens the class pages).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import sqlalchemy as sa
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from grader.course.digest import course_hash
from grader.course.folder import load_course
from grader.messages import t, words
from grader.serve import auth, queue
from grader.serve.deadlines import Policy

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


@dataclass
class Service:
    engine: sa.Engine
    course: Any
    lang: str = "en"
    workers: int = 2
    limits: queue.QueueCaps = field(default_factory=queue.QueueCaps)
    secret: str = ""
    secure_cookies: bool = False  # served over HTTPS (behind a proxy): cookies only travel encrypted
    policy: Optional[Policy] = None  # deadlines and the late policy (--deadlines)
    course_digest: str = ""  # the loaded course's content hash (grader/course/digest.py)

    def __post_init__(self) -> None:
        self.course_digest = self.course_digest or course_hash(self.course.root)

    def refresh_course(self) -> str:
        """The course as it is on disk now: loaded afresh when its files changed since it was
        loaded (a teacher edited a stage); its digest. Raises SpecError when it no longer loads."""
        digest = course_hash(self.course.root)
        if digest != self.course_digest:
            self.course = load_course(str(self.course.root))
            self.course_digest = digest
        return digest

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


def clock(ts: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def stage_of(svc: Service, value: Any):
    """The course stage a form names by its number, or None."""
    text = value if isinstance(value, str) else ""
    return svc.stage(int(text)) if re.fullmatch(r"[0-9]{1,4}", text) else None


def sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data) if not isinstance(data, str) else data}\n\n"
