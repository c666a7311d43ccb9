"""Benchmark a hostile notebook: 6 MB, the reference's activation code in cell 1 and 60,000
cells of `%magic` and `!shell` lines, graded for stages 1-3 (which share the file).

    .venv/bin/python bench/bench_hostile_notebook.py [--cells 60000] [--grader PATH]

Prints the wall time, the scores, the notes per stage, the HTML report's size and the
grader's peak memory. `--grader PATH` grades with another checkout's `grader/` (e.g. an
older commit unpacked with `git archive COMMIT grader | tar -x -C PATH`), to compare:

    measured on the 2-core shared CI machine, commit 0912f11 vs this one:
    wall 95.9 s -> 1.8 s (53x); notes per stage 180,001 -> 13; HTML 36.45 MB -> 0.01 MB;
    peak RSS 653 MB -> 99 MB

Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import json, resource, sys, time
from pathlib import Path
from grader.engine import Grader
from grader.report import html
sub, course = Path(sys.argv[1]), sys.argv[2]
with Grader(course=course, seed=3) as g:
    t = time.perf_counter(); r = g.grade(sub, [1, 2, 3]); wall = time.perf_counter() - t
    d = r.to_dict(details=True)
    print(json.dumps({"wall_s": wall, "scores": [s["score"] for s in d["stages"]],
                      "notes": [len(s["details"].get("notes", [])) for s in d["stages"]],
                      "html_mb": len(html.render(r)) / 1e6,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def notebook(cells: int) -> str:
    code = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "%matplotlib inline\n%time x = 1\n!ls"}
    return json.dumps({"cells": [{**cell, "source": code}] + [cell] * cells, "metadata": {},
                       "nbformat": 4, "nbformat_minor": 5})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=60_000)
    ap.add_argument("--grader", default=None, help="a folder holding another grader/ package to compare")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "activation.ipynb").write_text(notebook(args.cells), encoding="utf-8")
        env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"}
        if args.grader:
            env["PYTHONPATH"] = args.grader
        out = subprocess.run([sys.executable, "-c", RUN, tmp, str(ROOT)], capture_output=True, text=True, env=env)
        if out.returncode:
            sys.exit(out.stderr)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{(Path(tmp) / 'activation.ipynb').stat().st_size / 1e6:.1f} MB notebook, {args.cells + 1:,} cells: "
              f"wall {m['wall_s']:.1f} s, scores {m['scores']}, notes per stage {m['notes']}, "
              f"HTML {m['html_mb']:.2f} MB, peak RSS {m['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
