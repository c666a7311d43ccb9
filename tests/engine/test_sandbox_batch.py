"""A class of honest students graded together with attackers, for real (issue 10).

Every honest student keeps full marks, every student has a gradebook row, nothing is left
running, and nothing outside the outputs changes, not even seconds after the batch.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from conftest import REFERENCE, make_course, variant
from grader.sandbox import isolation
from grader.batch import run_batch
from helpers import tree_digest

pytestmark = pytest.mark.skipif(not isolation.isolation()[0], reason=isolation.isolation()[1])

MET = "metrics.py"
RMSE = "RMSE = np.sqrt(error.dot(error) / count)"


def hostile(code: str) -> str:
    indented = "\n".join("    " + line for line in code.strip("\n").splitlines())
    return variant(MET, RMSE, indented.lstrip() + "\n    " + RMSE)


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_honest_students_keep_full_marks_among_attackers(tmp_path):
    course = make_course(tmp_path / "course", time_s=5, memory_mb=300)
    class_dir, out = tmp_path / "class", tmp_path / "out"
    marker = f"{time.time() % 1000:.6f}"
    attackers = {
        "killer": hostile("""
import os, signal
for pid in range(1, 4000):
    for act in (lambda: os.kill(pid, signal.SIGKILL), lambda: signal.pidfd_send_signal(os.pidfd_open(pid), 9)):
        try:
            act()
        except Exception:
            pass
"""),
        "fifo": hostile("""
import os
for name in ('results.jsonl', 'results.bin'):
    path = os.path.join('..', 'results', name)
    os.remove(path)
    os.mkfifo(path)
"""),
        "poisoner": hostile(f"""
import os
for top in ({str(class_dir)!r}, {str(out)!r}, {str(course)!r}, '/in', '/inputs', '/tmp', os.path.expanduser('~')):
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                with open(os.path.join(root, name), 'w') as fh:
                    fh.write('def comp_rmse(pred, actual): return 0.0')
            except OSError:
                pass
"""),
        "daemon": hostile(f"""
import ctypes
cmd = "setsid sh -c 'sleep 1{marker}; echo owned > {out}/gradebook.csv' >/dev/null 2>&1 < /dev/null &"
ctypes.CDLL(None).system(cmd.encode())
"""),
    }
    students = {f"honest{i}": (REFERENCE / MET).read_text() for i in range(3)}
    for sid, text in {**students, **attackers}.items():
        (class_dir / sid).mkdir(parents=True)
        (class_dir / sid / MET).write_text(text)
    before = {"class": tree_digest(class_dir), "course": tree_digest(course)}

    res = run_batch(class_dir, out, course_dir=course, jobs=2, seed=5, quiet=True)

    with open(out / "gradebook.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(students) | set(attackers)
    for sid in students:
        assert float(rows[sid]["total"]) == float(rows[sid]["max"]) > 0, [(r["id"], r["status"], r["reason"][:300]) for r in res.rows if "honest" in r["id"]]
    assert len(res.rows) == len(rows)
    assert processes_with(f"sleep 1{marker}") == []
    gradebook = (out / "gradebook.csv").read_bytes()
    time.sleep(1.5)
    assert (out / "gradebook.csv").read_bytes() == gradebook
    assert {"class": tree_digest(class_dir), "course": tree_digest(course)} == before
