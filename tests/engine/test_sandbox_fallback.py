"""Where no sandbox can be built: a self-check still runs and says so; a batch refuses."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REFERENCE, make_course


def run_grade(*args: str, cwd) -> subprocess.CompletedProcess:
    # as on a machine without bubblewrap, where the grader is no root either (no uid sandbox)
    env = {**os.environ, "GRADE_BWRAP": "/nonexistent/bwrap", "GRADE_SANDBOX": "bwrap"}
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          timeout=180, env=env, cwd=cwd)


def test_self_check_runs_unisolated_and_says_so(tmp_path):
    course = make_course(tmp_path / "course")
    res = run_grade(str(REFERENCE), "--stage", "5", "--course", str(course), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "not isolated" in res.stderr and "bubblewrap" in res.stderr


def test_batch_refuses_unisolated_unless_asked(tmp_path):
    course = make_course(tmp_path / "course")
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "metrics.py").write_text((REFERENCE / "metrics.py").read_text())
    args = ["batch", str(tmp_path / "class"), "--course", str(course), "--out", str(tmp_path / "out"), "-q"]
    res = run_grade(*args, cwd=tmp_path)
    assert res.returncode == 2 and "--unsafe-no-sandbox" in res.stderr
    assert not (tmp_path / "out" / "gradebook.csv").exists()
    res = run_grade(*args, "--unsafe-no-sandbox", cwd=tmp_path)
    assert res.returncode in (0, 1), res.stderr
    assert (tmp_path / "out" / "gradebook.csv").exists()


def test_gradescope_and_classroom_refuse_unisolated_unless_asked(tmp_path):
    import json

    course = make_course(tmp_path / "course")
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "metrics.py").write_text((REFERENCE / "metrics.py").read_text())
    results = tmp_path / "results.json"
    base = ["gradescope", str(sub), "--course", str(course), "--results", str(results)]
    results.write_text("{}")  # a stale result is removed: no sandbox means no result, never a 0
    res = run_grade(*base, cwd=tmp_path)
    assert res.returncode == 3 and "--unsafe-no-sandbox" in res.stderr and not results.exists()
    run_grade(*base, "--unsafe-no-sandbox", cwd=tmp_path)
    assert json.loads(results.read_text())["score"] > 0
    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    base = ["classroom", str(sub), "--course", str(course), "--output", str(out), "--summary", str(summary)]
    run_grade(*base, cwd=tmp_path)
    assert "--unsafe-no-sandbox" in summary.read_text() and "score=0" in out.read_text()
    out.write_text("")
    run_grade(*base, "--unsafe-no-sandbox", cwd=tmp_path)
    assert "score=0\n" not in out.read_text()
