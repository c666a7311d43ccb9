"""Command line: ``grade SUBMISSION [--stage N|SLUG ...]`` and its subcommands.

Exit status: 0 when every graded stage has full marks, 1 when points were lost, 2 for usage
errors (missing folder, unknown stage, broken spec), each with one line on stderr.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from grader import __version__
from grader.errors import SpecError, UnknownStage, UsageError
from grader.messages import t
from grader.options import shared
from grader.sandbox.isolation import IsolationError
from grader.verdict import Report, command_line, stage_ranges
from grader.workspace import ASSIGNMENT, assigned

# The subcommands: name -> the module that adds it (register(subparsers), func=run(args) -> int);
# `stages` is defined here.
SUBCOMMANDS = {
    "stages": None,
    "batch": "grader.batch",
    "init": "grader.workspace",
    "gradescope": "grader.platforms.gradescope",
    "classroom": "grader.platforms.classroom",
    "release": "grader.authoring.release",
    "worker-setup": "grader.batch.cluster",
    "check-course": "grader.authoring.cli",
    "serve": "grader.serve.cli",  # needs the serve extra: without it, it says what to install
}


def grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade", parents=[shared("stage", "course", "lang", "format")],
        description=f"Grade a submission folder. Subcommands: grade {' | '.join(SUBCOMMANDS)} "
                    "(run `grade SUBCOMMAND --help`).",
    )
    p.add_argument("submission", nargs="?", default=".",
                   help="your workspace folder (default: the current folder), one .py or .ipynb file, or a .zip")
    p.add_argument("--seed", type=int, help="seed for the hidden cases; the same seed reproduces a run")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report")
    p.add_argument("--junit", metavar="PATH", help="also write a JUnit XML file")
    p.add_argument("--verbose", "-v", action="store_true", help="show tracebacks in the terminal summary")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--version", action="version", version=f"grade {__version__}")
    return p


def run_grade(args: argparse.Namespace) -> int:
    from grader.course.folder import course_root, platform_folder
    from grader.sandbox import Sandbox

    submission = Path(args.submission)
    if not submission.is_dir() and not submission.is_file():
        raise UsageError(_not_found(args.submission, args.lang))
    course = course_root(args.course, near=submission)  # --course, $GRADE_COURSE, a kit around it, the checkout
    # One fork server when one stage is graded (reference and student runs take turns: less
    # contention for the CPU while everything starts), two otherwise.
    sandbox = Sandbox(workers=1 if len(args.stages) == 1 else 2, platform=platform_folder(course))
    sandbox.warm()  # the fork servers import numpy while this process imports the rest
    if submission.is_dir():
        sandbox.warm(source=submission.resolve())  # the submission's own sandbox starts now too
    if not sandbox.isolated:
        print(t(args.lang, "not_isolated", why=sandbox.why), file=sys.stderr)
    from grader.engine import Grader

    with Grader(course=course, seed=args.seed, lang=args.lang, sandbox=sandbox) as grader, \
            tempfile.TemporaryDirectory(prefix="grade-file-") as tmp:
        folder = _as_folder(grader, submission, args.stages, Path(tmp))
        recorded = [] if args.stages or not submission.is_dir() else assigned(folder)
        try:
            specs = grader.select(folder.resolve(), args.stages or [str(n) for n in recorded])
        except UnknownStage as exc:
            raise UsageError(exc.words(args.lang)) from None
        if not specs:
            raise UsageError(_no_stage_file(grader, folder, submission))
        report = grader.grade(folder, [s.slug for s in specs], handed_in=_handed_in(submission, folder))
    if recorded:
        report.notes.insert(0, t(args.lang, "assigned_stages", file=ASSIGNMENT, stages=stage_ranges(recorded)))
    report.submission = str(args.submission)  # what the student gave, not a temporary folder
    extra = (("--course", args.course) if args.course else ()) + (("--lang", args.lang) if args.lang != "en" else ())
    report.reproduce = command_line(str(args.submission), [s.number for s in specs], report.seed, extra)
    emit(report, args)
    return 0 if report.full_marks else 1


def _close_subcommand(word: str) -> Optional[str]:
    """The subcommand `word` is a typo of (``inti`` -> ``init``), if any."""
    if "/" in word or "." in word:
        return None
    close = difflib.get_close_matches(word, list(SUBCOMMANDS), n=1, cutoff=0.6)
    return close[0] if close else None


def _refuse_mistyped_subcommand(argv: Sequence[str]) -> None:
    """`grade inti my-work/`: a usage error naming `init`, before the arguments meant for it are refused."""
    match = _close_subcommand(argv[0])
    if match:
        lang = shared("lang").parse_known_args(argv)[0].lang
        raise UsageError(t(lang, "cli.did_you_mean", word=argv[0], match=match))


def _not_found(word: str, lang: str) -> str:
    """"no such folder", with "did you mean `grade init`?" for a mistyped subcommand or
    "did you mean activation.py?" for a file named almost like one next to it."""
    from grader.sources import near_miss

    match = _close_subcommand(word)
    if match:
        return t(lang, "cli.did_you_mean", word=word, match=match)
    path = Path(word)
    found = near_miss(path.parent, path.name) if path.name and path.parent.is_dir() else None
    if found:
        return t(lang, "cli.no_file_near", path=word, found=str(path.parent / found))
    return t(lang, "cli.no_folder", path=word)


def _no_stage_file(grader, folder: Path, submission: Path) -> str:
    """No stage file in the folder: a near miss (`activation .py`) if there is one, else what is expected."""
    from grader.sources import near_miss

    files = sorted({s.file for s in grader.course.stages})
    for expected in files:
        found = near_miss(folder, expected, taken=files)
        if found:
            return t(grader.lang, "cli.no_stage_file_near", path=submission, found=found, expected=expected)
    return t(grader.lang, "cli.no_stage_file", path=submission, files=", ".join(files))


def _as_folder(grader, submission: Path, stages: Optional[Sequence[str]], tmp: Path) -> Path:
    """The folder to grade: the submission itself, a zip unpacked safely, or a lone file placed."""
    if submission.is_dir():
        return submission
    if submission.suffix.lower() == ".zip":
        from grader.batch.unpack import UnpackError, find_submission_root, safe_unzip

        try:
            root = safe_unzip(submission, tmp / "unzipped")
        except UnpackError as exc:
            raise UsageError(t(grader.lang, "cli.bad_zip", path=submission, why=exc)) from None
        return find_submission_root(root, frozenset(s.file for s in grader.course.stages))
    return place_single_file(grader, submission, stages, tmp)


def _handed_in(submission: Path, folder: Path) -> Optional[dict[str, str]]:
    """A lone file placed under its stage's name: {that name: the name the student gave it}."""
    if folder == submission or submission.suffix.lower() == ".zip":
        return None
    return {p.name: submission.name for p in folder.iterdir() if p.name != submission.name}


def place_single_file(grader, path: Path, stages: Optional[Sequence[str]], folder: Path) -> Path:
    """Copy a lone submission file into `folder` under the name its stage expects; return the folder."""
    from grader.sources import single_file_name

    try:
        specs = grader.course.select(stages) if stages else list(grader.course.stages)
    except UnknownStage as exc:
        raise UsageError(exc.words(grader.lang)) from None
    name = single_file_name(path, [s.file for s in specs])
    if name is None:
        files = ", ".join(sorted({s.file for s in specs}))
        raise UsageError(t(grader.lang, "cli.not_stage_file", path=path, files=files))
    shutil.copyfile(path, folder / name)
    return folder


def emit(report: Report, args: argparse.Namespace) -> None:
    """Print the report in the chosen format and write the requested files."""
    def renderer(name: str):  # only the ones asked for are imported
        return importlib.import_module(f"grader.report.{name}")

    if args.html:
        Path(args.html).write_text(renderer("html").render(report, report.lang), encoding="utf-8")
    if args.junit:
        renderer("junit").write(report, args.junit, report.lang)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    options = {"color": color, "verbose": args.verbose} if args.format == "text" else {}
    sys.stdout.write(renderer(args.format).render(report, report.lang, **options) + "\n")


def run_stages(args: argparse.Namespace) -> int:
    from grader.course.folder import load_course

    course = load_course(args.course, near=Path.cwd())  # inside a student kit: the kit
    torch_ok = importlib.util.find_spec("torch") is not None
    lang = args.lang
    print(t(lang, "stages.course", root=course.root))
    for s in course.stages:
        note = t(lang, "stages.needs_torch") if s.needs_torch and not torch_ok else ""
        print(t(lang, "stages.line", number=s.number, slug=s.slug, file=s.file, cases=len(s.cases),
                hidden=sum(c.hidden for c in s.cases), points=s.max_score, title=s.title.get(lang), note=note))
    return 0


def subcommands() -> dict[str, argparse.ArgumentParser]:
    top = argparse.ArgumentParser(prog="grade")
    sub = top.add_subparsers(dest="command")
    p = sub.add_parser("stages", help="list the course's stages", parents=[shared("course", "lang")])
    p.set_defaults(func=run_stages)
    for name in filter(None, SUBCOMMANDS.values()):
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
        if argv and not argv[0].startswith("-") and argv[0] in SUBCOMMANDS:
            parsers = subcommands()
            args = parsers["_top"].parse_args(argv)
            return int(args.func(args) or 0)
        if argv and not argv[0].startswith("-") and not os.path.exists(argv[0]):
            _refuse_mistyped_subcommand(argv)
        args = grade_parser().parse_args(argv)
        return run_grade(args)
    except (UsageError, SpecError, IsolationError) as exc:  # IsolationError: the sandbox refused, with the fix
        print(f"grade: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `grade` command: run, flush, and leave without the interpreter's slow teardown."""
    # The grader's own numpy compares small arrays: one BLAS thread, so that starting a
    # pool of them (about 50 ms of CPU) does not compete with the sandboxes starting beside it.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    try:
        code = main()
    except BrokenPipeError:  # `grade stages | head`: the reader left; nothing more to say
        os._exit(0)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    finally:
        os._exit(code)
