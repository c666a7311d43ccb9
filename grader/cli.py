"""Command line: ``grade SUBMISSION [--stage N|SLUG ...]`` and its subcommands.

Exit status: 0 when every graded stage has full marks, 1 when points were lost, 2 for usage
errors (missing folder, unknown stage, broken spec), each with one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from grader import __version__
from grader.errors import SpecError, UsageError

# Modules that add subcommands: each has register(subparsers) and sets func=run(args) -> int.
SUBCOMMAND_MODULES = ("grader.batch", "grader.workspace", "grader.formats.gradescope", "grader.formats.classroom")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", metavar="DIR", help="course folder (default: $GRADE_COURSE or the bundled course)")
    parser.add_argument("--seed", type=int, help="seed for the hidden cases; the same seed reproduces a run")
    parser.add_argument("--lang", choices=("en", "zh"), default=os.environ.get("GRADE_LANG", "en"),
                        help="language of messages and reports")


def add_stage_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", "-s", action="extend", nargs="+", metavar="N|SLUG",
                        help="stage(s) to grade, by number or slug (default: every stage whose file is present)")


def grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade",
        description="Grade a submission folder. Subcommands: grade stages | batch | init | gradescope | classroom "
                    "(run `grade SUBCOMMAND --help`).",
    )
    p.add_argument("submission", help="the student's workspace folder")
    add_stage_option(p)
    add_common(p)
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="what to print on stdout")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report")
    p.add_argument("--junit", metavar="PATH", help="also write a JUnit XML file")
    p.add_argument("--verbose", "-v", action="store_true", help="show tracebacks in the terminal summary")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--version", action="version", version=f"grade {__version__}")
    return p


def run_grade(args: argparse.Namespace) -> int:
    from grader.sandbox import Sandbox

    submission = Path(args.submission)
    if not submission.is_dir():
        raise UsageError(f"{submission}: no such folder (give the folder that holds your .py files)")
    # One fork server when one stage is graded (reference and student runs take turns: less
    # contention for the CPU while everything starts), two otherwise.
    sandbox = Sandbox(workers=1 if args.stage and len(args.stage) == 1 else 2)
    sandbox.warm()  # the fork servers import numpy while this process imports the rest
    sandbox.warm(source=submission)  # the submission's own sandbox starts now too
    if not sandbox.isolated:
        from grader.messages import t

        print(t(args.lang, "not_isolated", why=sandbox.why), file=sys.stderr)
    from grader.engine import Grader

    with Grader(course=args.course, seed=args.seed, lang=args.lang, sandbox=sandbox) as grader:
        try:
            specs = grader.select(submission.resolve(), args.stage)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        if not specs:
            files = ", ".join(sorted({s.file for s in grader.course.stages}))
            raise UsageError(f"{submission}: no stage file found (expected one of: {files}); use --stage to choose")
        report = grader.grade(submission, [s.slug for s in specs])
    data = report.to_dict(details=True)
    emit(data, args)
    return 0 if report.full_marks else 1


def emit(data: dict, args: argparse.Namespace) -> None:
    """Print the report in the chosen format and write the requested files."""
    if args.html:
        from grader.report_html import render_html

        Path(args.html).write_text(render_html(data), encoding="utf-8")
    if args.junit:
        from grader.formats.junit import write_junit

        write_junit(data, args.junit)
    if args.format == "json":
        plain = {k: v for k, v in data.items()}
        plain["stages"] = [{k: v for k, v in s.items() if k != "details"} | {
            "cases": [{k: v for k, v in c.items() if k != "details"} for c in s["cases"]]} for s in data["stages"]]
        sys.stdout.write(json.dumps(plain, ensure_ascii=False, indent=1) + "\n")
    elif args.format == "markdown":
        from grader.formats.markdown import render_markdown

        sys.stdout.write(render_markdown(data, data["lang"]) + "\n")
    else:
        from grader.report_text import render_text

        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
        sys.stdout.write(render_text(data, color=color, verbose=args.verbose) + "\n")


def run_stages(args: argparse.Namespace) -> int:
    from grader.course import load_course

    course = load_course(args.course)
    torch_ok = importlib.util.find_spec("torch") is not None
    print(f"course: {course.root}")
    for s in course.stages:
        note = "  (needs PyTorch: install the extra)" if s.needs_torch and not torch_ok else ""
        hidden = sum(c.hidden for c in s.cases)
        print(f"{s.number:>3}  {s.slug:<20} {s.file:<22} {len(s.cases):>2} cases ({hidden} hidden), "
              f"{s.max_score:g} pts  {s.title.get(args.lang)}{note}")
    return 0


def subcommands() -> dict[str, argparse.ArgumentParser]:
    top = argparse.ArgumentParser(prog="grade")
    sub = top.add_subparsers(dest="command")
    p = sub.add_parser("stages", help="list the course's stages")
    p.add_argument("--course", metavar="DIR")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.set_defaults(func=run_stages)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return {"_top": top, **sub.choices}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and not argv[0].startswith("-") and argv[0] in _subcommand_names():
            parsers = subcommands()
            args = parsers["_top"].parse_args(argv)
            return int(args.func(args) or 0)
        args = grade_parser().parse_args(argv)
        return run_grade(args)
    except (UsageError, SpecError) as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `grade` command: run, flush, and leave without the interpreter's slow teardown."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _subcommand_names() -> set[str]:
    return {"stages", "batch", "init", "gradescope", "classroom"}
