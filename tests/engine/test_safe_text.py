"""No control character from a submission reaches a terminal, HTML, Markdown, CSV or JUnit."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from grader.batch.gradebook import csv_text, fallback_page
from grader.course.folder import load_course
from grader.report import html, json as json_report, junit, markdown, text
from grader.safe_text import clean
from grader.verdict import CaseResult, Report, StageResult

ATTACK = "\x1b[2J\x1b[H Total: 9/9\r\x07 \u202eevil\u202c \x1b]0;title\x07 \x00\x9b31m"
UNSAFE = ["\x1b", "\r", "\x07", "\u202e", "\u202c", "\x00", "\x9b"]


def _report() -> Report:
    case = CaseResult("c1", "failed", 0.0, 1.0, False, "raised ValueError: " + ATTACK, hint=None,
                      details={"output": ATTACK, "traceback": ATTACK, "got": ATTACK})
    stage = StageResult(1, "sigmoid", "Sigmoid", "failed", 0.0, 1.0, "1 of 1 cases did not pass", cases=[case],
                        details={"output": ATTACK})
    return Report(submission="student" + ATTACK, course="nn", seed=1, lang="en", stages=[stage])


def _assert_safe(out: str) -> None:
    for ch in UNSAFE:
        assert ch not in out, (repr(ch), out[:200])


def test_clean_keeps_newlines_and_tabs_and_drops_the_rest():
    assert clean("a\tb\nc\r\nd") == "a\tb\nc\nd"
    _assert_safe(clean(ATTACK))
    assert "Total: 9/9" in clean(ATTACK)  # the text stays readable, only inert


def test_every_renderer_drops_control_characters():
    report = _report()
    outputs = {
        "text": text.render(report, "en", verbose=True),
        "html": html.render(report, "en"),
        "markdown": markdown.render(report, "en"),
        "junit": junit.render(report, "en"),
    }
    for name, out in outputs.items():
        _assert_safe(out)
    ET.fromstring(outputs["junit"].encode())  # still valid XML
    assert "\x1b" not in text.render(report, "en", color=False)
    assert "\\u001b" in json_report.render(report, "en")  # JSON escapes, never raw


def test_gradebook_csv_and_pages_drop_control_characters():
    spec = load_course(None).stages[0]
    rows = [{"id": "eve" + ATTACK, "file": "eve", "scores": {spec.number: 1}, "total": 1, "max": 3,
             "status": "error", "reason": ATTACK}]
    cells = list(csv.reader(io.StringIO(csv_text(rows, [spec]))))[1]  # lines end in \r\n, as CSV's do
    for cell in cells:
        _assert_safe(cell)
    assert cells[0].startswith("eve")
    _assert_safe(fallback_page(rows[0], "en"))


def test_one_line_cuts_at_a_word_boundary():
    from grader.safe_text import one_line

    text = "stage 5 mae-rmse: rmse-small failed: expected 0.5, got 0.25 (check the square root)"
    cut = one_line(text, 40)
    assert len(cut) <= 40 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "  # the cut falls on a space
    assert one_line("x" * 50, 10) == "x" * 9 + "…"  # no space at all: a hard cut


def test_clean_all_copies_a_report_cleaned_and_drops_the_fields_asked():
    from grader.safe_text import clean_all
    report = _report()
    cleaned = clean_all(report)
    assert cleaned is not report and cleaned.stages[0].cases[0] is not report.stages[0].cases[0]
    assert cleaned.stages[0].status == "failed" and cleaned.stages[0].cases[0].details["got"] == clean(ATTACK)
    assert report.stages[0].cases[0].details["got"] == ATTACK  # the report itself is left as it was
    light = clean_all(report, drop=frozenset({"details"}))
    assert light.stages[0].details == {} and light.stages[0].cases[0].details == {}
    assert light.stages[0].cases[0].message == clean("raised ValueError: " + ATTACK)
    assert clean("plain text\n\twith tabs") == "plain text\n\twith tabs" and clean("a\r\nb") == "a\nb"
