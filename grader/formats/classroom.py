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
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

__all__ = [
    "register", "run", "parse_stage_list", "select_stages", "grade_to_dict",
    "classroom_result", "error_result", "encode_result", "decode_result", "needs_torch", "strip_details",
]

MAX_ENCODED = 60_000          # base64 characters: far below the 128 KiB env var limit
MESSAGE_STEPS = (3000, 1500, 800, 400, 200, 80, 0)
CLASSROOM_STATUS = {"passed": "pass", "failed": "fail", "error": "error", "timeout": "error"}


# --- choosing and grading stages ------------------------------------------------------


def parse_stage_list(values: Optional[Iterable[str]]) -> list[str]:
    """``["1 2", "3,tanh"]`` -> ``["1", "2", "3", "tanh"]`` (the action's input is one string)."""
    out: list[str] = []
    for v in values or []:
        out += [p for p in re.split(r"[\s,]+", str(v)) if p]
    return out


def select_stages(course: Any, path: Optional[Path], refs: Sequence[str]) -> list[Any]:
    """The stage specs to grade: the named ones, else those whose file is in `path`, else all.

    Grading every stage when no stage file is present keeps the maximum score meaningful
    (an empty repository scores 0 of the course's points, not 0 of 0)."""
    if refs:
        specs = []
        for ref in refs:
            spec = course.find(ref)
            if spec not in specs:
                specs.append(spec)
        return sorted(specs, key=lambda s: s.number)
    present = [s for s in course.stages if path is not None and (Path(path) / s.file).is_file()]
    return present or list(course.stages)


def needs_torch(specs: Iterable[Any]) -> bool:
    return any("torch" in (getattr(s, "requires", None) or []) for s in specs)


def grade_to_dict(submission: Path, course_root: Optional[Path], specs: Sequence[Any],
                  *, seed: Optional[int] = None, lang: str = "en", run_as: Optional[str] = None,
                  details: bool = False) -> dict:
    """Grade `submission` for `specs` with the engine; the report as a dict.

    `run_as` names the user student code runs as when the grader is root (the engine's
    default there is `nobody`); `details` adds the engine's per-case details (for HTML)."""
    from grader.engine import Grader

    with Grader(course=course_root, seed=seed, lang=lang) as g:
        if run_as:
            _set_run_as(g, run_as)
        report = g.grade(Path(submission), [s.slug for s in specs])
    return report.to_dict(details=details)


def _set_run_as(grader: Any, user: str) -> None:
    import pwd

    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        print(f"grade: no user {user!r}: student code runs as the engine's default user", file=sys.stderr)
        return
    sandbox = getattr(grader, "sandbox", None)
    if os.geteuid() != 0 or sandbox is None or getattr(sandbox, "run_as", None) is None:
        # Not root, or the engine found that an unprivileged user could not run this Python.
        print(f"grade: student code cannot be switched to user {user!r} here; --run-as ignored", file=sys.stderr)
        return
    sandbox.run_as = uid


def strip_details(report: Mapping[str, Any]) -> dict:
    """The report as the JSON contract has it: without the engine's `details`."""
    out = {k: v for k, v in report.items() if k != "details"}
    out["stages"] = [{**{k: v for k, v in st.items() if k != "details"},
                      "cases": [{k: v for k, v in c.items() if k != "details"} for c in st.get("cases") or []]}
                     for st in report.get("stages") or []]
    return out


# --- the Classroom result ---------------------------------------------------------------


def _num(x: Any) -> float | int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0
    return int(v) if v == int(v) else v


def _secs(x: Any) -> str:
    try:
        return f"{float(x):.2f}s"
    except (TypeError, ValueError):
        return "0.00s"


def _title(spec: Any, lang: str) -> str:
    t = getattr(spec, "title", None)
    if t is None:
        return ""
    if hasattr(t, "get") and not isinstance(t, dict):
        return t.get(lang)
    if isinstance(t, dict):
        return t.get(lang) or t.get("en", "")
    return str(t)


def _test_code(sub_label: str, spec: Any, seed: Any, case: Optional[str] = None) -> str:
    code = f"grade {sub_label} --stage {spec.slug}"
    if seed is not None:
        code += f" --seed {seed}"
    return code + (f"   # case {case}" if case else "")


def _case_line(c: Mapping[str, Any]) -> str:
    line = f"{c.get('name', '')}: {c.get('status', '')}"
    if c.get("message"):
        line += f": {c['message']}"
    if c.get("hint"):
        line += f" (hint: {c['hint']})"
    return line


def classroom_result(report: Mapping[str, Any], specs: Sequence[Any], *, per: str = "stage",
                     lang: str = "en", sub_label: str = ".") -> dict:
    """The Classroom result for a report: one test per stage (or per case), points from `specs`.

    Every spec is represented (a stage the report lacks becomes error tests with score 0),
    so ``max_score`` is always the specs' total and the scores add up to the report's."""
    by_number = {st.get("number"): st for st in report.get("stages") or []}
    seed = report.get("seed")
    tests: list[dict] = []
    for spec in specs:
        st = by_number.get(spec.number)
        title = _title(spec, lang)
        stage_name = f"{spec.number} {spec.slug}" + (f": {title}" if title else "")
        if per == "case":
            got = {c.get("name"): c for c in (st or {}).get("cases") or []}
            for case in spec.cases:
                c = got.pop(case.name, None)
                if c is None:
                    msg = (st or {}).get("message") or "stage not graded"
                    tests.append(_test(f"{spec.number} {spec.slug} / {case.name}", "error", 0, msg,
                                       _test_code(sub_label, spec, seed, case.name), spec.file, 0))
                else:
                    msg = _case_line(c) if c.get("status") != "passed" else ""
                    stage_msg = str((st or {}).get("message") or "")
                    if msg and st.get("status") == "error" and stage_msg and stage_msg not in msg:
                        msg += f"\n{stage_msg}"  # why the case did not run (import error, ...)
                    tests.append(_test(f"{spec.number} {spec.slug} / {case.name}",
                                       CLASSROOM_STATUS.get(c.get("status"), "error"), c.get("score", 0), msg,
                                       _test_code(sub_label, spec, seed, case.name), spec.file,
                                       c.get("duration_s", 0)))
            for name, c in got.items():  # a case the engine ran but the spec does not list
                tests.append(_test(f"{spec.number} {spec.slug} / {name}",
                                   CLASSROOM_STATUS.get(c.get("status"), "error"), c.get("score", 0),
                                   _case_line(c), _test_code(sub_label, spec, seed, name), spec.file,
                                   c.get("duration_s", 0)))
        else:
            if st is None:
                tests.append(_test(stage_name, "error", 0, "stage not graded",
                                   _test_code(sub_label, spec, seed), spec.file, 0))
                continue
            cases = st.get("cases") or []
            lines = []
            if st.get("message") and st.get("status") == "error":  # why the stage could not run
                lines.append(str(st["message"]))
            n_pass = sum(1 for c in cases if c.get("status") == "passed")
            if cases:
                lines.insert(0, f"{n_pass}/{len(cases)} cases passed, "
                                f"{_num(st.get('score', 0))}/{_num(spec.max_score)} points")
            lines += [_case_line(c) for c in cases if c.get("status") != "passed"]
            tests.append(_test(stage_name, CLASSROOM_STATUS.get(st.get("status"), "error"),
                               st.get("score", 0), "\n".join(lines) if st.get("status") != "passed" else "",
                               _test_code(sub_label, spec, seed), spec.file, st.get("duration_s", 0)))
    ok = all(t["status"] == "pass" for t in tests)
    return {"version": 1, "status": "pass" if ok else "fail",
            "max_score": _num(sum(s.max_score for s in specs)), "tests": tests}


def _test(name: str, status: str, score: Any, message: str, test_code: str, filename: str,
          duration: Any) -> dict:
    return {"name": name, "status": status, "score": _num(score), "message": message or "",
            "test_code": test_code, "filename": filename, "line_no": 0,
            "execution_time": _secs(duration)}


def error_result(message: str, specs: Sequence[Any], *, per: str = "stage", lang: str = "en",
                 sub_label: str = ".") -> dict:
    """Grading itself failed: every test an error with score 0, max_score still from the specs."""
    tests = []
    for spec in specs:
        if per == "case":
            for case in spec.cases:
                tests.append(_test(f"{spec.number} {spec.slug} / {case.name}", "error", 0, message,
                                   _test_code(sub_label, spec, None, case.name), spec.file, 0))
        else:
            title = _title(spec, lang)
            tests.append(_test(f"{spec.number} {spec.slug}" + (f": {title}" if title else ""), "error", 0,
                               message, _test_code(sub_label, spec, None), spec.file, 0))
    if not tests:
        tests.append(_test("grade", "error", 0, message, f"grade {sub_label}", "", 0))
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
        trimmed["tests"] = [dict(t, message=_cut(str(t.get("message") or ""), limit))
                            for t in result.get("tests", [])]
        if limit == 0:
            for t in trimmed["tests"]:
                t["test_code"] = ""
        data = json.dumps(trimmed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        encoded = base64.b64encode(data).decode("ascii")
        if len(encoded) <= max_encoded:
            return encoded
    return encoded  # pathological (thousands of tests): still valid, just long


def decode_result(encoded: str) -> dict:
    return json.loads(base64.b64decode(encoded).decode("utf-8"))


# --- HTML report ------------------------------------------------------------------------


def render_html(report: Mapping[str, Any], lang: str = "en") -> str:
    """The engine's HTML report (grader.report_html) when present, else a plain page."""
    try:
        from grader.report_html import render_html as engine_html
    except ImportError:
        engine_html = None
    if engine_html is not None:
        return engine_html(dict(report), lang)
    from grader.formats.markdown import render_markdown

    body = html.escape(render_markdown(report, lang))
    return (f'<!doctype html>\n<html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
            f"<title>grade report</title></head><body><pre>{body}</pre></body></html>\n")


# --- the command ------------------------------------------------------------------------


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "classroom",
        help="grade for GitHub Classroom: write the `result` step output and a job summary",
        description="Grade PATH and write GitHub Classroom's step output `result` (base64 JSON) to "
                    "$GITHUB_OUTPUT, a Markdown summary to $GITHUB_STEP_SUMMARY and the reports to "
                    "--report-dir. Exits 0 whatever the score: the reporter step fails the job.")
    p.add_argument("path", nargs="?", default=".", help="the workspace to grade (default: .)")
    p.add_argument("--stage", "--stages", "-s", dest="stages", action="extend", nargs="+", default=[], metavar="N|SLUG",
                   help="stage numbers or slugs, repeatable or space/comma separated (default: the "
                        "stages whose file is present)")
    p.add_argument("--per", choices=("stage", "case"), default="stage",
                   help="one Classroom test per stage (default) or per case")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--course", default=None, help="course folder (default: the bundled course)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output", default=None, help="file to append `result=...` to (default: $GITHUB_OUTPUT)")
    p.add_argument("--summary", default=None, help="file to append the Markdown to (default: $GITHUB_STEP_SUMMARY)")
    p.add_argument("--report-dir", default=None,
                   help="write report.json, report.html, report.md and junit.xml here")
    p.add_argument("--needs-torch", action="store_true",
                   help="only print `true` or `false`: whether a stage to grade needs PyTorch")
    p.set_defaults(func=run)
    return p


def _label(path: Path) -> str:
    """How the test code names the workspace: relative to the repository root on a runner."""
    ws = os.environ.get("GITHUB_WORKSPACE")
    if ws:
        try:
            rel = os.path.relpath(os.path.abspath(path), os.path.abspath(ws))
        except ValueError:
            rel = ".."
        if not rel.startswith(".."):
            return rel
    return str(path)


def _append(path: Optional[str], text: str) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def run(args: argparse.Namespace) -> int:
    from grader.course import load_course

    path = Path(args.path)
    refs = parse_stage_list(args.stages)
    output = args.output or os.environ.get("GITHUB_OUTPUT")
    summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    sub_label = _label(path)

    specs: list[Any] = []
    course = None
    try:
        course = load_course(args.course)
        specs = select_stages(course, path, refs)
    except Exception as exc:  # a broken course or an unknown stage: still write a result
        message = f"grade could not start: {exc}"
        if args.needs_torch:
            print("false")
            print(message, file=sys.stderr)
            return 2
        return _finish_error(message, specs, args, output, summary, sub_label)

    if args.needs_torch:
        print("true" if needs_torch(specs) else "false")
        return 0

    t0 = time.monotonic()
    try:
        full = grade_to_dict(path, course.root, specs, seed=args.seed, lang=args.lang, details=True)
        report = strip_details(full)
    except Exception as exc:
        traceback.print_exc()
        return _finish_error(f"grading failed: {type(exc).__name__}: {exc}", specs, args, output,
                             summary, sub_label)
    elapsed = time.monotonic() - t0

    result = classroom_result(report, specs, per=args.per, lang=args.lang, sub_label=sub_label)
    encoded = encode_result(result)
    _append(output, f"result={encoded}\n")
    _append(output, f"score={_num(report.get('score', 0))}\nmax-score={result['max_score']}\n")

    from grader.formats.markdown import render_markdown

    md = render_markdown(report, args.lang)
    _append(summary, md + "\n")
    if args.report_dir:
        from grader.formats.junit import write_junit

        out = Path(args.report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        (out / "report.md").write_text(md, encoding="utf-8")
        try:
            page = render_html(full, args.lang)
        except Exception as exc:  # the report must not be lost for a rendering problem
            page = f"<!doctype html><meta charset=utf-8><pre>{html.escape(repr(exc))}</pre>"
        (out / "report.html").write_text(page, encoding="utf-8")
        write_junit(report, out / "junit.xml")
        _append(output, f"report-dir={out}\n")
    print(f"grade: {_num(report.get('score', 0))}/{result['max_score']} points "
          f"({len(result['tests'])} Classroom tests, status {result['status']}, {elapsed:.1f}s)")
    return 0


def _finish_error(message: str, specs: Sequence[Any], args: argparse.Namespace, output: Optional[str],
                  summary: Optional[str], sub_label: str) -> int:
    print(message, file=sys.stderr)
    result = error_result(message, specs, per=args.per, lang=args.lang, sub_label=sub_label)
    _append(output, f"result={encode_result(result)}\n")
    _append(output, f"score=0\nmax-score={result['max_score']}\n")
    heading = "评分出错" if args.lang == "zh" else "Grading error"
    _append(summary, f"## {heading}\n\n```text\n{_cut(message, 4000).replace('```', '` ` `')}\n```\n")
    if args.report_dir:
        out = Path(args.report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(message + "\n", encoding="utf-8")
        _append(output, f"report-dir={out}\n")
    return 0
