"""The wheel holds the engine only: no course, no reference code (by name and by content)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT
from test_release import leaked_bodies


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
    return next(out.glob("grade_nn-*.whl"))


def test_wheel_holds_the_engine_and_no_reference(wheel):
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    for needed in ("grader/sandbox/child.py", "grader/engine.py", "grader/authoring/release.py", "grader/course/kit.py",
                   "grader/templates/report.html.j2"):
        assert needed in names, needed
    assert not [n for n in names if n.endswith("_course") or "/_course" in n or "/reference/" in n or n.startswith("reference/")]
    assert not [n for n in names if n.endswith((".yaml", ".yml"))], "no stage spec or workflow in the wheel"
    assert not leaked_bodies({n: zf.read(n) for n in names if not n.endswith("/")})


def test_installed_wheel_asks_for_a_course_and_grades_with_one(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("GRADE_COURSE", None)
    probe = subprocess.run([sys.executable, "-c", "import grader.course.folder as c; print(c.__file__); "
                            "print(c.checkout_course())"], capture_output=True, text=True, cwd=tmp_path, env=env,
                           check=True)
    module_file, course = probe.stdout.split()
    assert module_file.startswith(str(target)), "the wheel's copy must be the one imported"
    assert course == "None"
    work = tmp_path / "work"
    shutil.copytree(ROOT / "reference", work)
    res = subprocess.run([sys.executable, "-m", "grader", str(work), "--stage", "1"], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=120)
    assert res.returncode == 2 and "--course" in res.stderr and "GRADE_COURSE" in res.stderr
    res = subprocess.run([sys.executable, "-m", "grader", str(work), "--course", str(ROOT), "--stage", "1", "5",
                          "--format", "json"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    report = json.loads(res.stdout)
    assert res.returncode == 0, res.stderr
    assert report["course"] == str(ROOT) and report["score"] == report["max_score"] > 0


def test_the_distribution_is_not_the_other_projects_grade(wheel):
    """`grade` on the package index is somebody else's project (grade 3.0.1, 2020): ours is
    distributed as grade-nn, with the `grade` command and the `grader` package, and no doc
    or message sends anyone to `pip install grade`."""
    import re

    zf = zipfile.ZipFile(wheel)
    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    assert re.search(r"^Name: grade-nn$", zf.read(meta).decode(), re.M)
    entry = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert re.search(r"^grade = grader\.cli:entry$", zf.read(entry).decode(), re.M)
    wrong = re.compile(r"pip install ['\"]?grade(\[|['\"]?\s|['\"]?$)")
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "grader").rglob("*.py")),
             ROOT / "action.yml"]
    offenders = [str(p) for p in texts if wrong.search(p.read_text(encoding="utf-8"))]
    assert not offenders
