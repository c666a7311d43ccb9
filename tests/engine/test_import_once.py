"""Import once per submission: a file that hangs or fails at import costs one run, not one per stage."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.engine import Grader  # noqa: E402
from grader.import_once import ImportMemo, leaders  # noqa: E402
from test_batch import make_test_course  # noqa: E402

REF = ROOT / "reference"


class CountingSandbox:
    """Counts the student runs (untrusted jobs) per file on a real sandbox."""

    def __init__(self, real):
        self.real, self.runs, self.lock = real, [], threading.Lock()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def run(self, job):
        if not job.trusted:
            with self.lock:
                self.runs.append(job.file)
        return self.real.run(job)


@pytest.fixture(scope="module")
def grader(tmp_path_factory):
    course = make_test_course(tmp_path_factory.mktemp("course"), numbers=(1, 2, 3, 5), time_s=2)
    with Grader(course=course, seed=3) as g:
        g.sandbox = CountingSandbox(g.sandbox)
        yield g


def _submission(tmp_path: Path, activation: str) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "activation.py").write_text(activation, encoding="utf-8")
    (sub / "metrics.py").write_text((REF / "metrics.py").read_text(encoding="utf-8"), encoding="utf-8")
    return sub


@pytest.mark.parametrize("head, status", [
    ("import numpy as np\nwhile True:\n    pass\n", "timeout"),
    ("raise RuntimeError('boom at import')\n", "raised"),
    ("import os\nos._exit(3)\n", "exit"),
])
def test_a_failing_import_runs_once_for_stages_sharing_the_file(grader, tmp_path, head, status):
    sub = _submission(tmp_path, head + (REF / "activation.py").read_text(encoding="utf-8"))
    grader.sandbox.runs.clear()
    report = grader.grade(sub, [1, 2, 3, 5])
    assert grader.sandbox.runs.count("activation.py") == 1
    assert grader.sandbox.runs.count("metrics.py") == 1
    by_number = {s.number: s for s in report.stages}
    messages = {by_number[n].message for n in (1, 2, 3)}
    assert len(messages) == 1 and all(by_number[n].status == "error" for n in (1, 2, 3))
    if status == "timeout":
        assert "2 s" in messages.pop()  # the stage's own limit
    elif status == "raised":
        assert "boom at import" in messages.pop()
    assert by_number[5].status == "passed"


def test_a_working_import_still_runs_every_stage(grader, tmp_path):
    sub = _submission(tmp_path, (REF / "activation.py").read_text(encoding="utf-8"))
    grader.sandbox.runs.clear()
    report = grader.grade(sub, [1, 2, 3])
    assert grader.sandbox.runs.count("activation.py") == 3
    assert [s.status for s in report.stages] == ["passed"] * 3


class _Spec:
    def __init__(self, number, file, time_s, memory_mb=1024):
        self.number, self.slug, self.file = number, f"s{number}", file
        self.limits = type("L", (), {"time_s": time_s, "memory_mb": memory_mb})()


class _Outcome:
    def __init__(self, killed=None, imported=None, sig=None):
        self.killed, self.imported, self.signal = killed, imported, sig


def test_a_timeout_is_reused_only_under_a_limit_no_larger():
    s7, s8, s9 = _Spec(7, "tinynet.py", 20), _Spec(8, "tinynet.py", 100), _Spec(9, "tinynet.py", 100)
    assert leaders([s7, s8, s9])["tinynet.py"] is s8  # the largest limit imports first
    memo = ImportMemo()
    memo.record(s7, _Outcome(killed="timeout"))
    assert memo.reuse(s8) is None and memo.reuse(s7) is None  # 100 s might have been enough
    memo = ImportMemo()
    memo.record(s8, _Outcome(killed="timeout"))
    assert memo.reuse(s7)[0] is s8 and memo.reuse(s9)[0] is s8
    memo = ImportMemo()
    memo.record(s8, _Outcome(imported={"error": {"type": "ValueError"}}))
    assert memo.reuse(s7)[0] is s8
    memo = ImportMemo()
    memo.record(s8, _Outcome(imported={"duration_s": 0.1}))  # imported fine: nothing to reuse
    assert memo.reuse(s7) is None
