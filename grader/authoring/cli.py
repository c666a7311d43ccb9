"""`grade check-course [--course DIR] [--html PATH] [--stage ...]`: exit 1 on any finding."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from grader.errors import UnknownStage, UsageError
from grader.options import shared


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check-course", parents=[shared("course", "stage", "lang")], help="check that a course's cases bite (reference, template, known mistakes, mutants)",
        description="Check a course: every spec loads; the reference earns full marks on several seeds and "
                    "is deterministic; the template earns zero; hidden cases draw new inputs per seed; each "
                    "known mistake gets its hint; mutants of the reference fail. Exit status 1 on a finding.")
    p.add_argument("--html", metavar="PATH", help="also write the report as a self-contained HTML page")
    p.add_argument("--cap", type=int, default=None, metavar="N",
                   help="grade at most N mutants per stage, sampled with a fixed seed (0: all)")
    p.add_argument("--jobs", "-j", type=int, default=2, metavar="N", help="parallel runs (default 2)")
    p.add_argument("--verbose", "-v", action="store_true", help="also print the notes")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from grader.authoring.check_course import DEFAULT_CAP, check_course
    from grader.authoring.check_report import render_html, render_text

    refs = args.stages
    try:
        result = check_course(args.course, refs or None, cap=DEFAULT_CAP if args.cap is None else args.cap,
                              lang=args.lang, workers=max(1, args.jobs), progress=sys.stderr)
    except UnknownStage as exc:
        raise UsageError(exc.words(args.lang)) from None
    sys.stdout.write(render_text(result, verbose=args.verbose) + "\n")
    if args.html:
        Path(args.html).write_text(render_html(result), encoding="utf-8")
    return 0 if result.ok else 1
