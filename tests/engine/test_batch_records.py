"""Records, not dicts: a student's typed report goes from the grader to every output (gradebook
CSV and JSON, the student's page, the overview, similarity) without a dict round trip. It is
serialised once for each file that holds it (the cache, gradebook.json) and parsed back only
from the cache, on a re-run."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.batch import run_batch  # noqa: E402
from grader.verdict import Report  # noqa: E402
from test_batch import ACTIVATION_TEXTBOOK_TANH, REF, TEMPLATE, make_test_course  # noqa: E402


@pytest.fixture
def counted(monkeypatch):
    """Counts of Report.to_dict (by submission) and Report.from_dict calls."""
    calls = {"to_dict": Counter(), "from_dict": 0}
    to_dict, from_dict = Report.to_dict, Report.from_dict.__func__

    def counting_to_dict(self, details=False):
        calls["to_dict"][Path(self.submission).name] += 1
        return to_dict(self, details)

    def counting_from_dict(cls, d):
        calls["from_dict"] += 1
        return from_dict(cls, d)

    monkeypatch.setattr(Report, "to_dict", counting_to_dict)
    monkeypatch.setattr(Report, "from_dict", classmethod(counting_from_dict))
    return calls


def test_three_students_serialised_once_per_file_parsed_only_from_the_cache(tmp_path, counted):
    course = make_test_course(tmp_path / "course", numbers=(1, 2))
    c = tmp_path / "class"
    for sid, text in (("ann", (REF / "activation.py").read_text(encoding="utf-8")), ("ben", ACTIVATION_TEXTBOOK_TANH),
                      ("cat", (TEMPLATE / "activation.py").read_text(encoding="utf-8"))):
        (c / sid).mkdir(parents=True)
        (c / sid / "activation.py").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    kw = dict(course_dir=course, jobs=2, seed=7, quiet=True, similarity=True)
    first = run_batch(c, out, **kw)
    assert first.graded == 3 and {r["status"] for r in first.rows} == {"graded", "not started"}
    assert counted["from_dict"] == 0  # nothing parsed back: the reports stayed objects
    assert counted["to_dict"] == {"ann": 2, "ben": 2, "cat": 2}  # .cache/<id>.json and gradebook.json

    counted["to_dict"].clear()
    cached = out / ".cache" / "ann.json"  # a time read back is bounded: NaN is no time
    cached.write_text(cached.read_text(encoding="utf-8").replace('"wall_s": ', '"wall_s": NaN, "was": '),
                      encoding="utf-8")
    again = run_batch(c, out, **kw)
    assert next(r for r in again.rows if r["id"] == "ann")["duration_s"] == 0
    assert again.cached == 3 and again.graded == 0
    assert counted["from_dict"] == 3  # each cached report parsed once
    assert counted["to_dict"] == {"ann": 1, "ben": 1, "cat": 1}  # gradebook.json only
    assert [r["total"] for r in again.rows] == [r["total"] for r in first.rows]
    for name in ("gradebook.csv", "gradebook.json", "index.html", "similarity.html", "students/ben.html"):
        assert (out / name).is_file(), name
    assert ": NaN" not in (out / "gradebook.json").read_text(encoding="utf-8")
