"""The class overview page (index.html) of a batch: who is stuck (students coloured by score,
lowest first, re-sortable by name or by a stage), distributions (SVG histograms, the total's and
each stage's), hardest cases, common failures per stage and case, known-mistake hints, slowest
submissions, links to every student's report.

Reads the rows and the students' typed reports (grader.verdict.Report, by file id).
Self-contained: inline CSS, SVG and a few lines of script (sorting only: the page reads the
same without it), nothing fetched."""

from __future__ import annotations

import datetime as _dt
import math
import re
import statistics
import unicodedata
from pathlib import Path
from typing import Any, Optional, Sequence

from markupsafe import Markup, escape

from grader.batch.rows import (STATUS_ERROR, STATUS_GRADED, STATUS_NOT_GRADED, STATUS_NOT_HANDED_IN,
                               STATUS_NOT_STARTED, STATUSES, status_label)
from grader.messages import t, words
from grader.safe_text import clean_all
from grader.verdict import Report, StageResult, Status


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return str(int(v)) if v == int(v) else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


# --------------------------------------------------------------------------- histograms

def bins_for(scores: Sequence[float], max_score: float) -> list[tuple[str, int]]:
    """Bars of a score distribution: one per score when few are possible, else ten ranges
    below the maximum and the maximum itself in its own bar (full marks are not lumped in
    with "90% or more")."""
    if max_score <= 0:
        return [("0", len(scores))]
    integral = all(float(s).is_integer() for s in scores) and float(max_score).is_integer()
    if integral and max_score <= 20:
        counts = [0] * (int(max_score) + 1)
        for s in scores:
            counts[min(max(int(s), 0), int(max_score))] += 1
        return [(str(i), c) for i, c in enumerate(counts)]
    counts = [0] * 11
    for s in scores:
        full = s >= max_score - 1e-9 * max(abs(max_score), 1.0)
        counts[10 if full else min(int(10 * max(s, 0) / max_score), 9)] += 1
    # half-open ranges: "90–<100" holds 90 up to, not including, 100 (the maximum has its own bar)
    labels = [f"{_fmt(max_score * i / 10)}–<{_fmt(max_score * (i + 1) / 10)}" for i in range(10)]
    return list(zip(labels + [_fmt(float(max_score))], counts))


def svg_histogram(bins: Sequence[tuple[str, int]], label: str, lang: str = "en",
                  width: int = 380, height: int = 170) -> Markup:
    """An inline SVG bar chart (no script): a <rect class="bar"> per bin, counts on top."""
    w = words(lang, "overview")
    n = max(len(bins), 1)
    left, right, top, bottom = 8, 8, 18, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((c for _, c in bins), default=0) or 1
    step = plot_w / n
    bar_w = max(step * 0.78, 1.0)
    parts = [f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">']
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>')
    every = 1 if n <= 12 else math.ceil(n / 10)
    # Range bins are labelled by their lower bound (the tooltip gives the range).
    ticks = [lab.split("–")[0] for lab, _ in bins]
    small = n > 11 or max((len(x) for x in ticks), default=0) * 6.5 > step
    for i, (lab, count) in enumerate(bins):
        h = plot_h * count / peak
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h - h
        tip = w["bars_title"].format(count=count, label=lab)
        parts.append(f'<rect class="bar{" zero" if count == 0 else ""}" x="{x:.1f}" y="{y:.1f}" '
                     f'width="{bar_w:.1f}" height="{max(h, 0.0):.1f}" data-count="{count}" '
                     f'data-label="{escape(lab)}"><title>{escape(tip)}</title></rect>')
        if count:
            parts.append(f'<text class="count" x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}">{count}</text>')
        if i % every == 0 or i == n - 1:
            parts.append(f'<text class="tick{" small" if small else ""}" x="{x + bar_w / 2:.1f}" '
                         f'y="{top + plot_h + 14}">{escape(ticks[i])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# --------------------------------------------------------------------------- aggregation

_NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def normalize_message(msg: str) -> str:
    """Messages that differ only in numbers (values, indices, line numbers) group together."""
    text = " ".join(str(msg).split())
    text = _NUM.sub("#", text)
    return text[:300]


def _stages(reports: dict[str, Report], row: dict, wanted: Any) -> list[StageResult]:
    rep = reports.get(row["file"])
    return [st for st in rep.stages if st.number in wanted and not st.unstarted] if rep else []


def case_stats(rows: Sequence[dict], reports: dict[str, Report], columns: Sequence[Any]) -> list[dict]:
    wanted = {s.number for s in columns}
    order = {(s.number, c.name): i for s in columns for i, c in enumerate(s.cases)}
    stats: dict[tuple[int, str], dict] = {}
    for row in rows:
        for st in _stages(reports, row, wanted):
            for c in st.cases:
                d = stats.setdefault((st.number, c.name), {
                    "stage": st.number, "slug": st.slug, "title": st.title, "case": c.name, "hidden": c.hidden,
                    "attempted": 0, "passed": 0, "points": c.max_score})
                d["attempted"] += 1
                d["passed"] += c.status == Status.PASSED
    out = list(stats.values())
    for d in out:
        d["rate"] = d["passed"] / d["attempted"] if d["attempted"] else 0.0
    out.sort(key=lambda d: (d["rate"], -d["attempted"], d["stage"], order.get((d["stage"], d["case"]), 999)))
    return out


def _failures(stages: list[StageResult]) -> list[tuple[int, str, str, str]]:
    """(stage number, stage slug, case name or "", message) of each stage error and failed case."""
    items = []
    for st in stages:
        if st.status == Status.ERROR and st.message:
            items.append((st.number, st.slug, "", st.message))
            continue  # its cases only echo it ("not run: ...")
        items += [(st.number, st.slug, c.name, c.message) for c in st.cases if c.status != Status.PASSED and c.message]
    return items


def failure_stats(rows: Sequence[dict], reports: dict[str, Report], columns: Sequence[Any],
                  limit: int = 30) -> list[dict]:
    """Failure messages grouped per stage and case (never merged across them), by students hit;
    messages that differ only in their numbers are one group (its variants counted)."""
    wanted = {s.number for s in columns}
    groups: dict[tuple, dict] = {}
    for row in rows:
        items = _failures(_stages(reports, row, wanted))
        if row["file"] not in reports and row.get("status") == STATUS_ERROR and row.get("reason"):
            items.append((0, "", "", row["reason"]))  # no report: the submission could not be graded
        for number, slug, case, msg in items:
            key = (number, case, normalize_message(msg))
            g = groups.setdefault(key, {"stage": number, "slug": slug, "case": case,
                                        "message": " ".join(str(msg).split())[:400], "students": set(),
                                        "variants": set()})
            g["variants"].add(msg)
            g["students"].add(row["file"])
    out = [{**{k: v for k, v in g.items() if k not in ("students", "variants")},
            "count": len(g["students"]), "variants": len(g["variants"])} for g in groups.values()]
    out.sort(key=lambda d: (-d["count"], d["stage"], d["case"], d["message"]))
    return out[:limit]


def hint_stats(rows: Sequence[dict], reports: dict[str, Report], columns: Sequence[Any], limit: int = 20) -> list[dict]:
    """Hints shown on failed cases, by students who got them; known mistakes first.

    A hint is grouped per stage (the same advice on several cases counts a student once);
    the known mistake's name is the one the engine recorded on the case."""
    wanted = {s.number for s in columns}
    groups: dict[tuple, dict] = {}
    for row in rows:
        for st in _stages(reports, row, wanted):
            for c in st.cases:
                if c.status == Status.PASSED or not c.hint:
                    continue
                g = groups.setdefault((st.number, c.hint), {"stage": st.number, "slug": st.slug, "cases": [],
                                                            "hint": c.hint, "mistake": None, "students": set()})
                g["mistake"] = g["mistake"] or c.mistake
                if c.name not in g["cases"]:
                    g["cases"].append(c.name)
                g["students"].add(row["file"])
    out = [{**{k: v for k, v in g.items() if k != "students"}, "count": len(g["students"])}
           for g in groups.values()]
    out.sort(key=lambda d: (d["mistake"] is None, -d["count"], d["stage"] or 0, d["cases"]))
    return out[:limit]


def slowest(rows: Sequence[dict], lang: str = "en", limit: int = 10) -> list[dict]:
    """The students whose grading took longest, as measured (the wall time of their grading,
    never more than the batch's), with the time their own code ran."""
    timed = [r for r in rows if r.get("duration_s")]
    timed.sort(key=lambda r: -r["duration_s"])
    out = []
    for r in timed[:limit]:
        run = min(float(r.get("run_s") or 0.0), r["duration_s"])
        out.append({"id": r["id"], "file": r["file"], "duration_s": r["duration_s"], "run_s": run,
                    "overhead_s": r["duration_s"] - run, "status": r["status"], "label": status_label(r, lang),
                    "cached": bool(r.get("cached"))})
    return out


def _title(spec: Any, lang: str) -> str:
    return spec.title.get(lang) if hasattr(spec.title, "get") else str(spec.title)


def _histograms(graded_rows: list[dict], columns: Sequence[Any], max_total: float, lang: str) -> list[dict]:
    """The total's distribution (in % of the maximum), then each stage's."""
    w = words(lang, "overview")
    totals = [float(r["total"]) for r in graded_rows]
    hists = []
    if graded_rows and max_total:
        pct = [100.0 * x / max_total for x in totals]
        hists.append({"title": f"{w['total']} ({w['percent_of_max']})", "max": max_total,
                      "n": len(totals), "missing": 0,
                      "svg": svg_histogram(bins_for(pct, 100), w["total"], lang), "id": "hist-total"})
    for s in columns:
        smax = sum(c.points for c in s.cases)
        scores = [float(r["scores"][s.number]) for r in graded_rows if r["scores"].get(s.number) is not None]
        hists.append({"title": f"{s.number} · {_title(s, lang)}", "max": smax, "n": len(scores),
                      "missing": len(graded_rows) - len(scores),
                      "svg": svg_histogram(bins_for(scores, smax), _title(s, lang), lang), "id": f"hist-{s.slug}"})
    return hists


def _center(totals: list[float]) -> dict:
    if not totals:
        return {"mean": None, "median": None}
    return {"mean": statistics.fmean(totals), "median": statistics.median(totals)}


def _name_key(row: dict) -> tuple[str, str]:
    """Students by name, the way a person looks one up (case and accents aside from ties)."""
    return (unicodedata.normalize("NFKD", str(row["id"])).casefold(), str(row["id"]))


def band(score: Optional[float], max_score: float) -> str:
    """The colour a score is shown in: none (0 or nothing), low (under half), part, full."""
    if score is None:
        return "absent"
    if max_score and score >= max_score - 1e-9:
        return "full"
    if score <= 0:
        return "none"
    return "low" if max_score and score < max_score / 2 else "part"


_STUCK_ORDER = {STATUS_NOT_HANDED_IN: 0, STATUS_NOT_STARTED: 1, STATUS_ERROR: 2, STATUS_GRADED: 3, STATUS_NOT_GRADED: 4}


def stuck_first(row: dict) -> tuple:
    """Who needs the teacher first: lowest share of the maximum, then the state, then the name."""
    share = float(row["total"]) / float(row["max"]) if row.get("max") else 0.0
    return (round(share, 6), _STUCK_ORDER.get(row["status"], 5), *_name_key(row))


def student_rows(rows: Sequence[dict], columns: Sequence[Any], lang: str) -> list[dict]:
    """The student table's rows, stuck students first, each with its status as read, its score
    bands (the total's and each stage's) and the keys the page sorts by."""
    names = {r["file"]: i for i, r in enumerate(sorted(rows, key=_name_key))}
    out = []
    for r in sorted(rows, key=stuck_first):
        cells = []
        for s in columns:
            v = r["scores"].get(s.number)
            smax = sum(c.points for c in s.cases)
            cells.append({"value": v, "band": band(v, smax), "key": -1 if v is None else v / smax if smax else 0})
        out.append({**r, "label": status_label(r, lang), "band": band(r["total"] if r["status"] != STATUS_NOT_HANDED_IN
                                                                       else None, r["max"]),
                    "cells": cells, "name_key": names[r["file"]]})
    return out


def build_context(rows: Sequence[dict], reports: dict[str, Report], columns: Sequence[Any], *, lang: str, seed: int,
                  course: Any = None, interrupted: bool = False) -> dict:
    graded_rows = [r for r in rows if r["file"] in reports and r["status"] != STATUS_NOT_HANDED_IN]
    max_total = rows[0]["max"] if rows else sum(sum(c.points for c in s.cases) for s in columns)
    totals = [float(r["total"]) for r in graded_rows]
    stage_titles = {s.number: _title(s, lang) for s in columns}
    cases = case_stats(rows, reports, columns)  # each with its stage's title
    for c in cases:
        c["stage_title"] = stage_titles.get(c["stage"], c["slug"])
    failures = failure_stats(rows, reports, columns)
    for f in failures:
        f["stage_title"] = stage_titles.get(f["stage"], f["slug"])
    return {
        "t": words(lang, "overview"), "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en",
        "seed": seed, "course": Path(course.root).name if hasattr(course, "root") else "",
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        "interrupted": interrupted, "n": len(rows),
        "counts": [(k, t(lang, f"batch.status.{k.replace(' ', '_')}"), sum(r["status"] == k for r in rows))
                   for k in STATUSES if k != STATUS_NOT_GRADED or interrupted],
        **_center(totals), "max_total": max_total,
        "hists": _histograms(graded_rows, columns, max_total, lang), "cases": cases,
        "failures": failures, "hints": hint_stats(rows, reports, columns),
        "slowest": slowest(rows, lang),
        "columns": [{"number": s.number, "slug": s.slug, "title": stage_titles[s.number],
                     "max": sum(c.points for c in s.cases)} for s in columns],
        "rows": student_rows(rows, columns, lang), "fmt": _fmt,
    }


def render_overview(rows: Sequence[dict], reports: dict[str, Report], columns: Sequence[Any], *, lang: str = "en",
                    seed: int = 0, course: Any = None, interrupted: bool = False, similarity: bool = False) -> str:
    from grader.templates import template
    # ids, reasons, messages come from students; the details (values, output) are never shown here
    rows, reports = clean_all(list(rows)), clean_all(reports, drop=frozenset({"details"}))
    tpl = template("overview.html.j2")
    from grader.authoring.sentences import lt
    return tpl.render(**build_context(rows, reports, columns, lang=lang, seed=seed, course=course,
                                      interrupted=interrupted), similarity=lt(lang, "sim_link") if similarity else "")
