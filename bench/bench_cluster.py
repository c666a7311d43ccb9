"""Benchmark batch grading locally and on a Dask LocalCluster; endless loops at import.

    .venv/bin/python bench/bench_cluster.py [--students 40] [--stages 1-5] [--hang-class 100]

1. Scaling: a generated class (half correct, a quarter half-done, a quarter unfinished)
   graded with `--force` locally (--jobs 1 and 2) and on a LocalCluster of 1 and 2 worker
   processes (one thread each). A cluster batch is run twice: the first pays for each
   worker's warm-up (course, reference runs), the second shows the steady rate. Prints
   students per second and per worker.
2. The client's own cost per student: a fully cached re-run (discovery, content hashes,
   cache reads, rows, gradebook, overview, student pages) and packing a submission.
3. Endless loops: a class of --hang-class students graded with the course's own limits,
   once as generated and once with 4 students whose activation.py loops forever at import;
   prints the time ratio (the issue's target: under 1.3x), with import-once and without it.
4. A projection to 10,000 students on N machines from these figures.
Not a test; takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))  # test_batch: the class generator

import dask  # noqa: E402
import distributed  # noqa: E402

from bench_class import make_bench_class  # noqa: E402
from grader.batch import cluster
from grader import import_once
from grader.batch import run_batch  # noqa: E402
from grader.course.folder import load_course  # noqa: E402

HANG = "import numpy as np\nwhile True:  # an endless loop at import\n    pass\n"


def timed(label: str, fn) -> tuple[float, object]:
    print(f"  {label} ...", end="", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    res = fn()
    wall = time.perf_counter() - t0
    print(f" {wall:.1f} s", file=sys.stderr)
    return wall, res


def scaling(cls: Path, work: Path, stages: list[str], seed: int, n: int) -> list[tuple[str, int, float]]:
    rows = []
    for jobs in (1, 2):
        wall, _ = timed(f"local --jobs {jobs}", lambda: run_batch(cls, work / f"local{jobs}", stages=stages, jobs=jobs,
                                                                  force=True, seed=seed, quiet=True))
        rows.append((f"local, --jobs {jobs}", jobs, wall))
    for workers in (1, 2):
        with dask.config.set(cluster.SCHEDULER_CONFIG):
            lc = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          dashboard_address=None)
        try:
            for run in ("first", "steady"):
                wall, res = timed(f"LocalCluster {workers} worker(s), {run}", lambda: run_batch(
                    cls, work / f"cluster{workers}", stages=stages, force=True, seed=seed, quiet=True,
                    grade_many=cluster.ClusterGrading(lc.scheduler_address)))
                assert res.graded == n, f"{res.graded} of {n} graded"
                rows.append((f"cluster, {workers} worker(s), {run} run", workers, wall))
        finally:
            lc.close()
    return rows


def client_cost(cls: Path, work: Path, stages: list[str], seed: int, n: int) -> tuple[float, float]:
    """Seconds per student the client spends in a cluster batch of n students, all but the
    grading: discovery, content hashes, packing, decoding the JSON result, the cache, rows,
    gradebook, overview and pages (a `grade_many` that packs each submission and answers with
    a real report from the scaling run); and per student in a fully cached re-run."""
    srcs = sorted(cls.iterdir())
    if not (work / "local2").exists():
        run_batch(cls, work / "local2", stages=stages, jobs=2, seed=seed, quiet=True)
    reports = {}
    for f in (work / "local2" / ".cache").glob("*.json"):
        data = json.loads(f.read_text(encoding="utf-8"))
        if "report" in data:
            reports[data["id"]] = json.dumps({"report": data["report"], "details": data.get("details")})
    big = work / "client-class"
    big.mkdir()
    for i in range(n):
        shutil.copytree(srcs[i % len(srcs)], big / f"s{i:05d}")

    def answer(todo, **_):
        for st in todo:
            cluster.pack(Path(st.root))
            yield st, "done", json.loads(reports[srcs[int(st.id[1:]) % len(srcs)].name])

    wall, res = timed(f"client only, {n} students", lambda: run_batch(big, work / "client-out", stages=stages, seed=seed,
                                                                       force=True, quiet=True, grade_many=answer))
    assert res.graded == n
    cached, res = timed(f"client only, {n} students, cached", lambda: run_batch(big, work / "client-out", stages=stages,
                                                                                seed=seed, quiet=True))
    assert res.cached == n
    return wall / n, cached / n


def hang_class(work: Path, n: int, files: tuple[str, ...], hangs: int) -> Path:
    cls = make_bench_class(work / f"hang{hangs}", n, files)
    for i in range(hangs):
        d = sorted(cls.iterdir())[i * n // max(hangs, 1)]
        (d / "activation.py").write_text(HANG + (ROOT / "reference" / "activation.py").read_text(), encoding="utf-8")
    return cls


def hang_ratio(work: Path, n: int, files: tuple[str, ...], stages: list[str], seed: int, jobs: int,
               once: bool) -> tuple[float, float]:
    """Wall times of the class without and with 4 endless loops at import."""
    saved = import_once.ImportMemo.reuse
    if not once:
        import_once.ImportMemo.reuse = lambda self, spec: None  # every stage imports the file again
    try:
        walls = []
        for hangs in (0, 4):
            cls = work / f"hang{hangs}"
            if not cls.exists():
                hang_class(work, n, files, hangs)
            wall, res = timed(f"{n} students, {hangs} hanging, --jobs {jobs}, import once: {once}", lambda: run_batch(
                cls, work / f"hang-out{hangs}", stages=stages, jobs=jobs, force=True, seed=seed, quiet=True))
            errors = sum(r["status"] == "error" for r in res.rows)
            assert errors >= hangs, (errors, hangs)
            walls.append(wall)
        return walls[0], walls[1]
    finally:
        import_once.ImportMemo.reuse = saved


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--stages", default="1-5", help="e.g. 1-5 or 1,5,6")
    p.add_argument("--hang-class", type=int, default=100, help="students in the endless-loop class (0: skip)")
    p.add_argument("--hang-jobs", default="2,6", help="--jobs values for the endless-loop class")
    p.add_argument("--client-students", type=int, default=1000, help="class size for the client's own cost")
    p.add_argument("--parts", default="scaling,client,hang,hang-off", help="which parts to run")
    p.add_argument("--cores-per-machine", type=int, default=8, help="for the projection")
    p.add_argument("--seed", type=int, default=2024)
    return p.parse_args(argv)


def chosen_stages(spec: str) -> list:
    lo, _, hi = spec.partition("-")
    wanted = set(range(int(lo), int(hi or lo) + 1)) if "," not in spec else {int(x) for x in spec.split(",")}
    return [s for s in load_course(None).stages if s.number in wanted]


def measure(args: argparse.Namespace, specs: list) -> tuple[list, float, float, list]:
    """Parts 1-3: scaling rows, the client's cost per student (grading, cached), endless-loop runs."""
    stages = [str(s.number) for s in specs]
    files = tuple(sorted({s.file for s in specs}))
    nan = float("nan")
    work = Path(tempfile.mkdtemp(prefix="grade-bench-cluster-"))
    try:
        cls = make_bench_class(work / "class", args.students, files)
        print(f"{args.students} students x stages {args.stages}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}",
              file=sys.stderr)
        rows = scaling(cls, work, stages, args.seed, args.students) if "scaling" in args.parts.split(",") else []
        per_student, cached_s = client_cost(cls, work, stages, args.seed, args.client_students) \
            if "client" in args.parts.split(",") else (nan, nan)
        hangs = []
        if args.hang_class and "hang" in args.parts.split(","):
            for jobs in (int(j) for j in args.hang_jobs.split(",")):
                hangs.append((jobs, True, *hang_ratio(work, args.hang_class, files, stages, args.seed, jobs, True)))
        if args.hang_class and "hang-off" in args.parts.split(","):  # the same without import once
            jobs = int(args.hang_jobs.split(",")[0])
            hangs.append((jobs, False, *hang_ratio(work, args.hang_class, files, stages, args.seed, jobs, False)))
        return rows, per_student, cached_s, hangs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def projection(rows: list, n: int, per_student: float, cores: int) -> None:
    steady = [r for r in rows if r[0].startswith("cluster, 2") and "steady" in r[0]]
    if not steady or per_student != per_student:  # the projection needs parts 1 and 2
        return
    rate = n / steady[0][2] / 2
    client_rate = 1 / per_student
    print(f"\n4. projection to 10,000 students: {rate:.2f} students/s per worker process (measured, steady), "
          f"{cores} worker processes per machine, client at most {client_rate:.0f} students/s")
    for machines in (1, 2, 4, 8, 16, 32, 64):
        cluster_rate = machines * cores * rate
        eff = min(cluster_rate, client_rate)
        limit = "client" if client_rate < cluster_rate else "workers"
        print(f"  {machines:>3} machines: {10000 / eff / 60:7.1f} min  (limited by the {limit})")


def main(argv=None) -> int:
    args = parse(argv)
    specs = chosen_stages(args.stages)
    rows, per_student, cached_s, hangs = measure(args, specs)
    n = args.students
    print(f"\n1. scaling: {n} students, stages {args.stages}, {os.cpu_count()} cores (shared)")
    print(f"{'configuration':<36} {'wall s':>7} {'students/s':>11} {'per worker':>11}")
    for label, workers, wall in rows:
        print(f"{label:<36} {wall:>7.1f} {n / wall:>11.2f} {n / wall / workers:>11.2f}")
    print(f"\n2. the client's own cost per student ({args.client_students} students): {1000 * per_student:.1f} ms in a "
          f"cluster batch (hashes, packing, results, cache, rows, gradebook, overview, pages) -> at most "
          f"{1 / per_student:.0f} students/s; {1000 * cached_s:.1f} ms in a cached re-run")
    if hangs:
        print(f"\n3. endless loops at import: {args.hang_class} students, 4 of them loop forever at import "
              f"(limit {specs[0].limits.time_s:g} s)")
        for jobs, once, clean, hung in hangs:
            print(f"  --jobs {jobs}, import once {'on ' if once else 'off'}: {clean:6.1f} s without, {hung:6.1f} s with "
                  f"-> ratio {hung / clean:.2f}x")
    projection(rows, n, per_student, args.cores_per_machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
