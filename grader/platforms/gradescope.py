"""Gradescope: ``grade gradescope`` writes ``/autograder/results/results.json``;
``grade gradescope --package OUT.zip`` builds the autograder zip to upload.

Format, from Gradescope's "Autograder Specifications"
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, source
gradescope/autograder_samples, ``docs/specs.md``): top level ``score``, ``execution_time``
(seconds), ``output``, ``output_format``, ``stdout_visibility``, ``tests``; each test
``name``, ``number``, ``score``, ``max_score``, ``status`` ("passed"/"failed"), ``output``,
``visibility`` ("visible", "hidden", "after_due_date", "after_published"). The zip holds
``setup.sh`` and ``run_autograder`` at its root, is unpacked to ``/autograder/source``;
the submission is in ``/autograder/submission``. Following the same site's "Best
Practices" (``docs/best_practices.md``) results.json is written even when grading fails,
and student code runs as a non-root user created by setup.sh.

One Gradescope test per case (points from the stage specs); hidden cases are
``after_due_date``. A stage that failed before its cases ran gives each of its cases a
failed test with the stage's message, so the maximum is always the specs' total.
"""

from __future__ import annotations

import argparse
import io
import json
import stat
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from grader.sandbox.isolation import UNSAFE_HELP, IsolationError, require as require_isolation
from grader.fsutil import atomic_write
from grader.options import shared
from grader.messages import t
from grader.platforms.common import grade_report, needs_torch, select_stages
from grader.course.spec import StageSpec
from grader.verdict import CaseResult, Report, Status

__all__ = ["register", "run", "gradescope_results", "error_results", "write_results", "build_package"]

DEFAULT_SUBMISSION = "/autograder/submission"
DEFAULT_RESULTS = "/autograder/results/results.json"
STUDENT_USER = "student"
TORCH_PIN = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
OUTPUT_CHARS = 4000


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0


def _cut(text: str, limit: int = OUTPUT_CHARS) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[:limit].rstrip() + "\n[truncated]"


def _case_output(c: CaseResult, lang: str) -> str:
    parts = [c.status.value] if c.status != Status.PASSED else []
    parts += [c.message] if c.message else []
    parts += [t(lang, "platform.Hint", hint=c.hint)] if c.hint else []
    return _cut("\n".join(parts))


def _test(spec: StageSpec, index: int, case_name: str, hidden: bool, score: Any, max_score: Any,
          passed: bool, output: str) -> dict:
    return {
        "name": f"{spec.number} {spec.slug} / {case_name}",
        "number": f"{spec.number}.{index}",
        "score": _num(score),
        "max_score": _num(max_score),
        "status": "passed" if passed else "failed",
        "output": output,
        "visibility": "after_due_date" if hidden else "visible",
        "tags": [spec.slug],
    }


def _stage_tests(spec: StageSpec, st: Any, lang: str) -> tuple[list[dict], Optional[str]]:
    """One test per case of the spec, and why the stage could not run (if it could not)."""
    got = {c.name: c for c in (st.cases if st else [])}
    stage_msg = st.message if st else t(lang, "platform.stage_not_graded")
    if st is not None and st.hint:
        stage_msg += "\n" + t(lang, "platform.Hint", hint=st.hint)
    stage_error = (st is None or st.status == Status.ERROR) and bool(stage_msg)
    tests = []
    for i, case in enumerate(spec.cases, start=1):
        c = got.get(case.name)
        if c is None:
            tests.append(_test(spec, i, case.name, case.hidden, 0, case.points, False,
                               _cut(stage_msg or t(lang, "platform.not_graded"))))
            continue
        out = _case_output(c, lang)
        if stage_error and c.status != Status.PASSED and stage_msg not in out:
            out = _cut(f"{out}\n{stage_msg}")
        tests.append(_test(spec, i, case.name, c.hidden, c.score, case.points, c.status == Status.PASSED, out))
    note = t(lang, "platform.stage_note", label=f"{spec.number} {spec.slug}", msg=_cut(stage_msg, 1000)) \
        if stage_error else None
    return tests, note


def gradescope_results(report: Report, specs: Sequence[StageSpec], *, lang: str = "en",
                       execution_time: float = 0.0) -> dict:
    """results.json for a report: one test per spec case, in spec order."""
    by_number = {st.number: st for st in report.stages}
    tests: list[dict] = []
    notes: list[str] = []
    for spec in specs:
        stage_tests, note = _stage_tests(spec, by_number.get(spec.number), lang)
        tests += stage_tests
        notes += [note] if note else []
    head = t(lang, "platform.graded_stages", stages=", ".join(f"{s.number} {s.slug}" for s in specs))
    if report.seed is not None:
        head += t(lang, "platform.seed", seed=report.seed)
    if report.sandbox:
        head += "\n" + t(lang, "sandbox_backend", backend=report.sandbox)
    return {
        "score": sum(test["score"] for test in tests),
        "execution_time": round(float(execution_time), 2),
        "output": "\n\n".join([head] + notes),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"course": report.course, "course_hash": report.course_hash},  # which course graded it
    }


def error_results(message: str, specs: Sequence[StageSpec] = (), *, execution_time: float = 0.0,
                  lang: str = "en") -> dict:
    """Grading failed: score 0, every spec case a failed test, the reason in `output`."""
    text = t(lang, "platform.could_not_grade", why=_cut(message, 2000))
    tests = [_test(spec, i, case.name, case.hidden, 0, case.points, False, text)
             for spec in specs for i, case in enumerate(spec.cases, start=1)]
    return {"score": 0.0, "execution_time": round(float(execution_time), 2), "output": text,
            "output_format": "text", "stdout_visibility": "hidden", "tests": tests}


def write_results(results: Mapping[str, Any], path: Path) -> Path:
    return atomic_write(path, json.dumps(results, ensure_ascii=False, indent=1))


# --- the autograder zip -----------------------------------------------------------------

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# Made by `grade gradescope --package`.
set -euxo pipefail
SRC=/autograder/source
export DEBIAN_FRONTEND=noninteractive

# Python >= 3.10 with venv support (the Ubuntu 22.04 base image has 3.10).
apt-get update || echo "setup.sh: apt-get update failed (no network?): installing from what the image holds"
PY=""
for cand in python3.13 python3.12 python3.11 python3.10 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    PY=$(command -v "$cand"); break
  fi
done
if [ -z "$PY" ]; then
  apt-get install -y python3.11 python3.11-venv
  PY=$(command -v python3.11)
fi
VER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
apt-get install -y "python$VER-venv" || apt-get install -y python3-venv || true
"$PY" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
__TORCH__
/autograder/venv/bin/python -m pip install __DEPS__

# The sandbox: bubblewrap where the container allows new namespaces. Gradescope's Docker does not
# (and where apt is absent nothing is installed): the grader, root here, then uses its uid sandbox
# -- the student user below, seccomp, rlimits -- and names it in every result (`sandbox: uid`).
if command -v apt-get >/dev/null 2>&1; then
  apt-get install -y bubblewrap libseccomp2 \
    || echo "setup.sh: bubblewrap could not be installed: the grader will use its uid sandbox"
else
  echo "setup.sh: no apt-get in this image: bubblewrap not installed, the grader will use its uid sandbox"
fi

# The unprivileged user that student code runs as (the grader itself stays root).
if ! id -u __USER__ >/dev/null 2>&1; then
  adduser __USER__ --no-create-home --disabled-password --gecos "" \
    || useradd --no-create-home --shell /usr/sbin/nologin __USER__
fi
chmod +x "$SRC/run_autograder"
# Student code needs the Python environment, never the grader's or the course's files:
# other users may pass through the folders (the grader checks that its Python is reachable)
# but not list or read them.
chmod -R a+rX /autograder/venv
find "$SRC" -type d -exec chmod o=x {} +
find "$SRC" -type f -exec chmod o= {} +
# ...except the course's platform files (public data the runs read at their platform paths).
if [ -d "$SRC/course/stages/platform" ]; then chmod -R o+rX "$SRC/course/stages/platform"; fi
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this as root in /autograder for every submission.
# Made by `grade gradescope --package`. It always leaves results/results.json behind.
ROOT="${GRADE_AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
PY="${GRADE_PYTHON_BIN:-$ROOT/venv/bin/python}"
RUN_AS="${GRADE_RUN_AS-__USER__}"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
export PYTHONPATH="$ROOT/source/grade${PYTHONPATH:+:$PYTHONPATH}"
# Start from the grader's own folder: `python -m` puts the current folder on sys.path.
cd "$ROOT/source/grade"
"$PY" -m grader gradescope "$ROOT/submission" --results "$RESULTS" \
  --course "$ROOT/source/course" ${RUN_AS:+--run-as "$RUN_AS"} __ARGS__
status=$?
if [ ! -s "$RESULTS" ]; then
  # No result (no sandbox could be built, or the grader could not start): Gradescope then shows
  # the student that the autograder failed and records no score -- never a 0 for their work.
  echo "run_autograder: the grader wrote no results (exit status $status); see the messages above" >&2
  [ "$status" -ne 0 ] && exit "$status"
  exit 1
fi
exit 0
"""


def _add_file(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.create_system = 3
    zf.writestr(info, data)


def _add_tree(zf: zipfile.ZipFile, src: Path, prefix: str) -> int:
    n = 0
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if any(part in ("__pycache__", ".git", ".pytest_cache", ".ipynb_checkpoints") or part.endswith(".pyc")
               for part in rel.parts):
            continue
        if p.is_file() and not p.is_symlink():
            _add_file(zf, f"{prefix}/{rel.as_posix()}", p.read_bytes(),
                      executable=bool(p.stat().st_mode & stat.S_IXUSR))
            n += 1
    return n


FALLBACK_DEPS = ["numpy>=1.24", "pyyaml>=6.0", "jinja2>=3.1", "sympy>=1.12", "matplotlib>=3.7"]


def _requirements(project_root: Optional[Path]) -> list[str]:
    """What setup.sh pip-installs besides torch: the project's dependencies (pyproject.toml)."""
    if project_root is not None and (project_root / "pyproject.toml").is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10
            return list(FALLBACK_DEPS)
        data = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
        deps = data.get("project", {}).get("dependencies")
        if deps:
            return [d.split(";")[0].strip() for d in deps]
    return list(FALLBACK_DEPS)


def build_package(out: Path, course: Any, specs: Sequence[Any], *, stage_refs: Sequence[str] = (),
                  lang: str = "en", user: str = STUDENT_USER) -> Path:
    """Write the Gradescope autograder zip: setup.sh and run_autograder at the top level,
    the grader source under grade/, the course under course/."""
    import grader

    pkg = Path(grader.__file__).resolve().parent
    project = pkg.parent if (pkg.parent / "pyproject.toml").is_file() else None
    torch = needs_torch(specs)
    torch_line = (f"/autograder/venv/bin/python -m pip install {TORCH_PIN} --index-url {TORCH_INDEX}"
                  if torch else "# no stage of this assignment needs PyTorch")
    deps = " ".join(f"'{d}'" for d in _requirements(project))
    args = " ".join(f"--stage {s.number}" for s in specs) if stage_refs else ""
    if lang != "en":
        args += f" --lang {lang}"
    setup = SETUP_SH.replace("__TORCH__", torch_line).replace("__DEPS__", deps).replace("__USER__", user)
    runner = RUN_AUTOGRADER.replace("__USER__", user).replace("__ARGS__", args.strip())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add_file(zf, "setup.sh", setup.encode(), executable=True)
        _add_file(zf, "run_autograder", runner.encode(), executable=True)
        _add_tree(zf, pkg, "grade/grader")
        root = Path(course.root)
        for sub in ("stages", "reference", "student_template"):
            if (root / sub).is_dir():
                _add_tree(zf, root / sub, f"course/{sub}")
    out.write_bytes(buf.getvalue())
    return out


# --- the command ------------------------------------------------------------------------


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gradescope", parents=[shared("stage", "lang", "course")], help="grade on Gradescope (results.json), or build the autograder zip",
        description="Grade a submission and write Gradescope's results.json (always, also when "
                    "grading fails), or with --package build the autograder zip to upload.")
    p.add_argument("path", nargs="?", default=DEFAULT_SUBMISSION,
                   help=f"the submission folder (default: {DEFAULT_SUBMISSION})")
    p.add_argument("--results", default=DEFAULT_RESULTS, help=f"where to write (default: {DEFAULT_RESULTS})")
    p.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--run-as", default=None, metavar="USER",
                   help="the uid sandbox runs student code as this user (the grader is root; bubblewrap "
                        "runs it as nobody in its own user namespace instead)")
    p.add_argument("--package", default=None, metavar="OUT.zip",
                   help="build the Gradescope autograder zip instead of grading")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from grader.course.folder import load_course

    refs = args.stages
    if args.package:
        try:
            course = load_course(args.course)
            if course.frozen is not None:  # a student kit has no hidden case and no reference
                from grader.messages import t

                raise ValueError(t(args.lang, "kit_not_bundle", root=course.root))
            specs = select_stages(course, None, refs) if refs else list(course.stages)
            out = build_package(Path(args.package), course, specs, stage_refs=refs, lang=args.lang)
        except Exception as exc:
            print(f"grade gradescope: {exc}", file=sys.stderr)
            return 2
        print(f"Wrote {out} (stages: {', '.join(f'{s.number} {s.slug}' for s in specs)}). "
              "Upload it on the assignment's Configure Autograder page.")
        return 0

    t0 = time.monotonic()
    results_path = Path(args.results)
    specs: list[Any] = []
    try:
        require_isolation(getattr(args, "unsafe_no_sandbox", False), args.lang)
    except IsolationError as exc:  # no result at all: Gradescope says the autograder failed, no 0 is recorded
        results_path.unlink(missing_ok=True)
        print(f"grade gradescope: {exc}", file=sys.stderr)
        return 3
    try:
        from grader.batch.unpack import find_submission_root

        course = load_course(args.course)
        stage_files = {s.file for s in course.stages}
        path = find_submission_root(Path(args.path), stage_files)
        specs = select_stages(course, path, refs)
        report = grade_report(path, course.root, specs, seed=args.seed, lang=args.lang, run_as=args.run_as)
        results = gradescope_results(report, specs, lang=args.lang, execution_time=time.monotonic() - t0)
    except IsolationError as exc:  # e.g. the uid sandbox could read the answers: no result, never a 0
        results_path.unlink(missing_ok=True)
        print(f"grade gradescope: {exc}", file=sys.stderr)
        return 3
    except BaseException as exc:  # noqa: BLE001 - results.json must be written whatever happens
        traceback.print_exc()
        write_results(error_results(f"{type(exc).__name__}: {exc}", specs, execution_time=time.monotonic() - t0,
                                    lang=args.lang), results_path)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return 1
    write_results(results, results_path)
    total = sum(t["max_score"] for t in results["tests"])
    print(f"grade: {results['score']:g}/{total:g} points; wrote {results_path}")
    return 0
