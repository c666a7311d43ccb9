"""Writing a batch's outputs: gradebook.csv, gradebook.json, students/*.html, index.html.

Every output reads the same typed records: the rows and each student's `Report` (completed
with the stages they did not hand in, see complete.py). gradebook.json is the one place a
report is serialised here."""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import json
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from grader import __version__
from grader.batch.cache import json_default
from grader.batch.overview import render_overview
from grader.batch.rows import status_label
from grader.course.digest import course_hash
from grader.fsutil import atomic_write
from grader.messages import words
from grader.report import html as html_report
from grader.safe_text import clean
from grader.verdict import Report


def stage_column(spec: Any) -> str:
    return f"{spec.number} {spec.slug}"


def csv_text(rows: Sequence[dict], columns: Sequence[Any], graded_by: Sequence[str] = ()) -> str:
    """The gradebook as CSV; `graded_by`: (course folder, content hash), two last columns on every row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["id"] + [stage_column(s) for s in columns] + ["total", "max", "status", "reason"]
               + (["course", "course_hash"] if graded_by else []))
    for r in rows:
        cells = [r["id"]]
        for s in columns:
            v = r["scores"].get(s.number)
            cells.append("" if v is None else _fmt(v))
        cells += [_fmt(r["total"]), _fmt(r["max"]), status_label(r, "en"), r["reason"], *graded_by]
        w.writerow([_csv_safe(c) for c in cells])
    return buf.getvalue()


def _csv_safe(cell: Any) -> str:
    """No control characters, and no student-chosen name run as a formula by a spreadsheet."""
    text = clean(cell)
    if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return str(int(v)) if v == int(v) else f"{v:.4g}"
    return str(v)


def json_doc(rows: Sequence[dict], reports: dict[str, Report], course: Any, columns: Sequence[Any], seed: int,
             lang: str, interrupted: bool) -> dict:
    students = []
    for r in rows:
        d = dict(r)
        d["scores"] = {str(k): v for k, v in r["scores"].items()}
        rep = reports.get(r["file"])
        d["report"] = rep.to_dict() if rep is not None else None
        students.append(d)
    return {
        "course": str(course.root),
        "course_hash": course_hash(course.root),
        "grader_version": __version__,
        "generated": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "seed": seed,
        "lang": lang,
        "interrupted": interrupted,
        "stages": [{"number": s.number, "slug": s.slug, "file": s.file,
                    "title": {"en": s.title.en, "zh": s.title.zh},
                    "max_score": _num(sum(c.points for c in s.cases))} for s in columns],
        "max_score": _num(sum(sum(c.points for c in s.cases) for s in columns)),
        "students": students,
    }


def _num(x: float) -> Any:
    x = round(float(x), 4)
    return int(x) if x == int(x) else x


def fallback_page(row: dict, lang: str, extra: str = "") -> str:
    t = words(lang, "book")

    def e(text: Any) -> str:
        return html.escape(clean(text))

    return f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(row['id'])}</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d2330}}
.box{{border:1px solid #e3b5b5;background:#fdf2f2;border-radius:6px;padding:1rem}}</style></head>
<body><p><a href="../index.html">&larr; {e(t['back'])}</a></p>
<h1>{e(row['id'])}</h1>
<div class="box"><p><strong>{e(t['no_report'])}</strong> &mdash; {e(status_label(row, lang))}</p>
<p>{e(t['reason'])}: {e(row['reason'] or '-')}</p>{extra}</div></body></html>
"""


def student_page(row: dict, report: Optional[Report], lang: str) -> str:
    """The student's report, out of the same maximum as the gradebook (stages not handed in: 0)."""
    if report is None or all(st.unstarted for st in report.stages):
        return fallback_page(row, lang)
    try:
        page = html_report.render(report, lang)
    except Exception as e:  # a rendering bug must not lose the student's page
        return fallback_page(row, lang, f"<p><code>report rendering failed: {html.escape(repr(e))}</code></p>")
    back = words(lang, "book")["back"]
    link = (f'<nav style="font:14px system-ui,sans-serif;margin:.5rem 1rem">'
            f'<a href="../index.html">&larr; {html.escape(back)}</a></nav>')
    low = page.lower()
    i = low.find("<body")
    if i >= 0:
        j = page.find(">", i)
        if j >= 0:
            return page[: j + 1] + link + page[j + 1:]
    return link + page


@dataclass
class ClassResults:
    """What a batch hands to its outputs: the rows, the students' reports (by file id), and the
    students' pages made already, as their grading ended (the others are made when written)."""

    rows: Sequence[dict]
    reports: dict[str, Report]
    pages: dict[str, str] = field(default_factory=dict)


def write_outputs(out: Path, results: ClassResults, *, course: Any, columns: Sequence[Any], seed: int, lang: str,
                  interrupted: bool) -> None:
    """Write every output file from the class's results; a second Ctrl-C is held off while they are written."""
    rows, reports, pages = results.rows, results.reports, results.pages
    old = None
    if threading.current_thread() is threading.main_thread():
        try:
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except (ValueError, OSError):
            old = None
    try:
        graded_by = (str(course.root), course_hash(course.root))
        atomic_write(out / "gradebook.csv", csv_text(rows, columns, graded_by), encoding="utf-8-sig")
        doc = json_doc(rows, reports, course, columns, seed, lang, interrupted)
        atomic_write(out / "gradebook.json", json.dumps(doc, ensure_ascii=False, indent=1, default=json_default))
        sdir = out / "students"
        sdir.mkdir(exist_ok=True)
        keep = set()
        for r in rows:
            name = f"{r['file']}.html"
            keep.add(name)
            page = pages.get(r["file"])
            atomic_write(sdir / name, page if page is not None else student_page(r, reports.get(r["file"]), lang))
        for p in sdir.glob("*.html"):
            if p.name not in keep:
                try:
                    p.unlink()
                except OSError:
                    pass
        cached = {f"{r['file']}.json" for r in rows} | {"state.json"}
        for p in (out / ".cache").glob("*.json"):
            if p.name not in cached:
                try:
                    p.unlink()
                except OSError:
                    pass
        atomic_write(out / "index.html", render_overview(rows, reports, columns, lang=lang, seed=seed,
                                                          course=course, interrupted=interrupted,
                                                          similarity=(out / "similarity.html").is_file()))
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
