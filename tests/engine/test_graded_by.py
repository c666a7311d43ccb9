"""Every machine-readable output says which course graded it, by its folder and its content hash:
a grade made by another course (a kit a student made from their own wrong code) never passes
for one made by the instructor's course."""

from __future__ import annotations

import base64
import csv
import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from conftest import REFERENCE, ROOT, grader_for, make_course
from grader.cli import main
from grader.course.digest import course_hash
from grader.course.folder import load_course
from grader.platforms.classroom import classroom_result
from grader.platforms.gradescope import gradescope_results
from grader.report import junit
from grader.report import json as json_report

HASH = course_hash(ROOT)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    sub = tmp_path_factory.mktemp("s")
    shutil.copyfile(REFERENCE / "activation.py", sub / "activation.py")
    return grader_for().grade(sub, [1])


def test_the_hash_follows_the_course_content(tmp_path):
    course = make_course(tmp_path / "c", stage_files=("01_sigmoid.yaml",))
    first = course_hash(course)
    assert course_hash(course) == first and first != HASH
    (course / "reference" / "__pycache__").mkdir(exist_ok=True)
    (course / "reference" / "__pycache__" / "x.pyc").write_bytes(b"tool-made")
    assert course_hash(course) == first  # what tools leave does not change the course
    text = (course / "reference" / "activation.py").read_text(encoding="utf-8")
    (course / "reference" / "activation.py").write_text(text + "\n# edited\n", encoding="utf-8")
    assert course_hash(course) != first  # an edited reference is another course


def test_json_and_junit_name_the_course_and_its_hash(report):
    doc = json.loads(json_report.render(report))
    assert doc["course"] == str(ROOT) and doc["course_hash"] == HASH
    suites = ET.fromstring(junit.render(report).split("\n", 1)[1]).findall("testsuite")
    assert suites
    for suite in suites:
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["course"] == str(ROOT) and props["course_hash"] == HASH


def test_gradescope_and_classroom_results_name_the_course(report):
    specs = load_course(ROOT).select(["1"])
    assert gradescope_results(report, specs)["extra_data"] == {"course": str(ROOT), "course_hash": HASH}
    result = classroom_result(report, specs)
    assert result["course"] == str(ROOT) and result["course_hash"] == HASH


def test_the_classroom_step_outputs_the_course_hash(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copyfile(REFERENCE / "activation.py", ws / "activation.py")
    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    assert main(["classroom", str(ws), "--stage", "1", "--output", str(out), "--summary", str(summary)]) == 0
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert lines["course-hash"] == HASH
    assert json.loads(base64.b64decode(lines["result"]))["course_hash"] == HASH


def test_the_gradebook_names_the_course_on_every_row(tmp_path):
    from grader.batch import run_batch

    class_dir = tmp_path / "class"
    for name in ("ann", "ben"):
        (class_dir / name).mkdir(parents=True)
        shutil.copyfile(REFERENCE / "activation.py", class_dir / name / "activation.py")
    for path in [tmp_path, *class_dir.rglob("*")]:  # the sandbox's uid reads the class as "others"
        path.chmod(0o755 if path.is_dir() else 0o644)
    run_batch(class_dir, tmp_path / "out", course_dir=ROOT, stages=["1"], jobs=2, seed=3, quiet=True)
    book = json.loads((tmp_path / "out" / "gradebook.json").read_text(encoding="utf-8"))
    assert book["course"] == str(ROOT) and book["course_hash"] == HASH
    assert all(s["report"]["course_hash"] == HASH for s in book["students"])
    with open(tmp_path / "out" / "gradebook.csv", encoding="utf-8-sig", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 2 and all(r["course"] == str(ROOT) and r["course_hash"] == HASH for r in table)
