"""Grading one submission from the command line, against Python's own start-up floor.

Prints, for one numpy stage (5) and the heavier TinyNet backward stage (8), the wall time
of `python -m grader reference --stage N --format json` next to `python -c "import numpy"`
measured in the same run (interleaved, median of several runs), the ratio, and the time
spent inside the student's code (`run_s` from the report). The grader's modules are
compiled first, as pip compiles an installed package.

    .venv/bin/python bench/bench_grade.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - start, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    # compiled as pip compiles an installed package (PYTHONDONTWRITEBYTECODE would otherwise
    # make every run compile the grader from source)
    subprocess.run([py, "-m", "compileall", "-q", str(ROOT / "grader")], check=True)
    baseline = [py, "-c", "import numpy"]
    stages = {"5": [], "8": []}
    inside = {"5": [], "8": []}
    floor = []
    for _ in range(args.runs):
        floor.append(timed(baseline)[0])
        for stage in stages:
            wall, out = timed([py, "-m", "grader", "reference", "--stage", stage, "--format", "json", "--seed", "1"])
            stages[stage].append(wall)
            report = json.loads(out)
            inside[stage].append(report["stages"][0]["run_s"])
    base = statistics.median(floor)
    print(f"{'command':<48} {'median s':>9} {'ratio':>7} {'in student code s':>18}")
    label = 'python -c "import numpy"'
    print(f"{label:<48} {base:>9.3f} {1.0:>7.2f} {'':>18}")
    for stage, walls in stages.items():
        med = statistics.median(walls)
        print(f"{'grade reference --stage ' + stage:<48} {med:>9.3f} {med / base:>7.2f} "
              f"{statistics.median(inside[stage]):>18.4f}")


if __name__ == "__main__":
    main()
