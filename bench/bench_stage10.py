"""Wall time of grading stage 10 (PyTorch) against the cost of importing torch.

    python bench/bench_stage10.py [--runs 5]

Runs `python -m grader reference --stage 10` and `python -c "import torch"`
alternately (so that both see the same machine load and disk cache), several
times each, and prints the median wall time of each and their ratio. Grading
stage 10 imports torch in the grader's fork server(s) and runs the reference and
the submission, so the ratio says how much the stage costs beyond torch itself.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # grade exits 1 when a stage fails; anything else is a crash
        sys.exit(f"{' '.join(cmd)} failed with exit code {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()

    grade = [sys.executable, "-m", "grader", "reference", "--stage", "10", "--seed", str(args.seed),
             "--format", "json"]
    torch_import = [sys.executable, "-c", "import torch"]
    wall(torch_import)  # warm the disk cache before measuring anything
    grade_s, torch_s = [], []
    for _ in range(args.runs):
        torch_s.append(wall(torch_import))
        grade_s.append(wall(grade))
    g, t = statistics.median(grade_s), statistics.median(torch_s)
    print(f"runs per command:                     {args.runs} (interleaved)")
    print(f"grade reference --stage 10 (median):  {g:6.2f} s   [{', '.join(f'{x:.2f}' for x in grade_s)}]")
    print(f'python -c "import torch" (median):    {t:6.2f} s   [{", ".join(f"{x:.2f}" for x in torch_s)}]')
    print(f"ratio grade / import torch:           {g / t:6.2f}")


if __name__ == "__main__":
    main()
