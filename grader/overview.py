"""The class overview page (index.html) of a batch: distributions, hardest cases, common
failures and known-mistake hints, slowest submissions, links to every student's report.

Self-contained: inline CSS and SVG, no script, nothing fetched."""

from __future__ import annotations

import datetime as _dt
import math
import re
import statistics
from pathlib import Path
from typing import Any, Optional, Sequence

from markupsafe import Markup, escape

STRINGS = {
    "en": {
        "title": "Class overview", "students": "students", "graded": "graded", "errors": "with errors",
        "not_graded": "not graded", "mean": "mean", "median": "median", "seed": "seed",
        "course": "course", "generated": "generated", "interrupted":
            "This run was interrupted: students listed as “not graded” were not graded yet. "
            "Run the same command again to finish (finished students are kept).",
        "distribution": "Score distribution", "total": "Total", "of": "of",
        "percent_of_max": "% of the maximum", "submitted": "submitted", "not_submitted": "not submitted",
        "cases": "Cases, hardest first", "stage": "Stage", "case": "Case", "hidden": "hidden",
        "passed": "passed", "pass_rate": "pass rate", "no_cases": "No case was graded.",
        "failures": "Most common failure messages", "message": "Message", "count": "students",
        "where": "where", "no_failures": "No failures.",
        "hints": "Known mistakes and hints", "hint": "Hint", "known_mistake": "known mistake",
        "no_hints": "No hint was shown to anyone.",
        "slowest": "Slowest submissions", "time": "grading time", "run_time": "time in student code",
        "overhead": "overhead",
        "all_students": "All students", "id": "Student", "max": "max", "status": "status",
        "reason": "reason", "report": "report", "open": "open",
        "status_graded": "graded", "status_error": "error", "status_not graded": "not graded",
        "students_hit": "students", "variants": "variants",
        "bars_title": "{count} students scored {label}",
    },
    "zh": {
        "title": "班级概览", "students": "名学生", "graded": "已评分", "errors": "出错",
        "not_graded": "未评分", "mean": "平均分", "median": "中位数", "seed": "随机种子",
        "course": "课程", "generated": "生成时间", "interrupted":
            "本次运行被中断：标为“未评分”的学生尚未评分。再次运行同一命令即可继续（已完成的结果会保留）。",
        "distribution": "得分分布", "total": "总分", "of": "满分",
        "percent_of_max": "占满分的百分比", "submitted": "已提交", "not_submitted": "未提交",
        "cases": "测试用例（最难的在前）", "stage": "关卡", "case": "用例", "hidden": "隐藏",
        "passed": "通过", "pass_rate": "通过率", "no_cases": "没有评分的用例。",
        "failures": "最常见的失败信息", "message": "信息", "count": "人数",
        "where": "出现位置", "no_failures": "没有失败。",
        "hints": "已知错误与提示", "hint": "提示", "known_mistake": "已知错误",
        "no_hints": "没有向任何人显示提示。",
        "slowest": "最慢的提交", "time": "评分用时", "run_time": "学生代码用时", "overhead": "额外开销",
        "all_students": "全部学生", "id": "学生", "max": "满分", "status": "状态",
        "reason": "原因", "report": "报告", "open": "查看",
        "status_graded": "已评分", "status_error": "出错", "status_not graded": "未评分",
        "students_hit": "人", "variants": "种变体",
        "bars_title": "{count} 名学生得分 {label}",
    },
}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return str(int(v)) if v == int(v) else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


# --------------------------------------------------------------------------- histograms

def bins_for(scores: Sequence[float], max_score: float) -> list[tuple[str, int]]:
    """Bars of a score distribution: one per score when few are possible, else ten ranges."""
    if max_score <= 0:
        return [("0", len(scores))]
    integral = all(float(s).is_integer() for s in scores) and float(max_score).is_integer()
    if integral and max_score <= 20:
        counts = [0] * (int(max_score) + 1)
        for s in scores:
            counts[min(max(int(s), 0), int(max_score))] += 1
        return [(str(i), c) for i, c in enumerate(counts)]
    counts = [0] * 10
    for s in scores:
        i = min(int(10 * max(s, 0) / max_score), 9)
        counts[i] += 1
    labels = []
    for i in range(10):
        lo, hi = max_score * i / 10, max_score * (i + 1) / 10
        labels.append(f"{_fmt(lo)}–{_fmt(hi)}")
    return list(zip(labels, counts))


def svg_histogram(bins: Sequence[tuple[str, int]], label: str, lang: str = "en",
                  width: int = 380, height: int = 170) -> Markup:
    """An inline SVG bar chart (no script): a <rect class="bar"> per bin, counts on top."""
    t = STRINGS.get(lang, STRINGS["en"])
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


def _report(payloads: dict, row: dict) -> Optional[dict]:
    p = payloads.get(row["file"])
    return p.get("report") if p else None


def _details(payloads: dict, row: dict) -> Optional[dict]:
    p = payloads.get(row["file"])
    return (p.get("details") or p.get("report")) if p else None


def case_stats(rows: Sequence[dict], payloads: dict, columns: Sequence[Any]) -> list[dict]:
    wanted = {s.number: s for s in columns}
    stats: dict[tuple[int, str], dict] = {}
    order: dict[tuple[int, str], int] = {}
    for s in columns:
        for i, c in enumerate(s.cases):
            order[(s.number, c.name)] = i
    for row in rows:
        rep = _report(payloads, row)
        if not rep:
            continue
        for st in rep.get("stages", []):
            n = st.get("number")
            if n not in wanted:
                continue
            for c in st.get("cases", []):
                key = (n, c.get("name", "?"))
                d = stats.setdefault(key, {"stage": n, "slug": st.get("slug", ""), "title": st.get("title", ""),
                                           "case": key[1], "hidden": bool(c.get("hidden")),
                                           "attempted": 0, "passed": 0, "points": c.get("max_score")})
                d["attempted"] += 1
                d["passed"] += c.get("status") == "passed"
    out = list(stats.values())
    for d in out:
        d["rate"] = d["passed"] / d["attempted"] if d["attempted"] else 0.0
    out.sort(key=lambda d: (d["rate"], -d["attempted"], d["stage"], order.get((d["stage"], d["case"]), 999)))
    return out


def failure_stats(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], limit: int = 15) -> list[dict]:
    """The most frequent failure messages (stage errors and failed cases), by students hit."""
    wanted = {s.number for s in columns}
    groups: dict[str, dict] = {}
    for row in rows:
        rep = _report(payloads, row)
        seen: set[str] = set()
        items: list[tuple[str, str]] = []
        if rep:
            for st in rep.get("stages", []):
                if st.get("number") not in wanted:
                    continue
                where = f"{st.get('number')} {st.get('slug', '')}"
                if st.get("status") == "error" and st.get("message"):
                    items.append((st["message"], where))
                    continue  # its cases only echo it ("not run: ...")
                for c in st.get("cases", []):
                    if c.get("status") != "passed" and c.get("message"):
                        items.append((c["message"], f"{where} / {c.get('name')}"))
        elif row.get("status") == "error" and row.get("reason"):
            items.append((row["reason"], "-"))
        for msg, where in items:
            key = normalize_message(msg)
            g = groups.setdefault(key, {"message": " ".join(str(msg).split())[:400], "students": set(),
                                        "where": {}, "variants": set()})
            g["variants"].add(msg)
            g["where"][where] = g["where"].get(where, 0) + 1
            if key not in seen:
                g["students"].add(row["file"])
                seen.add(key)
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
    the known mistake's name comes from the case details the engine records."""
    wanted = {s.number for s in columns}
    groups: dict[tuple, dict] = {}
    for row in rows:
        rep = _details(payloads, row)
        if not rep:
            continue
        for st in rep.get("stages", []):
            if st.get("number") not in wanted:
                continue
            for c in st.get("cases", []):
                hint = c.get("hint")
                if c.get("status") == "passed" or not hint:
                    continue
                mistake = c.get("mistake")
                if mistake is None and isinstance(c.get("details"), dict):
                    mistake = c["details"].get("mistake")
                if isinstance(mistake, dict):
                    mistake = mistake.get("name")
                key = (st.get("number"), str(hint))
                g = groups.setdefault(key, {"stage": st.get("number"), "slug": st.get("slug", ""),
                                            "cases": [], "hint": str(hint), "mistake": None,
                                            "students": set()})
                g["mistake"] = g["mistake"] or mistake
                if c.get("name") not in g["cases"]:
                    g["cases"].append(c.get("name"))
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


def build_context(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], *, lang: str, seed: int,
                  course: Any = None, interrupted: bool = False) -> dict:
    t = STRINGS.get(lang, STRINGS["en"])
    graded_rows = [r for r in rows if _report(payloads, r)]
    max_total = rows[0]["max"] if rows else sum(sum(c.points for c in s.cases) for s in columns)
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
        title = s.title.get(lang) if hasattr(s.title, "get") else str(s.title)
        hists.append({"title": f"{s.number} · {title}", "max": smax, "n": len(scores),
                      "missing": len(graded_rows) - len(scores),
                      "svg": svg_histogram(bins_for(scores, smax), title, lang), "id": f"hist-{s.slug}"})
    stage_titles = {s.number: (s.title.get(lang) if hasattr(s.title, "get") else str(s.title)) for s in columns}
    cases = case_stats(rows, payloads, columns)
    for c in cases:
        c["stage_title"] = stage_titles.get(c["stage"], c["slug"])
    counts = {k: sum(r["status"] == k for r in rows) for k in ("graded", "error", "not graded")}
    return {
        "t": t, "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en",
        "seed": seed, "course": Path(course.root).name if course is not None and hasattr(course, "root") else "",
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        "interrupted": interrupted, "n": len(rows), "counts": counts,
        "mean": statistics.fmean(totals) if totals else None,
        "median": statistics.median(totals) if totals else None, "max_total": max_total,
        "hists": hists, "cases": cases, "failures": failure_stats(rows, payloads, columns),
        "hints": hint_stats(rows, payloads, columns), "slowest": slowest(rows),
        "columns": [{"number": s.number, "slug": s.slug, "title": stage_titles[s.number],
                     "max": sum(c.points for c in s.cases)} for s in columns],
        "rows": rows, "fmt": _fmt,
    }


def render_overview(rows: Sequence[dict], payloads: dict, columns: Sequence[Any], *, lang: str = "en",
                    seed: int = 0, course: Any = None, interrupted: bool = False, similarity: bool = False) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    tpl = env.get_template("overview.html.j2")
    from grader.lint.catalog import lt
    return tpl.render(**build_context(rows, payloads, columns, lang=lang, seed=seed, course=course,
                                      interrupted=interrupted), similarity=lt(lang, "sim_link") if similarity else "")
