"""The class overview page (index.html) of a batch: distributions, hardest cases, common
failures and known-mistake hints, slowest submissions, links to every student's report.

Self-contained: inline CSS and SVG, no script, nothing fetched."""

from __future__ import annotations

import datetime as _dt
import math
import re
import statistics
import unicodedata
from pathlib import Path
from typing import Any, Optional, Sequence

from markupsafe import Markup, escape

from grader.messages import words
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
    t = words(lang, "overview")
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
        tip = t["bars_title"].format(count=count, label=lab)
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


def _report(payloads: dict, row: dict, details: bool = False) -> Optional[Report]:
    p = payloads.get(row["file"])
    if not p:
        return None
    return Report.from_dict((p.get("details") if details else None) or p.get("report") or {})


def _stages(payloads: dict, row: dict, wanted: Any, details: bool = False) -> list[StageResult]:
    rep = _report(payloads, row, details)
    return [st for st in rep.stages if st.number in wanted] if rep else []


def case_stats(rows: Sequence[dict], payloads: dict, columns: Sequence[Any]) -> list[dict]:
    wanted = {s.number for s in columns}
    order = {(s.number, c.name): i for s in columns for i, c in enumerate(s.cases)}
    stats: dict[tuple[int, str], dict] = {}
    for row in rows:
        for st in _stages(payloads, row, wanted):
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


def _failures(stages: list[StageResult]) -> list[tuple[str, str]]:
    """(message, where) of each stage error and failed case."""
    items = []
    for st in stages:
        where = f"{st.number} {st.slug}"
        if st.status == Status.ERROR and st.message:
            items.append((st.message, where))
            continue  # its cases only echo it ("not run: ...")
        items += [(c.message, f"{where} / {c.name}") for c in st.cases if c.status != Status.PASSED and c.message]
    return items


def failure_stats(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], limit: int = 15) -> list[dict]:
    """The most frequent failure messages (stage errors and failed cases), by students hit."""
    wanted = {s.number for s in columns}
    groups: dict[str, dict] = {}
    for row in rows:
        items = _failures(_stages(payloads, row, wanted))
        if not payloads.get(row["file"]) and row.get("status") == "error" and row.get("reason"):
            items.append((row["reason"], "-"))
        for msg, where in items:
            key = normalize_message(msg)
            g = groups.setdefault(key, {"message": " ".join(str(msg).split())[:400], "students": set(),
                                        "where": {}, "variants": set()})
            g["variants"].add(msg)
            g["where"][where] = g["where"].get(where, 0) + 1
            g["students"].add(row["file"])
    out = []
    for g in groups.values():
        where = sorted(g["where"].items(), key=lambda kv: -kv[1])
        out.append({"message": g["message"], "count": len(g["students"]), "variants": len(g["variants"]),
                    "where": [w for w, _ in where[:4]], "more_where": max(len(where) - 4, 0)})
    out.sort(key=lambda d: (-d["count"], d["message"]))
    return out[:limit]


def hint_stats(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], limit: int = 20) -> list[dict]:
    """Hints shown on failed cases, by students who got them; known mistakes first.

    A hint is grouped per stage (the same advice on several cases counts a student once);
    the known mistake's name is the one the engine recorded on the case."""
    wanted = {s.number for s in columns}
    groups: dict[tuple, dict] = {}
    for row in rows:
        for st in _stages(payloads, row, wanted, details=True):
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


def slowest(rows: Sequence[dict], limit: int = 10) -> list[dict]:
    timed = [r for r in rows if r.get("duration_s")]
    timed.sort(key=lambda r: -r["duration_s"])
    return [{"id": r["id"], "file": r["file"], "duration_s": r["duration_s"], "run_s": r.get("run_s", 0.0),
             "overhead_s": max(r["duration_s"] - r.get("run_s", 0.0), 0.0), "status": r["status"]}
            for r in timed[:limit]]


def _title(spec: Any, lang: str) -> str:
    return spec.title.get(lang) if hasattr(spec.title, "get") else str(spec.title)


def _histograms(graded_rows: list[dict], columns: Sequence[Any], max_total: float, lang: str) -> list[dict]:
    """The total's distribution (in % of the maximum), then each stage's."""
    t = words(lang, "overview")
    totals = [float(r["total"]) for r in graded_rows]
    hists = []
    if graded_rows and max_total:
        pct = [100.0 * x / max_total for x in totals]
        hists.append({"title": f"{t['total']} ({t['percent_of_max']})", "max": max_total,
                      "n": len(totals), "missing": 0,
                      "svg": svg_histogram(bins_for(pct, 100), t["total"], lang), "id": "hist-total"})
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


def build_context(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], *, lang: str, seed: int,
                  course: Any = None, interrupted: bool = False) -> dict:
    graded_rows = [r for r in rows if payloads.get(r["file"])]
    max_total = rows[0]["max"] if rows else sum(sum(c.points for c in s.cases) for s in columns)
    totals = [float(r["total"]) for r in graded_rows]
    stage_titles = {s.number: _title(s, lang) for s in columns}
    cases = case_stats(rows, payloads, columns)  # each with its stage's title
    for c in cases:
        c["stage_title"] = stage_titles.get(c["stage"], c["slug"])
    return {
        "t": words(lang, "overview"), "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en",
        "seed": seed, "course": Path(course.root).name if hasattr(course, "root") else "",
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        "interrupted": interrupted, "n": len(rows),
        "counts": {k: sum(r["status"] == k for r in rows) for k in ("graded", "error", "not graded")},
        **_center(totals), "max_total": max_total,
        "hists": _histograms(graded_rows, columns, max_total, lang), "cases": cases,
        "failures": failure_stats(rows, payloads, columns), "hints": hint_stats(rows, payloads, columns),
        "slowest": slowest(rows),
        "columns": [{"number": s.number, "slug": s.slug, "title": stage_titles[s.number],
                     "max": sum(c.points for c in s.cases)} for s in columns],
        "rows": sorted(rows, key=_name_key), "fmt": _fmt,
    }


def render_overview(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], *, lang: str = "en",
                    seed: int = 0, course: Any = None, interrupted: bool = False, similarity: bool = False) -> str:
    from grader.templates import template
    rows, payloads = clean_all(list(rows)), clean_all(payloads)  # ids, reasons, messages come from students
    tpl = template("overview.html.j2")
    from grader.authoring.sentences import lt
    return tpl.render(**build_context(rows, payloads, columns, lang=lang, seed=seed, course=course,
                                      interrupted=interrupted), similarity=lt(lang, "sim_link") if similarity else "")
