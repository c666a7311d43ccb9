"""The self-contained HTML report (inline CSS, no scripts, no network fetches)."""

from __future__ import annotations

from functools import lru_cache

from grader.messages import t, words
from grader.report.text import progress_line
from grader.safe_text import clean_all
from grader.verdict import Report


@lru_cache(maxsize=1)
def _template():
    from grader.templates import template

    return template("report.html.j2")


def render(report: Report, lang: str | None = None) -> str:
    lang = lang or report.lang
    return _template().render(
        report=clean_all(report), lang=lang, w=words(lang, "html"), progress=progress_line(report, lang),
        sandbox=t(lang, "sandbox_backend", backend=report.sandbox) if report.sandbox else "",
        fmt=lambda x: f"{x:g}",
        pct=lambda a, b: round(100.0 * a / b, 1) if b else 0.0,
    )
