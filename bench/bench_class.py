"""Benchmark `grade batch` on a generated class: jobs and fork server vs fresh Python.

    .venv/bin/python bench/bench_class.py [--students 100] [--subset 24] [--stages 1-14]

Generates N students x every stage (half correct, a quarter half-done, a quarter
unfinished: the course's reference and template files; `--touch-templates` adds a comment
to each unchanged template file, so that it is run instead of called "not started" at
once), grades it with `--force` under
four configurations and prints one table:

    fork server, default jobs | fork server, --jobs 1 | fresh Python, --jobs 1 | fresh Python, default jobs

with wall time, time per student, speed-up against the fresh-Python --jobs 1 baseline, and
the per-run overhead on numpy stages (a stage's time minus the time inside student code,
`run_s`, and minus `wait_s`, the time it queued for its submission's one sandbox while the
submission's other stages ran there, or for the reference). The default-jobs fork-server run grades the whole class; the three slower ones
grade the first `--subset` students (same mix of kinds) and are compared per student
(`--subset 0`: the whole class everywhere, which takes much longer). Each configuration
starts its own Grader, so each pays once for the reference runs and the reference's
sandbox; every student pays for its own sandbox (bubblewrap + Python + numpy, and sympy and
torch when its stages need them), which is the price of never sharing a process between
submissions. Not a test; takes several minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))  # test_batch: the class generator

from grader.batch import run_batch  # noqa: E402
from grader.course.folder import load_course  # noqa: E402


def make_bench_class(dest: Path, n: int, files: tuple[str, ...]) -> Path:
    from test_batch import make_class  # the tests' generator

    kinds = {}
    for i in range(n):
        kind = "correct" if i % 2 == 0 else ("half" if i % 4 == 1 else "template")
        kinds[f"student{i:03d}"] = kind
    return make_class(dest, kinds, files=files)


def touch_templates(class_dir: Path) -> int:
    """Append a comment to every file still identical to the template, so that it is run (the
    engine calls an unchanged template file "not started" without a run): the class where
    every student has started every file. Returns how many files were touched."""
    template = ROOT / "student_template"
    touched = 0
    for path in class_dir.glob("*/*.py"):
        ref = template / path.name
        if ref.is_file() and path.read_bytes() == ref.read_bytes():
            path.write_bytes(path.read_bytes() + b"\n# started\n")
            touched += 1
    return touched


def subset(src: Path, dest: Path, n: int) -> Path:
    dest.mkdir(parents=True)
    for p in sorted(src.iterdir())[:n]:
        shutil.copytree(p, dest / p.name)
    return dest


def measure(name: str, class_dir: Path, out: Path, *, jobs: int, fork_server: bool, stages, seed: int,
            numpy_stages: set[int]) -> dict:
    t0 = time.perf_counter()
    res = run_batch(class_dir, out, stages=stages, jobs=jobs, force=True, seed=seed, fork_server=fork_server,
                    quiet=True)
    wall = time.perf_counter() - t0
    import json

    doc = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    overheads, runs, run_s = [], 0, 0.0
    for s in doc["students"]:
        for st in (s.get("report") or {}).get("stages", []):
            runs += 1
            run_s += st.get("run_s", 0.0)
            if st["number"] in numpy_stages and st["status"] != "error":
                # what the grader adds to this run: not the student's code, nor the wait for the
                # sandbox while the submission's other stages run in it, nor the wait for the reference
                overheads.append(st["duration_s"] - st.get("wait_s", 0.0) - st["run_s"])
    n = len(res.rows)
    return {"name": name, "jobs": jobs, "fork": fork_server, "students": n, "runs": runs, "wall": wall,
            "per_student": wall / max(n, 1), "run_s": run_s,
            "overhead_ms": 1000 * statistics.fmean(overheads) if overheads else float("nan"),
            "overhead_med_ms": 1000 * statistics.median(overheads) if overheads else float("nan"),
            "errors": sum(r["status"] == "error" for r in res.rows)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--subset", type=int, default=24,
                   help="students graded in the --jobs 1 and fresh-Python runs (0: the whole class)")
    p.add_argument("--stages", default=None, help="e.g. 1-5 or 1,5,6 (default: every stage)")
    p.add_argument("--jobs", type=int, default=None, help="the 'default jobs' figure (default: one per core)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--keep", action="store_true", help="keep the generated class and outputs")
    p.add_argument("--touch-templates", action="store_true",
                   help="add a comment to every unchanged template file, so that every file is run")
    args = p.parse_args(argv)

    course = load_course(None)
    if args.stages:
        wanted = set()
        for part in args.stages.split(","):
            lo, _, hi = part.partition("-")
            wanted |= set(range(int(lo), int(hi or lo) + 1))
        specs = [s for s in course.stages if s.number in wanted]
    else:
        specs = list(course.stages)
    stages = [str(s.number) for s in specs] if args.stages else ()
    files = tuple(sorted({s.file for s in specs}))
    numpy_stages = {s.number for s in specs if not s.needs_torch}
    default_jobs = args.jobs or os.cpu_count() or 1

    work = Path(tempfile.mkdtemp(prefix="grade-bench-"))
    try:
        t = time.perf_counter()
        full = make_bench_class(work / "class", args.students, files)
        if args.touch_templates:
            print(f"touched {touch_templates(full)} unchanged template files", file=sys.stderr)
        n_small = args.subset or args.students
        small = full if n_small >= args.students else subset(full, work / "class-subset", n_small)
        print(f"{args.students} students x {len(specs)} stages ({', '.join(files)}); "
              f"generated in {time.perf_counter() - t:.1f} s; {os.cpu_count()} cores; seed {args.seed}",
              file=sys.stderr)
        plan = [
            ("fork server", full, default_jobs, True),
            ("fork server", small, 1, True),
            ("fresh Python", small, 1, False),
            ("fresh Python", small, default_jobs, False),
        ]
        results = []
        for i, (name, cls, jobs, fork) in enumerate(plan):
            print(f"  {name}, --jobs {jobs}, {sum(1 for _ in cls.iterdir())} students ...", file=sys.stderr,
                  end="", flush=True)
            r = measure(name, cls, work / f"out{i}", jobs=jobs, fork_server=fork, stages=stages,
                        seed=args.seed, numpy_stages=numpy_stages)
            print(f" {r['wall']:.1f} s", file=sys.stderr)
            results.append(r)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {work}", file=sys.stderr)

    base = results[2]  # fresh Python, --jobs 1
    print()
    print(f"{'configuration':<28} {'students':>8} {'wall s':>8} {'s/student':>10} {'students/s':>10} "
          f"{'speed-up':>9} {'overhead/run':>13} {'(median)':>9}")
    for r in results:
        label = f"{r['name']}, --jobs {r['jobs']}"
        speed = base["per_student"] / r["per_student"]
        print(f"{label:<28} {r['students']:>8} {r['wall']:>8.1f} {r['per_student']:>10.3f} "
              f"{r['students'] / r['wall']:>10.2f} {speed:>8.2f}x {r['overhead_ms']:>10.0f} ms "
              f"{r['overhead_med_ms']:>6.0f} ms")
    fN, f1, p1, pN = results
    print()
    print("ratios (per student):")
    print(f"  fork server vs fresh Python, --jobs 1:      {p1['per_student'] / f1['per_student']:.2f}x faster")
    print(f"  fork server vs fresh Python, --jobs {default_jobs}:      {pN['per_student'] / fN['per_student']:.2f}x faster")
    print(f"  --jobs {default_jobs} vs --jobs 1, fork server:         {f1['per_student'] / fN['per_student']:.2f}x faster")
    print(f"  --jobs {default_jobs} vs --jobs 1, fresh Python:        {p1['per_student'] / pN['per_student']:.2f}x faster")
    print(f"  fork server, --jobs {default_jobs} vs fresh Python, --jobs 1 (baseline): "
          f"{p1['per_student'] / fN['per_student']:.2f}x faster")
    print(f"  per-run overhead on numpy stages, fresh / fork: "
          f"{p1['overhead_ms'] / f1['overhead_ms']:.1f}x ({p1['overhead_ms']:.0f} ms vs {f1['overhead_ms']:.0f} ms)")
    print("  (overhead/run = a stage's duration minus the time inside student code and the time it waited for "
          "its sandbox or the reference, numpy stages only; "
          f"the --jobs 1 and fresh-Python runs grade the first {base['students']} students)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
