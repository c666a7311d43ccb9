"""JUnit XML for CI test tabs: one <testsuite> per stage, one <testcase> per case.

``classname`` is the stage slug, ``name`` the case name, ``time`` its duration. A failed
case carries ``<failure message=...>``, an errored or timed-out one ``<error>``. A stage
that errored before any case ran (file missing, import error, time limit of the whole
stage) becomes one errored testcase named after the stage. Built with xml.etree, so
attribute and text escaping is done by the library; characters XML 1.0 cannot hold
(NUL, ANSI escape codes, ...) are removed first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping, Union

__all__ = ["render_junit", "write_junit"]

MESSAGE_ATTR_CHARS = 500
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def _clean(text: Any) -> str:
    return _INVALID_XML.sub("", _ANSI.sub("", "" if text is None else str(text)))


def _secs(x: Any) -> str:
    try:
        return f"{max(float(x), 0.0):.3f}"
    except (TypeError, ValueError):
        return "0.000"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:MESSAGE_ATTR_CHARS]


def _add_case(suite: ET.Element, classname: str, name: str, status: str, duration: Any,
              message: str, hint: Any, points: str) -> tuple[int, int]:
    tc = ET.SubElement(suite, "testcase", classname=classname, name=name, time=_secs(duration))
    body = _clean(message)
    if hint:
        body += ("\n\n" if body else "") + "Hint: " + _clean(hint)
    body += ("\n\n" if body else "") + f"Points: {points}"
    if status == "passed":
        return 0, 0
    if status == "failed":
        el = ET.SubElement(tc, "failure", message=_first_line(_clean(message)) or "failed", type="failed")
        el.text = body
        return 1, 0
    el = ET.SubElement(tc, "error", message=_first_line(_clean(message)) or status, type=status or "error")
    el.text = body
    return 0, 1


def render_junit(report: Mapping[str, Any]) -> str:
    """The report as a JUnit XML document (a string with an XML declaration)."""
    from grader.formats.markdown import fmt_points

    root = ET.Element("testsuites", name=_clean(f"grade: {report.get('course') or 'course'}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for st in report.get("stages") or []:
        slug = _clean(st.get("slug", "stage"))
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{st.get('number', '')}-{slug}".lstrip("-")))
        props = ET.SubElement(suite, "properties")
        for key in ("number", "title", "score", "max_score", "status"):
            ET.SubElement(props, "property", name=key, value=_clean(st.get(key, "")))
        tests = failures = errors = 0
        time = 0.0
        cases = st.get("cases") or []
        if not cases:
            status = st.get("status", "error")
            status = "error" if status not in ("passed", "failed", "error", "timeout") else status
            f, e = _add_case(suite, slug, slug, status, st.get("duration_s", 0),
                             st.get("message", ""), None,
                             f"{fmt_points(st.get('score', 0))}/{fmt_points(st.get('max_score', 0))}")
            tests, failures, errors = 1, f, e
            time = float(st.get("duration_s", 0) or 0)
        for c in cases:
            f, e = _add_case(suite, slug, _clean(c.get("name", "")), c.get("status", "error"),
                             c.get("duration_s", 0), c.get("message", ""), c.get("hint"),
                             f"{fmt_points(c.get('score', 0))}/{fmt_points(c.get('max_score', 0))}")
            tests, failures, errors = tests + 1, failures + f, errors + e
            time += float(c.get("duration_s", 0) or 0)
        if cases and st.get("message") and st.get("status") == "error":
            ET.SubElement(suite, "system-err").text = _clean(st["message"])
        stage_time = float(st.get("duration_s", 0) or 0) or time
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        suite.set("time", _secs(stage_time))
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors
        totals["time"] += stage_time
    for key in ("tests", "failures", "errors"):
        root.set(key, str(totals[key]))
    root.set("time", _secs(totals["time"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: Mapping[str, Any], path: Union[str, Path]) -> Path:
    """Write render_junit(report) to `path` (UTF-8), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(report), encoding="utf-8")
    return path
