"""The self-contained HTML report (inline CSS, no scripts, no network fetches)."""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Optional

from grader.messages import t, words
from grader.report.text import progress_line
from grader.safe_text import clean_all
from grader.verdict import Report, StageResult

# The details the page shows. Each is handed to the template as an attribute, None when absent:
# jinja reads `d.call` by trying getattr first, which on a dict raises (and is caught) every time.
_STAGE_DETAILS = ("notes", "traceback", "output", "warnings")
_CASE_DETAILS = ("call", "asks", "inputs", "expected", "got", "traceback", "output", "output_hidden", "warnings")


class _Words(SimpleNamespace):
    """The page's words as attributes (`w.title`), and by a status (`w[case.status]`)."""

    def __getitem__(self, key: Any) -> str:
        return getattr(self, str(key))


@lru_cache(maxsize=None)
def _template():
    from grader.templates import template

    return template("report.html.j2")


@lru_cache(maxsize=None)
def _words(lang: str) -> _Words:
    return _Words(**words(lang, "html"))


def _shown(details: Optional[dict], keys: tuple[str, ...]) -> SimpleNamespace:
    details = details or {}
    shown = SimpleNamespace(**{k: details.get(k) for k in keys})
    if "inputs" in keys:  # (name, value) pairs: the template's call of .items() costs more than the loop
        shown.inputs = list((shown.inputs or {}).items())
    return shown


def _stages(report: Report) -> list[tuple[StageResult, SimpleNamespace, list]]:
    """Each stage with its shown details, and its cases each with theirs."""
    return [(st, _shown(st.details, _STAGE_DETAILS), [(c, _shown(c.details, _CASE_DETAILS)) for c in st.cases])
            for st in report.stages]


def render(report: Report, lang: str | None = None) -> str:
    lang = lang or report.lang
    report = clean_all(report)
    return _template().render(
        report=report, stages=_stages(report), lang=lang, w=_words(lang), progress=progress_line(report, lang),
        sandbox=t(lang, "sandbox_backend", backend=report.sandbox) if report.sandbox else "",
        pct=lambda a, b: round(100.0 * a / b, 1) if b else 0.0,
    )
