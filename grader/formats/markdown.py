"""Markdown rendering of a grade report: what a PR comment or a job summary shows.

``render_markdown(report, lang)`` takes the report dict (``report.to_dict()``, the JSON
that ``grade SUB --format json`` prints) and returns one Markdown document: a headline
with the total, a table with one row per stage, then the cases that did not pass with
their messages (in fenced blocks, so nothing a student printed can break the layout)
and hints. Long messages and long lists are cut so the result fits a GitHub comment.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

__all__ = ["render_markdown", "fmt_points", "STRINGS"]

# GitHub refuses comments over 65 536 characters; stay well below.
DEFAULT_MAX_CHARS = 60_000
MESSAGE_CHARS = 600
HINT_CHARS = 400

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Grade report",
        "score": "Score",
        "submission": "Submission",
        "course": "Course",
        "seed": "seed",
        "stage": "Stage",
        "status": "Status",
        "cases": "Cases passed",
        "not_passed": "Cases that did not pass",
        "stage_message": "Stage message",
        "hint": "Hint",
        "hidden": "hidden case",
        "more": "{n} more not shown (run `grade` locally for the full report).",
        "no_stages": "No stage was graded: no stage file was found in the submission.",
        "all_passed": "Every graded case passed.",
        "truncated": "[truncated]",
        "passed": "passed",
        "failed": "failed",
        "error": "error",
        "timeout": "timeout",
    },
    "zh": {
        "title": "评分报告",
        "score": "得分",
        "submission": "提交",
        "course": "课程",
        "seed": "随机种子",
        "stage": "关卡",
        "status": "状态",
        "cases": "通过用例",
        "not_passed": "未通过的用例",
        "stage_message": "关卡信息",
        "hint": "提示",
        "hidden": "隐藏用例",
        "more": "另有 {n} 项未显示（在本地运行 `grade` 可查看完整报告）。",
        "no_stages": "没有评分任何关卡：提交中找不到关卡所需的文件。",
        "all_passed": "所有已评分的用例均已通过。",
        "truncated": "[已截断]",
        "passed": "通过",
        "failed": "未通过",
        "error": "出错",
        "timeout": "超时",
    },
}

MARKS = {"passed": "[x]", "failed": "[ ]", "error": "[!]", "timeout": "[!]"}


_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


def _plain(text: Any) -> str:
    """Text without ANSI colour codes and control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", "" if text is None else str(text))


def _t(lang: str) -> dict[str, str]:
    return STRINGS.get(lang, STRINGS["en"])


def fmt_points(x: Any) -> str:
    """2 -> '2', 2.5 -> '2.5', 1/3 -> '0.33'."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v == int(v):
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _status_text(status: str, t: Mapping[str, str]) -> str:
    return f"{MARKS.get(status, '[?]')} {t.get(status, status)}"


def _cell(text: Any) -> str:
    """Text safe inside a table cell: one line, pipes and markup escaped."""
    s = re.sub(r"\s+", " ", _plain(text)).strip()
    return re.sub(r"([\\|`*_<>\[\]])", r"\\\1", s)


def _inline(text: Any, limit: int, t: Mapping[str, str]) -> str:
    """A hint or short text as escaped inline Markdown, cut to `limit` characters."""
    s = re.sub(r"\s+", " ", _plain(text)).strip()
    if len(s) > limit:
        s = s[:limit].rstrip() + " " + t["truncated"]
    return re.sub(r"([\\`*_<>\[\]#|])", r"\\\1", s)


def _fenced(text: str, limit: int, t: Mapping[str, str]) -> str:
    """A message as a fenced block whose fence is longer than any backtick run inside."""
    s = _plain(str(text).replace("\r\n", "\n")).rstrip()
    if len(s) > limit:
        s = s[:limit].rstrip() + "\n" + t["truncated"]
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{s}\n{fence}"


def _pct(score: float, max_score: float) -> str:
    return f"{100.0 * score / max_score:.0f}%" if max_score else "-"


def render_markdown(report: Mapping[str, Any], lang: str = "en", *,
                    max_chars: int = DEFAULT_MAX_CHARS,
                    message_chars: int = MESSAGE_CHARS) -> str:
    """The report as Markdown (English or Chinese headings), at most about `max_chars` long."""
    t = _t(lang)
    score = float(report.get("score", 0) or 0)
    max_score = float(report.get("max_score", 0) or 0)
    stages = list(report.get("stages") or [])

    head = [f"## {t['title']}: {fmt_points(score)} / {fmt_points(max_score)} ({_pct(score, max_score)})", ""]
    meta = []
    if report.get("submission"):
        sub = re.sub(r"\s+", " ", _plain(report["submission"])).replace("`", "'")
        meta.append(f"{t['submission']}: `{sub}`")
    if report.get("course"):
        meta.append(f"{t['course']}: {_cell(report['course'])}")
    if report.get("seed") is not None:
        meta.append(f"{t['seed']}: {_cell(report['seed'])}")
    if meta:
        head += [" · ".join(meta), ""]
    head += [line for note in report.get("notes") or [] for line in (f"> {_plain(note)}", "")]

    if not stages:
        return "\n".join(head + [t["no_stages"], ""])

    table = [f"| # | {t['stage']} | {t['score']} | {t['status']} | {t['cases']} |",
             "|---:|---|---:|---|---:|"]
    for st in stages:
        cases = st.get("cases") or []
        n_pass = sum(1 for c in cases if c.get("status") == "passed")
        title = st.get("title") or ""
        name = f"{_cell(st.get('slug', ''))}" + (f" ({_cell(title)})" if title else "")
        table.append(
            f"| {_cell(st.get('number', ''))} | {name} | "
            f"{fmt_points(st.get('score', 0))} / {fmt_points(st.get('max_score', 0))} | "
            f"{_status_text(st.get('status', ''), t)} | {n_pass} / {len(cases)} |")
    out = head + table + [""]

    # The details: every case that did not pass, and stage-level messages.
    blocks: list[str] = []
    for st in stages:
        label = f"{st.get('number', '')} {st.get('slug', '')}".strip()
        if st.get("status") == "error" and st.get("message"):  # why the stage could not run
            blocks.append(f"**{_inline(label, 200, t)}**: {t['stage_message']} "
                          f"({t.get(st.get('status', ''), st.get('status', ''))})\n\n"
                          + _fenced(st["message"], message_chars, t))
        for c in st.get("cases") or []:
            if c.get("status") == "passed":
                continue
            bits = [t.get(c.get("status", ""), c.get("status", "")),
                    f"{fmt_points(c.get('score', 0))} / {fmt_points(c.get('max_score', 0))}"]
            if c.get("hidden"):
                bits.append(t["hidden"])
            block = f"**{_inline(label + ' / ' + str(c.get('name', '')), 200, t)}**: {', '.join(bits)}"
            if c.get("message"):
                block += "\n\n" + _fenced(c["message"], message_chars, t)
            if c.get("hint"):
                block += f"\n\n{t['hint']}: {_inline(c['hint'], HINT_CHARS, t)}"
            blocks.append(block)

    if not blocks:
        out += [t["all_passed"], ""]
        return "\n".join(out)

    out += [f"### {t['not_passed']}", ""]
    used = sum(len(line) + 1 for line in out)
    budget = max_chars - used - 200
    shown = 0
    for block in blocks:
        if used + len(block) + 2 > budget and shown > 0:
            break
        out += [block, ""]
        used += len(block) + 2
        shown += 1
    if shown < len(blocks):
        out += [t["more"].format(n=len(blocks) - shown), ""]
    return "\n".join(out)
