"""Markdown rendering of a grade report: what a PR comment or a job summary shows.

A headline with the total, a table with one row per stage, then the cases that did not pass
with their messages (in fenced blocks, so nothing a student printed can break the layout)
and hints. Long messages and long lists are cut so the result fits a GitHub comment.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from grader.messages import t, words
from grader.report.text import progress_line
from grader.safe_text import clean_all
from grader.verdict import CaseResult, Report, StageResult, Status

__all__ = ["render", "fmt_points"]

# GitHub refuses comments over 65 536 characters; stay well below.
DEFAULT_MAX_CHARS = 60_000
MESSAGE_CHARS = 600
HINT_CHARS = 400

# Emoji GitHub renders, each next to its word (a screen reader and a plain-text view read the word).
MARKS = {"passed": "\u2705", "failed": "\u274c", "error": "\u26a0\ufe0f", "timeout": "\u23f1\ufe0f"}


def fmt_points(x: Any) -> str:
    """2 -> '2', 2.5 -> '2.5', 1/3 -> '0.33'."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v == int(v):
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _cell(text: Any) -> str:
    """Text safe inside a table cell: one line, pipes and markup escaped."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    return re.sub(r"([\\|`*_<>\[\]])", r"\\\1", s)


def _inline(text: Any, limit: int, w: Mapping[str, str]) -> str:
    """A hint or short text as escaped inline Markdown, cut to `limit` characters."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    if len(s) > limit:
        s = s[:limit].rstrip() + " " + w["truncated"]
    return re.sub(r"([\\`*_<>\[\]#|])", r"\\\1", s)


def _fenced(text: str, limit: int, w: Mapping[str, str]) -> str:
    """A message as a fenced block whose fence is longer than any backtick run inside."""
    s = str(text).rstrip()
    if len(s) > limit:
        s = s[:limit].rstrip() + "\n" + w["truncated"]
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{s}\n{fence}"


def _pct(score: float, max_score: float) -> str:
    return f"{100.0 * score / max_score:.0f}%" if max_score else "-"


def _head(report: Report, w: Mapping[str, str], lang: str) -> list[str]:
    head = [f"## {w['title']}: {fmt_points(report.score)} / {fmt_points(report.max_score)} "
            f"({_pct(report.score, report.max_score)})", ""]
    if report.stages:
        head += [progress_line(report, lang), ""]
    meta = []
    if report.submission:
        sub = re.sub(r"\s+", " ", report.submission).replace("`", "'")
        meta.append(f"{w['submission']}: `{sub}`")
    if report.course:
        meta.append(f"{w['course']}: {_cell(report.course)}")
    if report.seed is not None:
        meta.append(f"{w['seed']}: {_cell(report.seed)}")
        meta.append(f"{w['reproduce']}: `{report.reproduce_command().replace('`', chr(39))}`")
    if report.sandbox:
        meta.append(t(lang, "sandbox_backend", backend=_cell(report.sandbox)))
    notes = [line for note in report.notes for line in (f"> {_cell(note)}", "")]
    return head + ([" · ".join(meta), ""] if meta else []) + notes


def _table(stages: list[StageResult], w: Mapping[str, str]) -> list[str]:
    rows = [f"| # | {w['stage']} | {w['score']} | {w['status']} | {w['cases']} |", "|---:|---|---:|---|---:|"]
    for st in stages:
        n_pass = sum(c.status == Status.PASSED for c in st.cases)
        name = _cell(st.slug) + (f" ({_cell(st.title)})" if st.title else "")
        rows.append(f"| {_cell(st.number)} | {name} | {fmt_points(st.score)} / {fmt_points(st.max_score)} | "
                    f"{MARKS.get(st.status.value, '')} {w[st.status.value]} | {n_pass} / {len(st.cases)} |")
    return rows + [""]


def _case_block(label: str, c: CaseResult, w: Mapping[str, str], message_chars: int, hint: bool = True) -> str:
    bits = [f"{MARKS[c.status.value]} {w[c.status.value]}", f"{fmt_points(c.score)} / {fmt_points(c.max_score)}"]
    if c.hidden:
        bits.append(w["hidden"])
    block = f"**{_inline(label + ' / ' + c.name, 200, w)}**: {', '.join(bits)}"
    if c.message:
        block += "\n\n" + _fenced(c.message, message_chars, w)
    if c.hint and hint:
        block += f"\n\n{w['hint']}: {_inline(c.hint, HINT_CHARS, w)}"
    return block


def _blocks(stages: list[StageResult], w: Mapping[str, str], message_chars: int) -> list[str]:
    """Every case that did not pass, and why a stage could not run."""
    blocks: list[str] = []
    for st in stages:
        label = f"{st.number} {st.slug}".strip()
        if st.status == Status.ERROR and st.message:
            blocks.append(f"**{_inline(label, 200, w)}**: {w['stage_message']} ({w['error']})\n\n"
                          + _fenced(st.message, message_chars, w)
                          + (f"\n\n{w['hint']}: {_inline(st.hint, HINT_CHARS, w)}" if st.hint else ""))
        shown: set[str] = set()  # a hint once per stage, as in the terminal
        for c in st.cases:
            if c.status != Status.PASSED:
                blocks.append(_case_block(label, c, w, message_chars, hint=c.hint not in shown))
                shown.add(c.hint or "")
    return blocks


def _fit(out: list[str], blocks: list[str], w: Mapping[str, str], max_chars: int) -> list[str]:
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
        out += [w["more"].format(n=len(blocks) - shown), ""]
    return out


def render(report: Report, lang: str = "en", *, max_chars: int = DEFAULT_MAX_CHARS,
           message_chars: int = MESSAGE_CHARS) -> str:
    """The report as Markdown in `lang`, at most about `max_chars` long."""
    report = clean_all(report)
    w = words(lang, "md")
    head = _head(report, w, lang)
    if not report.stages:
        return "\n".join(head + [w["no_stages"], ""])
    out = head + _table(report.stages, w)
    blocks = _blocks(report.stages, w, message_chars)
    if not blocks:
        return "\n".join(out + [w["all_passed"], ""])
    return "\n".join(_fit(out + [f"### {w['not_passed']}", ""], blocks, w, max_chars))
