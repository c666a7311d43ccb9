"""The terminal summary: one line per stage, one per case, details for what failed.

A stage not started yet (every case "not implemented yet", its functions or its file
missing) folds into one line; `verbose` expands it and shows tracebacks. The summary
counts stages done, in progress and not started, and ends with the command that
reproduces the run.
"""

from __future__ import annotations

from grader.messages import t, words
from grader.safe_text import clean_all
from grader.verdict import CaseResult, Progress, Report, StageResult, Status

COLORS = {"passed": "32", "failed": "31", "error": "35", "timeout": "33"}
SHOWN_CHARS = 160  # a call, an input, the expected and the returned value: one line each, at most
MARKS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "timeout": "TIME"}
TODO, TODO_COLOR = "TODO", "36"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _bounded(text: object) -> str:
    """A value as one line of at most SHOWN_CHARS characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= SHOWN_CHARS else line[:SHOWN_CHARS - 3] + "..."


class _Lines:
    def __init__(self, lang: str, color: bool, verbose: bool):
        self.w, self.color, self.verbose = words(lang, "text"), color, verbose
        self.lines: list[str] = []
        self.shown_hint: str | None = None

    def paint(self, status: Status) -> str:
        return self._paint(MARKS[status.value], COLORS.get(status.value, "0"))

    def _paint(self, mark: str, code: str) -> str:
        return f"\033[{code}m{mark}\033[0m" if self.color else mark

    def tail(self, text: str | None, indent: str, keep: int) -> None:
        if self.verbose and text:
            self.lines.extend(indent + ln for ln in text.rstrip().splitlines()[-keep:])

    def shown(self, d: dict) -> None:
        """A visible case's call, its inputs, the expected and the returned value (as the HTML shows them)."""
        pad = "           "
        if d.get("call"):
            self.lines.append(f"{pad}{self.w['call']}: {_bounded(d['call'])}")
        elif d.get("asks"):
            self.lines.append(f"{pad}{self.w['asks']}: {_bounded(d['asks'])}")
        self.lines += [f"{pad}  {k} = {_bounded(v)}" for k, v in (d.get("inputs") or {}).items()]
        width = max(len(self.w["expected"]), len(self.w["got"])) + 1
        for key in ("expected", "got"):
            if d.get(key) is not None:
                self.lines.append(f"{pad}{self.w[key] + ':':<{width}} {_bounded(d[key])}")

    def folded(self, stage: StageResult) -> None:
        """A stage not started: one line, its reason (the stage's message) on it."""
        head = f"[{stage.number:>2}] {stage.slug}  {stage.title}"
        self.lines.append(f"{self._paint(TODO, TODO_COLOR):<6} {head}  {_fmt(stage.score)}/{_fmt(stage.max_score)}"
                          f"  {_one_line(stage.message)}")

    def stage(self, stage: StageResult) -> None:
        if stage.progress == Progress.NOT_STARTED and not self.verbose:
            self.folded(stage)
            return
        head = f"[{stage.number:>2}] {stage.slug}  {stage.title}"
        self.lines.append(f"{self.paint(stage.status):<6} {head}  {_fmt(stage.score)}/{_fmt(stage.max_score)}")
        for note in stage.details.get("notes") or []:
            self.lines.append(f"       {self.w['note']}: {note}")
        if stage.status == Status.ERROR:
            self.lines.append(f"       {stage.message}")
            if stage.hint:
                self.lines.append(f"       {self.w['hint']}: {stage.hint}")
            self.tail(stage.details.get("traceback"), "         ", 8)
        for case in stage.cases:
            self.case(case, stage.status == Status.ERROR)

    def case(self, case: CaseResult, stage_error: bool) -> None:
        tag = f" ({self.w['hidden']})" if case.hidden else ""
        self.lines.append(f"    {self.paint(case.status):<6} {case.name}{tag}  "
                          f"{_fmt(case.score)}/{_fmt(case.max_score)}")
        if case.status == Status.PASSED or stage_error:
            return
        self.lines.extend(f"           {ln}" for ln in case.message.splitlines())
        if not case.hidden:
            self.shown(case.details)
        if case.hint and case.hint != self.shown_hint:
            self.lines.append(f"           {self.w['hint']}: {case.hint}")
            self.shown_hint = case.hint  # the same hint again is not repeated
        self.tail(case.details.get("traceback"), "           ", 6)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def progress_line(report: Report, lang: str) -> str:
    """"stages: 1 done, 2 in progress, 3 not started"."""
    return t(lang, "progress_counts", **{p.value: n for p, n in report.progress_counts().items()})


def summary(report: Report, w: dict[str, str], verbose: bool, lang: str) -> list[str]:
    """Total and stage counts, the folding note, the seed, the sandbox and the command that reproduces the run."""
    lines = ["", f"{w['total']}: {_fmt(report.score)}/{_fmt(report.max_score)}   " + progress_line(report, lang)]
    folded = report.progress_counts()[Progress.NOT_STARTED]
    if folded and not verbose:
        lines.append(w["folded"].format(n=folded))
    sandbox = t(lang, "sandbox_backend", backend=report.sandbox) + "   " if report.sandbox else ""
    lines.append(f"{w['seed']}: {report.seed}   {sandbox}{w['reproduce']}: {report.reproduce_command()}")
    return lines


def render(report: Report, lang: str | None = None, *, color: bool = False, verbose: bool = False) -> str:
    report = clean_all(report)
    out = _Lines(lang or report.lang, color, verbose)
    for stage in report.stages:
        out.stage(stage)
    out.lines += summary(report, out.w, verbose, lang or report.lang)
    out.lines += list(report.notes)
    return "\n".join(out.lines)
