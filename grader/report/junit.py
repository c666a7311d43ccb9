"""JUnit XML for CI test tabs: one <testsuite> per stage, one <testcase> per case.

``classname`` is the stage slug, ``name`` the case name, ``time`` its duration. A failed
case carries ``<failure message=...>``, an errored or timed-out one ``<error>``. A stage
that errored before any case ran (file missing, import error, time limit of the whole
stage) becomes one errored testcase named after the stage. Built with xml.etree, so
attribute and text escaping is done by the library; characters XML 1.0 cannot hold are
removed first (grader.safe_text, then the XML-invalid rest).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Union

from grader.messages import t
from grader.report.markdown import fmt_points
from grader.safe_text import clean, clean_all
from grader.verdict import CaseResult, Report, StageResult, Status

__all__ = ["render", "write"]

MESSAGE_ATTR_CHARS = 500
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: Any) -> str:
    return _INVALID_XML.sub("", clean(text))


def _secs(x: Any) -> str:
    try:
        return f"{max(float(x), 0.0):.3f}"
    except (TypeError, ValueError):
        return "0.000"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:MESSAGE_ATTR_CHARS]


def _add_case(suite: ET.Element, classname: str, c: CaseResult, lang: str) -> tuple[int, int]:
    tc = ET.SubElement(suite, "testcase", classname=classname, name=_clean(c.name), time=_secs(c.duration_s))
    if c.status == Status.PASSED:
        return 0, 0
    body = _clean(c.message)
    if c.hint:
        body += ("\n\n" if body else "") + t(lang, "platform.Hint", hint=_clean(c.hint))
    body += ("\n\n" if body else "") + t(lang, "junit.points", points=f"{fmt_points(c.score)}/{fmt_points(c.max_score)}")
    failed = c.status == Status.FAILED
    el = ET.SubElement(tc, "failure" if failed else "error", type=c.status.value,
                       message=_first_line(_clean(c.message)) or c.status.value)
    el.text = body
    return (1, 0) if failed else (0, 1)


def _suite(root: ET.Element, st: StageResult, lang: str, graded_by: dict) -> tuple[int, int, int, float]:
    slug = _clean(st.slug or "stage")
    suite = ET.SubElement(root, "testsuite", name=_clean(f"{st.number}-{slug}".lstrip("-")))
    props = ET.SubElement(suite, "properties")
    for key in ("number", "title", "score", "max_score", "status"):
        ET.SubElement(props, "property", name=key, value=_clean(getattr(st, key)))
    for key, value in graded_by.items():  # which course graded it: its folder and content hash
        ET.SubElement(props, "property", name=key, value=_clean(value))
    # A stage without cases is one testcase named after the stage.
    cases = st.cases or [CaseResult(st.slug or "stage", st.status, st.score, st.max_score, False, st.message,
                                    duration_s=st.duration_s)]
    counts = [_add_case(suite, slug, c, lang) for c in cases]
    failures, errors = sum(f for f, _ in counts), sum(e for _, e in counts)
    if st.cases and st.message and st.status == Status.ERROR:
        hint = "\n" + t(lang, "platform.Hint", hint=st.hint) if st.hint else ""
        ET.SubElement(suite, "system-err").text = _clean(st.message + hint)
    stage_time = st.duration_s or sum(c.duration_s for c in cases)
    for key, value in (("tests", len(cases)), ("failures", failures), ("errors", errors), ("skipped", 0)):
        suite.set(key, str(value))
    suite.set("time", _secs(stage_time))
    return len(cases), failures, errors, stage_time


def render(report: Report, lang: str | None = None) -> str:
    """The report as a JUnit XML document (a string with an XML declaration)."""
    report = clean_all(report)
    root = ET.Element("testsuites", name=_clean(f"grade: {report.course or 'course'}"))
    graded_by = {"course": report.course, "course_hash": report.course_hash}
    totals = [_suite(root, st, lang or report.lang, graded_by) for st in report.stages]
    if report.sandbox:
        for props in root.iter("properties"):
            ET.SubElement(props, "property", name="sandbox", value=_clean(report.sandbox))
    for i, key in enumerate(("tests", "failures", "errors")):
        root.set(key, str(sum(x[i] for x in totals)))
    root.set("time", _secs(sum(x[3] for x in totals)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(report: Report, path: Union[str, Path], lang: str | None = None) -> Path:
    """Write render(report) to `path` (UTF-8), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, lang), encoding="utf-8")
    return path
