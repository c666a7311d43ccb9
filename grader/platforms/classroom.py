"""GitHub Classroom: ``grade classroom`` grades a workspace and writes the step output
``result`` that Classroom's reporter reads, plus a Markdown job summary and report files.

The action at the repository root (``action.yml``) only installs the grader and calls this
command, so everything here runs (and is tested) without GitHub.

The result format follows what Classroom's own graders write and its reporter reads:

* classroom-resources/autograding-io-grader, ``src/main.js``: the result is
  ``{"version": 1, "status": "pass"|"fail"|"error", "max_score": n, "tests": [{"name",
  "status", "message", "test_code", "filename", "line_no", "execution_time": "0.31s",
  "score"}]}``, base64-encoded and set as the step output ``result``;
* classroom-resources/autograding-python-grader, ``bin/run.sh``: the output is written as
  one line ``result=<base64>`` appended to ``$GITHUB_OUTPUT``;
* classroom-resources/autograding-grading-reporter, ``src/main.js`` and
  ``src/notify-classroom.js``: the reporter reads each runner's result from the env var
  ``<RUNNER ID upper-cased>_RESULTS``, base64-decodes and JSON-parses it, adds up
  ``tests[].score`` over the runners whose ``max_score`` is set, reports
  ``Points total/max`` to Classroom, and fails the step when a runner's status is
  ``fail`` or ``error``. Its console prints ``- line N`` after a name when ``line_no`` is
  not 0, and the message only for tests whose status is ``error``.

So the first lost test of each stage (or case) is an ``error`` whose message starts with
its name and gives the reasons, and only it carries ``test_code``: the command the student
runs in their own clone (`shown`). Classroom's ``Points X/Y`` is the scores added up in
JavaScript, made exactly grade's total (`settle`).

The reporter shows two totals: ``Points X/Y`` (what Classroom records: the sum of the tests'
``score``) and, in its console table, ``passed tests / all tests x max_score`` (every test
weighing the same). They agree only when every test is worth the same and passes whole, so
each stage (or case) is split into tests of one *unit* of points (`unit_of`: the largest
value every case's points are a whole multiple of, usually 1): a case worth 3 becomes
``case (1/3)``, ``case (2/3)``, ``case (3/3)``. The job summary also says which number
Classroom records.

So: every test carries a numeric ``score``, ``max_score`` is a number taken from the stage
specs (also when grading fails: then every test is an ``error`` with score 0), and the
encoded result is kept small (messages cut) because it travels through an environment
variable: Linux caps one variable at 128 KiB, and a step output at 1 MB.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import shlex
import sys
import time
import traceback
from fractions import Fraction
from math import gcd, lcm
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from grader.sandbox.isolation import UNSAFE_HELP, require as require_isolation
from grader.fsutil import append_text
from grader.options import shared
from grader.messages import t
from grader.safe_text import no_workflow_commands
from grader.platforms.common import grade_report, needs_torch, select_stages
from grader.report import html as html_report, junit, markdown
from grader.course.spec import StageSpec
from grader.verdict import CaseResult, Report, StageResult, Status, command_line

__all__ = ["register", "run", "classroom_result", "error_result", "encode_result", "decode_result"]

MAX_ENCODED = 60_000          # base64 characters: far below the 128 KiB env var limit
MAX_UNITS = 1000              # more equal-weight tests than this: keep one weighted test each
MESSAGE_STEPS = (3000, 1500, 800, 400, 200, 80, 0)
CLASSROOM_STATUS = {"passed": "pass", "failed": "fail", "error": "error", "timeout": "error"}


# --- the Classroom result ---------------------------------------------------------------


def _num(x: Any) -> float | int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0
    return int(v) if v == int(v) else v


def _test_code(sub_label: str, spec: StageSpec, seed: Any, case: Optional[str] = None,
               extra: Sequence[str] = ()) -> str:
    words = ["grade", sub_label, "--stage", spec.slug, *(["--seed", str(seed)] if seed is not None else []), *extra]
    return " ".join(shlex.quote(w) for w in words) + (f"   # case {case}" if case else "")


def _case_line(c: CaseResult, lang: str) -> str:
    line = f"{c.name}: {c.status.value}"
    if c.message:
        line += f": {c.message}"
    if c.hint:
        line += f" ({t(lang, 'platform.hint', hint=c.hint)})"
    return line


def _test(name: str, status: str, score: Any, message: str, test_code: str, filename: str,
          duration: Any, points: Any = 0) -> dict:
    """One Classroom test; `points` (what it is worth) is kept aside for `split` and dropped there."""
    # the reporter prints names and messages in the job log: no line of them may be a workflow command
    return {"name": no_workflow_commands(name), "status": status, "score": _num(score),
            "message": no_workflow_commands(message or ""),
            "test_code": no_workflow_commands(test_code), "filename": no_workflow_commands(filename), "line_no": 0,
            "execution_time": f"{float(duration or 0):.2f}s", "_points": float(points or 0)}


def unit_of(specs: Sequence[StageSpec]) -> Optional[Fraction]:
    """The largest value every case's points are a whole multiple of (1 for whole points);
    None when splitting into that unit would make more than MAX_UNITS tests."""
    points = [Fraction(c.points).limit_denominator(1000) for s in specs for c in s.cases]
    if not points:
        return None
    den = lcm(*(p.denominator for p in points))
    unit = Fraction(gcd(*(int(p * den) for p in points)), den)
    return unit if sum(points) / unit <= MAX_UNITS else None


def split(test: dict, unit: Optional[Fraction]) -> list[dict]:
    """A test worth k units as k tests of one unit each, its earned units passing: then
    "passed/total x max" (the reporter's table) equals the sum of scores (what Classroom records)."""
    points = test.pop("_points")
    k = round(Fraction(points).limit_denominator(1000) / unit) if unit else 0
    if k <= 1:
        return [shown(test)]
    earned = min(max(round(Fraction(test["score"]).limit_denominator(1000) / unit), 0), k)
    lost = test["status"] if test["status"] != "pass" else "fail"
    out = []
    for i in range(1, k + 1):
        first_lost, first = i == earned + 1, i == 1
        out.append(shown(dict(test, name=f"{test['name']} ({i}/{k})", status="pass" if i <= earned else lost,
                              score=_num(float(unit)) if i <= earned else 0,
                              message=test["message"] if first_lost else "",
                              execution_time=test["execution_time"] if first else "0.00s")))
    return out


def shown(test: dict) -> dict:
    """The test as the reporter's log should show it. The reporter prints a test's `message`
    only when its status is `error` (src/console-results.js: `fail` prints the name alone),
    and prints `test_code` after every test: so a lost test with a reason is an `error` whose
    message starts with its name, and only it carries the command that reproduces it; the
    other lost units are `fail`, one line each. The result's own status stays `fail` for wrong
    answers (`error` when grading itself failed); the points are the scores either way."""
    if test["status"] == "pass":
        return dict(test, test_code="")
    if not test["message"]:  # the other lost units of a stage or case: one line each
        return dict(test, status="fail", test_code="")
    return dict(test, status="error", message=f"\u274c {test['name']}\n{test['message']}")


def settle(tests: list[dict], total: float) -> list[dict]:
    """Classroom records the scores added up in order as JavaScript numbers: make that sum
    exactly grade's total (units like 1/3 leave a float residue, put into the last score)."""
    scoring = [i for i, test in enumerate(tests) if test["score"]]
    if not scoring:
        return tests
    before = 0.0
    for test in tests[:scoring[-1]]:
        before += test["score"]
    rest = total - before
    if abs(rest - tests[scoring[-1]]["score"]) <= 1e-6 * max(1.0, abs(total)) and before + rest == total:
        tests[scoring[-1]]["score"] = _num(rest)
    return tests


class _Tests:
    """The Classroom tests of one report, one per stage or one per case."""

    def __init__(self, report: Report, lang: str, sub_label: str, extra: Sequence[str] = ()):
        self.by_number = {st.number: st for st in report.stages}
        self.seed, self.lang, self.sub_label, self.extra = report.seed, lang, sub_label, tuple(extra)

    def stage_name(self, spec: StageSpec) -> str:
        title = spec.title.get(self.lang)
        return f"{spec.number} {spec.slug}" + (f": {title}" if title else "")

    def per_stage(self, spec: StageSpec) -> list[dict]:
        st = self.by_number.get(spec.number)
        code = _test_code(self.sub_label, spec, self.seed, extra=self.extra)
        if st is None:
            return [_test(self.stage_name(spec), "error", 0, t(self.lang, "platform.stage_not_graded"), code,
                          spec.file, 0, spec.max_score)]
        lines = [st.message] if st.message and st.status == Status.ERROR else []  # why the stage could not run
        lines += [t(self.lang, "platform.Hint", hint=st.hint)] if lines and st.hint else []
        if st.cases:
            n_pass = sum(c.status == Status.PASSED for c in st.cases)
            lines.insert(0, t(self.lang, "platform.cases_passed", passed=n_pass, n=len(st.cases),
                              score=_num(st.score), max=_num(spec.max_score)))
        said = st.message if st.status == Status.ERROR and st.message else None  # "x.py was not found": once
        lines += [_case_line(c, self.lang) for c in st.cases
                  if c.status != Status.PASSED and not (said and said in (c.message or ""))]
        message = "\n".join(lines) if st.status != Status.PASSED else ""
        return [_test(self.stage_name(spec), CLASSROOM_STATUS[st.status.value], st.score, message, code,
                      spec.file, st.duration_s, spec.max_score)]

    def per_case(self, spec: StageSpec) -> list[dict]:
        st = self.by_number.get(spec.number)
        got = {c.name: c for c in (st.cases if st else [])}
        worth = {case.name: case.points for case in spec.cases}
        names = list(worth) + [n for n in got if n not in worth]
        return [self._case(spec, st, got.get(name), name, worth.get(name, 0)) for name in names]

    def _case(self, spec: StageSpec, st: Optional[StageResult], c: Optional[CaseResult], name: str,
              points: float) -> dict:
        label, code = f"{spec.number} {spec.slug} / {name}", _test_code(self.sub_label, spec, self.seed, name, self.extra)
        if c is None:
            msg = (st.message if st else "") or t(self.lang, "platform.stage_not_graded")
            return _test(label, "error", 0, msg, code, spec.file, 0, points)
        msg = _case_line(c, self.lang) if c.status != Status.PASSED else ""
        if msg and st.status == Status.ERROR and st.message and st.message not in msg:
            msg += f"\n{st.message}"  # why the case did not run (import error, ...)
        return _test(label, CLASSROOM_STATUS[c.status.value], c.score, msg, code, spec.file, c.duration_s,
                     points or c.max_score)


def classroom_result(report: Report, specs: Sequence[StageSpec], *, per: str = "stage",
                     lang: str = "en", sub_label: str = ".", extra: Sequence[str] = ()) -> dict:
    """The Classroom result for a report: one test per stage (or per case), points from `specs`.

    Every spec is represented (a stage the report lacks becomes error tests with score 0),
    so ``max_score`` is always the specs' total and the scores add up to the report's. Tests
    are split into equal units (`split`), so the reporter's two totals agree."""
    maker, unit = _Tests(report, lang, sub_label, extra), unit_of(specs)
    tests = settle([unit_test for spec in specs
                    for test in (maker.per_case(spec) if per == "case" else maker.per_stage(spec))
                    for unit_test in split(test, unit)], _num(report.score))
    ok = all(test["status"] == "pass" for test in tests)
    return {"version": 1, "status": "pass" if ok else "fail",
            "max_score": _num(sum(s.max_score for s in specs)), "tests": tests,
            "course": _label(Path(report.course)) if report.course else "",  # which course graded it,
            "course_hash": report.course_hash}  # named as the student's clone has it


def error_result(message: str, specs: Sequence[StageSpec], *, per: str = "stage", lang: str = "en",
                 sub_label: str = ".") -> dict:
    """Grading itself failed: every test an error with score 0, max_score still from the specs."""
    empty = Report(submission=sub_label, course="", seed=None, lang=lang)
    maker = _Tests(empty, lang, sub_label)
    tests = []
    for spec in specs:
        names = [c.name for c in spec.cases] if per == "case" else [None]
        tests += [_test(f"{spec.number} {spec.slug} / {n}" if n else maker.stage_name(spec), "error", 0, message,
                        _test_code(sub_label, spec, None, n), spec.file, 0) for n in names]
    if not tests:
        tests.append(_test("grade", "error", 0, message, f"grade {sub_label}", "", 0))
    for test in tests:  # all score 0: both of the reporter's totals are 0 without splitting
        test.pop("_points")
    tests = [shown(test) for test in tests]
    return {"version": 1, "status": "error", "max_score": _num(sum(s.max_score for s in specs)),
            "tests": tests}


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:max(limit - 15, 0)].rstrip() + " [truncated]" if limit else ""


def encode_result(result: Mapping[str, Any], max_encoded: int = MAX_ENCODED) -> str:
    """base64 of the compact JSON, on one line; messages are cut until it fits."""
    for limit in MESSAGE_STEPS:
        trimmed = dict(result)
        trimmed["tests"] = [dict(test, message=_cut(str(test.get("message") or ""), limit),
                                 **({"test_code": ""} if limit == 0 else {}))
                            for test in result.get("tests", [])]
        data = json.dumps(trimmed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        encoded = base64.b64encode(data).decode("ascii")
        if len(encoded) <= max_encoded:
            return encoded
    return encoded  # pathological (thousands of tests): still valid, just long


def decode_result(encoded: str) -> dict:
    return json.loads(base64.b64decode(encoded).decode("utf-8"))


# --- the command ------------------------------------------------------------------------


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "classroom", parents=[shared("stage", "lang", "course")],
        help="grade for GitHub Classroom: write the `result` step output and a job summary",
        description="Grade PATH and write GitHub Classroom's step output `result` (base64 JSON) to "
                    "$GITHUB_OUTPUT, a Markdown summary to $GITHUB_STEP_SUMMARY and the reports to "
                    "--report-dir. Exits 0 whatever the score: the reporter step fails the job.")
    p.add_argument("path", nargs="?", default=".", help="the workspace to grade (default: .)")
    p.add_argument("--per", choices=("stage", "case"), default="stage",
                   help="one Classroom test per stage (default) or per case")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)
    p.add_argument("--output", default=None, help="file to append `result=...` to (default: $GITHUB_OUTPUT)")
    p.add_argument("--summary", default=None, help="file to append the Markdown to (default: $GITHUB_STEP_SUMMARY)")
    p.add_argument("--report-dir", default=None,
                   help="write report.json, report.html, report.md and junit.xml here")
    p.add_argument("--needs-torch", action="store_true",
                   help="only print `true` or `false`: whether a stage to grade needs PyTorch")
    p.set_defaults(func=run)
    return p


def _in_clone(path: Path) -> Optional[str]:
    """`path` relative to the repository root on a runner, when it lies inside the repository."""
    ws = os.environ.get("GITHUB_WORKSPACE")
    if not ws:
        return None
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(ws))
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def _label(path: Path) -> str:
    """How the test code names the workspace: relative to the repository root on a runner."""
    return _in_clone(path) or str(path)


def _reproduce_options(course_root: Path, lang: str) -> tuple[str, ...]:
    """The options a student adds in their own clone: the course when it is a folder of the
    repository (`course-path`), the language when it is not English."""
    course = _in_clone(course_root)
    return (("--course", course) if course else ()) + (("--lang", lang) if lang != "en" else ())


def run(args: argparse.Namespace) -> int:
    from grader.course.folder import load_course

    path = Path(args.path)
    output = args.output or os.environ.get("GITHUB_OUTPUT")
    summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    sub_label = _label(path)
    specs: list[Any] = []
    try:
        require_isolation(getattr(args, "unsafe_no_sandbox", False), args.lang)
        course = load_course(args.course)
        specs = select_stages(course, path, args.stages)
    except Exception as exc:  # a broken course or an unknown stage: still write a result
        message = t(args.lang, "platform.could_not_start", why=exc)
        if args.needs_torch:
            print("false")
            print(no_workflow_commands(message), file=sys.stderr)
            return 2
        return _finish_error(message, specs, args, output, summary, sub_label)
    if args.needs_torch:
        print("true" if needs_torch(specs) else "false")
        return 0
    t0 = time.monotonic()
    try:
        report = grade_report(path, course.root, specs, seed=args.seed, lang=args.lang)
    except Exception as exc:
        print(no_workflow_commands(traceback.format_exc()), file=sys.stderr)  # the job log: no commands
        return _finish_error(t(args.lang, "platform.grading_failed", why=f"{type(exc).__name__}: {exc}"), specs, args, output,
                             summary, sub_label)
    # what a student types in their own clone, at its root: not the runner's path
    extra = _reproduce_options(Path(course.root), args.lang)
    report.submission = sub_label
    report.course = _in_clone(Path(course.root)) or report.course  # the course as the clone names it (its hash says which)
    report.reproduce = command_line(sub_label, [s.number for s in specs], report.seed, extra)
    result = classroom_result(report, specs, per=args.per, lang=args.lang, sub_label=sub_label, extra=extra)
    append_text(output, f"result={encode_result(result)}\n")
    append_text(output, f"score={_num(report.score)}\nmax-score={result['max_score']}\n"
                        f"course-hash={report.course_hash}\n")
    md = markdown.render(report, args.lang)
    append_text(summary, md + "\n\n" + points_note(result, specs, args.lang) + "\n")
    if args.report_dir:
        _write_reports(Path(args.report_dir), report, md, args.lang)
        append_text(output, f"report-dir={args.report_dir}\n")
    print(f"grade: {_num(report.score)}/{result['max_score']} points "
          f"({len(result['tests'])} Classroom tests, status {result['status']}, {time.monotonic() - t0:.1f}s)")
    return 0


def points_note(result: Mapping[str, Any], specs: Sequence[StageSpec], lang: str) -> str:
    """The job summary's last word: the points Classroom records, and whether the log's table agrees."""
    score = _num(round(sum(test["score"] for test in result["tests"]), 6))
    key = "platform.points_note" if unit_of(specs) is not None else "platform.points_note_weighted"
    return t(lang, key, score=score, max=result["max_score"], n=len(result["tests"]))


def _write_reports(out: Path, report: Report, md: str, lang: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(md, encoding="utf-8")
    try:
        page = html_report.render(report, lang)
    except Exception as exc:  # the report must not be lost for a rendering problem
        page = f"<!doctype html><meta charset=utf-8><pre>{html.escape(repr(exc))}</pre>"
    (out / "report.html").write_text(page, encoding="utf-8")
    junit.write(report, out / "junit.xml", lang)


def _finish_error(message: str, specs: Sequence[Any], args: argparse.Namespace, output: Optional[str],
                  summary: Optional[str], sub_label: str) -> int:
    print(no_workflow_commands(message), file=sys.stderr)
    result = error_result(message, specs, per=args.per, lang=args.lang, sub_label=sub_label)
    append_text(output, f"result={encode_result(result)}\n")
    append_text(output, f"score=0\nmax-score={result['max_score']}\n")
    heading = t(args.lang, "platform.grading_error")
    append_text(summary, f"## {heading}\n\n```text\n{_cut(message, 4000).replace('```', '` ` `')}\n```\n")
    if args.report_dir:
        out = Path(args.report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(message + "\n", encoding="utf-8")
        append_text(output, f"report-dir={out}\n")
    return 0
