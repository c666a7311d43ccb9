"""The distributions: `python -m build` makes the sdist and, from it, the wheel (as CI and a
release do); `twine check` accepts both; the wheel holds the engine only (no course, no
reference code, by name and by content), installs into a fresh virtual environment under its
name grade-nn with the `grade` command, and grades the reference full from there.

Built with `--no-isolation` (the test venv's setuptools: no network at test time); the fresh
venv gets the wheel alone (`--no-deps --no-index`) and finds its dependencies in the test venv's
site-packages, appended after its own (a .pth line: the editable checkout's own .pth is not
read from there, so the wheel's copy of `grader` is the one imported; the test checks it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from test_release import leaked_bodies


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(wheel, sdist) built by `python -m build` from a copy of the checkout."""
    try:
        import build  # noqa: F401  (the test extra has it)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("`build` is not installed (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "grade"  # build from a copy: setuptools writes build/ in-tree
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                              ".pytest_cache", "grades", "artifacts", "node_modules",
                                                              "cache"))
    res = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return next(out.glob("grade_nn-*.whl")), next(out.glob("grade_nn-*.tar.gz"))


@pytest.fixture(scope="module")
def wheel(dists):
    return dists[0]


def test_twine_accepts_the_wheel_and_the_sdist(dists):
    res = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("PASSED") == 2


def test_the_sdist_holds_the_engine_and_no_course(dists):
    with tarfile.open(dists[1]) as tar:  # every name below the top folder grade_nn-X/
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
        files = {name: tar.extractfile(m).read() for name, m in members.items() if m.isfile()}
    names = list(members)
    assert "grader/engine.py" in names and "pyproject.toml" in names and "README.md" in names
    assert not [n for n in names if n.split("/")[0] in ("reference", "stages", "student_template", "tests")]
    assert not leaked_bodies(files)


def test_the_wheel_in_a_fresh_venv_grades_the_reference(wheel, tmp_path):
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                          str(wheel)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    own = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    (Path(own) / "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GRADE_COURSE", "PYTHONPATH", "VIRTUAL_ENV")}
    # the installed distribution: its name, its copy of grader, its requirements met
    probe = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert probe.returncode == 0, probe.stderr
    facts = json.loads(probe.stdout)
    assert facts["grader"].startswith(own) and facts["version"] and facts["unmet"] == []
    grade = venv / "bin" / "grade"
    assert grade.is_file()
    # the teacher's first command, from the course folder: every point of the reference
    res = subprocess.run([str(grade), "reference", "--course", ".", "--format", "json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["score"] == report["max_score"] > 0
    assert len(report["stages"]) == len(list((ROOT / "stages").glob("[0-9]*.yaml"))) == 14


# Run inside the fresh venv: where `grader` comes from, and which of grade-nn's requirements
# (markers evaluated, no extras) no installed distribution satisfies.
PROBE = """
import json, importlib.metadata as md
from packaging.requirements import Requirement
import grader
unmet = []
for line in md.requires("grade-nn") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        unmet.append(line); continue
    if not req.specifier.contains(version, prereleases=True):
        unmet.append(f"{line} (found {version})")
print(json.dumps({"grader": grader.__file__, "version": md.version("grade-nn"), "unmet": unmet}))
"""


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
