"""The reference's records are computed once per (course, stage, seed) on a machine: a second
session (a re-run, another cluster worker) reads them from the private on-disk cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import REFERENCE, make_course, make_submission
from grader.course import reference_cache
from grader.engine import Grader
from grader.sandbox import isolation

pytestmark = pytest.mark.skipif(not isolation.isolation()[0], reason=isolation.isolation()[1])


def _session(course: Path, sub: Path, seed: int) -> tuple[list, dict]:
    with Grader(course=course, seed=seed) as g:
        stage = g.grade(sub, ["mae-rmse"]).stages[0]
        return [(c.name, c.status, c.score, c.message) for c in stage.cases], dict(g.sandbox.stats)


def test_a_second_session_reads_the_reference_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADE_REFERENCE_CACHE", str(tmp_path / "cache"))
    course = make_course(tmp_path / "course")
    wrong = make_submission(tmp_path, {"metrics.py": (REFERENCE / "metrics.py").read_text().replace(
        "RMSE = np.sqrt(error.dot(error) / count)", "RMSE = np.sqrt(error.dot(error)) / count")})
    first, stats = _session(course, wrong, 5)
    assert stats["reference_runs"] == 1 and any(s != "passed" for _, s, _, _ in first)
    again, stats = _session(course, wrong, 5)
    assert stats["reference_runs"] == 0 and again == first  # the same verdicts, hints included
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    _, stats = _session(course, wrong, 6)  # another seed: other draws
    assert stats["reference_runs"] == 1
    ref = course / "reference" / "metrics.py"
    ref.write_text(ref.read_text() + "\n# changed\n")  # another reference: run again
    _, stats = _session(course, wrong, 5)
    assert stats["reference_runs"] == 1


def test_a_damaged_or_foreign_cache_is_not_trusted(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRADE_REFERENCE_CACHE", str(cache))
    course = make_course(tmp_path / "course")
    sub = make_submission(tmp_path, {})
    honest, _ = _session(course, sub, 5)
    for entry in cache.iterdir():
        for f in entry.iterdir():
            f.write_bytes(b'{"key": "x", "data": [[[[\n' + os.urandom(64))
    damaged, stats = _session(course, sub, 5)
    assert stats["reference_runs"] == 1 and damaged == honest
    _, stats = _session(course, sub, 5)  # the damaged entry was replaced
    assert stats["reference_runs"] == 0
    shutil.rmtree(cache)
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)  # readable by others: passed over, never written
    assert reference_cache.folder() is None
    _, stats = _session(course, sub, 5)
    assert stats["reference_runs"] == 1 and list(cache.iterdir()) == []
    monkeypatch.setenv("GRADE_REFERENCE_CACHE", "off")
    assert reference_cache.folder() is None
