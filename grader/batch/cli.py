"""`grade batch CLASS_DIR`: grade a whole class, write a gradebook and a class overview."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from grader.batch.rows import tally
from grader.sandbox.isolation import UNSAFE_HELP, refusal
from grader.batch.run import run_batch
from grader.messages import t
from grader.options import shared
from grader.errors import UsageError
from grader.course.spec import SpecError

DESCRIPTION = ("Grade a whole class: every sub-folder, .zip, .py or .ipynb file of CLASS_DIR is one "
               "student's submission (CLASS_DIR may also be a .zip of the whole class); stage files are "
               "found as `grade FOLDER` finds them (notebooks, another case). Students are graded in "
               "parallel with one shared seed; a re-run regrades only what changed.")
EPILOG = ("outputs in --out: gradebook.csv (one row per student: stage scores, total, max, status, "
          "reason), gradebook.json (the same plus full reports), students/<id>.html, index.html "
          "(class overview), .cache/ (what makes re-runs fast; safe to delete). "
          "Ctrl-C stops and keeps what finished; exit code 130 then.")


def PARENT() -> argparse.ArgumentParser:
    return shared("stage", "lang", "course")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("class_dir", metavar="CLASS_DIR", type=Path,
                   help="one sub-folder or .zip file per student (or a .zip of the class)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: CLASS_DIR/../grades, or ./grades)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="students graded at once (default: one per core)")
    p.add_argument("--force", action="store_true", help="regrade every student, ignoring the cache")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for hidden inputs (default: the previous run's in --out, else random)")
    p.add_argument("--no-fork-server", dest="fork_server", action="store_false",
                   help="start a fresh Python for every run (slower; for debugging)")
    p.add_argument("--no-zygote", dest="zygote", action="store_false",
                   help="start a fresh Python in every sandbox instead of forking it from a worker's "
                        "zygote, which holds torch, sympy and matplotlib already (slower; same grades)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--profile", action="store_true",
                   help="print where the CPU went: the grader, the students' runs, the reference's, "
                        "the zygotes' imports, the sandboxes")
    p.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                   help="grade on a Dask cluster (default: $DASK_SCHEDULER_ADDRESS; see `grade worker-setup`)")
    p.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)
    p.add_argument("--similarity", action="store_true",
                   help="also write similarity.html: pairs of students with similar files (copydetect), "
                        "linked from the overview; a signal for a human, not a verdict")


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("batch", help="grade a whole class and write a gradebook", parents=[PARENT()],
                              description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def _summary(res: Any, lang: str) -> None:
    lines = [t(lang, "batch.summary", n=len(res.rows), **tally(res.rows), seed=res.seed, wall=res.wall_s),
             t(lang, "batch.gradebook_at", path=res.out_dir / "gradebook.csv"),
             t(lang, "batch.overview_at", path=res.out_dir / "index.html")]
    if res.interrupted:
        lines.append(t(lang, "batch.interrupted_note"))
    print("\n".join(lines), file=sys.stderr)


def _profile(res: Any, lang: str) -> None:
    p = res.profile
    if not p.get("total_cpu_s"):
        print(t(lang, "batch.profile_none"), file=sys.stderr)
        return
    counted = t(lang, "batch.profile_cgroups" if p.get("counted_by") == "cgroups" else "batch.profile_rusage")
    lines = [t(lang, "batch.profile", total=p["total_cpu_s"], wall=res.wall_s, counted=counted,
               grader=p["grader_cpu_s"], runs=p["runs_cpu_s"], n_runs=p["runs"], aside=p["stepped_aside"],
               ref=p["reference_cpu_s"], n_ref=p["reference_runs"], imports=p["zygote_imports_cpu_s"],
               zygotes=p["zygotes"], sandboxes=p["sandboxes_cpu_s"])]
    stages = sorted(p.get("stages", {}).items(), key=lambda item: -item[1]["cpu_s"])
    if stages:
        lines.append(t(lang, "batch.profile_stages"))
    lines += [t(lang, "batch.profile_stage", stage=name, file=row["file"], runs=row["runs"], cpu=row["cpu_s"],
                mean=row["mean_ms"], max=row["max_ms"], aside=row["stepped_aside"]) for name, row in stages]
    print("\n".join(lines), file=sys.stderr)


def _cluster(address: Optional[str], quiet: bool, unsafe: bool) -> Any:
    """Grading on the Dask cluster at `address` (None: here, and Dask is not imported)."""
    if not address:
        return None
    from grader.batch.cluster import ClusterGrading  # imports Dask only when it connects

    return ClusterGrading(address, stream=None if quiet else sys.stderr, unsafe=unsafe)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        print("grade batch: --jobs must be at least 1", file=sys.stderr)
        return 2
    unsafe, scheduler = getattr(args, "unsafe_no_sandbox", False), getattr(args, "scheduler", None)
    refused = None if scheduler else refusal(unsafe, args.lang)  # on a cluster, every worker checks its own
    if refused:
        print(f"grade batch: {refused}", file=sys.stderr)
        return 2
    quiet = getattr(args, "quiet", False)
    ignored = [o for o, given in (("--jobs", getattr(args, "jobs", None) is not None),
                                  ("--no-fork-server", not getattr(args, "fork_server", True)),
                                  ("--no-zygote", not getattr(args, "zygote", True))) if given]
    if scheduler and ignored:
        print(f"grade batch: {t(args.lang, 'batch.scheduler_ignores', options=' '.join(ignored))}", file=sys.stderr)
    if not getattr(args, "zygote", True):
        os.environ["GRADE_ZYGOTE"] = "0"  # read by every Sandbox of this process (grader/sandbox/zygote.py)
    try:
        res = run_batch(args.class_dir, args.out, stages=args.stages, jobs=args.jobs,
                        force=args.force, seed=args.seed, lang=args.lang,
                        course_dir=getattr(args, "course", None),
                        fork_server=getattr(args, "fork_server", True), quiet=quiet,
                        similarity=getattr(args, "similarity", False),
                        grade_many=_cluster(scheduler, quiet, unsafe))
    except (ValueError, SpecError, UsageError) as e:  # a broken course is the instructor's to fix
        print(f"grade batch: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if not quiet:
        _summary(res, args.lang)
    if getattr(args, "profile", False):
        _profile(res, args.lang)
    return 130 if res.interrupted else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="grade batch", description=DESCRIPTION, epilog=EPILOG, parents=[PARENT()])
    add_arguments(p)
    return run(p.parse_args(argv))
