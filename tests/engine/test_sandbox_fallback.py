"""Where no sandbox can be built: a self-check still runs and says so; a batch refuses."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REFERENCE, make_course


def run_grade(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADE_BWRAP": "/nonexistent/bwrap"}  # as on a machine without bubblewrap
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
