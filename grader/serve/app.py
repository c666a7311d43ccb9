"""The web app (Starlette): its routes. The pages are in student_pages.py and
teacher_pages.py, what they share in web.py. It stores submissions and streams what the
worker writes; it never runs student code.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from grader.messages import t
from grader.serve.student_pages import report_page, result_events, result_page, student_home, submit
from grader.serve.teacher_pages import (teacher_csv, teacher_events, teacher_home, teacher_regrade,
                                        teacher_regrade_page, teacher_report, teacher_similarity, teacher_student)
from grader.serve.web import HERE, Service, page

__all__ = ["Service", "make_app"]


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
