"""The installed package finds its bundled course also when installed from a wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src") / "grade"  # build from a copy: setuptools writes build/ in-tree
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                              ".pytest_cache", "grades", "artifacts"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {res.stderr.strip()[-300:]}")
    return next(out.glob("grade-*.whl"))


def test_wheel_holds_the_course(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("grader/child.py", "grader/templates/report.html.j2",
                   "grader/_course/stages/05_mae_rmse.yaml", "grader/_course/stages/support/layers.py",
                   "grader/_course/stages/drivers/tinynet.py", "grader/_course/reference/metrics.py",
                   "grader/_course/student_template/metrics.py"):
        assert needed in names, needed
    specs = [n for n in names if n.startswith("grader/_course/stages/") and n.endswith(".yaml")]
    assert len(specs) == len(list((ROOT / "stages").glob("*.yaml")))


def test_installed_wheel_grades_its_bundled_reference(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("GRADE_COURSE", None)
    probe = subprocess.run([sys.executable, "-c", "import grader.course as c; print(c.__file__); print(c.bundled_course())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    module_file, course = probe.stdout.split()
    assert module_file.startswith(str(target)), "the wheel's copy must be the one imported"
    assert course == str(target / "grader" / "_course")
    res = subprocess.run([sys.executable, "-m", "grader", str(target / "grader" / "_course" / "reference"),
                          "--stage", "1", "5", "--format", "json"], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=120)
    report = json.loads(res.stdout)
    assert res.returncode == 0, res.stderr
    assert report["course"] == course and report["score"] == report["max_score"] > 0
