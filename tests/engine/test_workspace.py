"""`grade init DIR [--stage ...]`: a student workspace from the course's template."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from grader.cli import main
from grader.course.folder import load_course
from grader.workspace import ASSIGNMENT

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "student_template"
SUPPORT = ROOT / "stages" / "support"
WORKFLOW = Path(".github/workflows/classroom.yml")


def files(d: Path) -> set[str]:
    return {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}


def test_init_one_stage_with_support_files(tmp_path, capsys):
    dest = tmp_path / "ws"
    assert main(["init", str(dest), "--stage", "tinynet-forward"]) == 0
    assert files(dest) == {"tinynet.py", "layers.py", WORKFLOW.as_posix(), "README.md", ASSIGNMENT}
    assert (dest / "tinynet.py").read_bytes() == (TEMPLATE / "tinynet.py").read_bytes()
    # support files come from stages/support/, the trusted copies
    assert (dest / "layers.py").read_bytes() == (SUPPORT / "layers.py").read_bytes()
    # the workflow grades the chosen stages
    wf = yaml.safe_load((dest / WORKFLOW).read_text())
    steps = wf["jobs"]["run-autograding-tests"]["steps"]
    assert [s for s in steps if s.get("id") == "grade"][0]["with"]["stages"] == "7"
    out = capsys.readouterr().out
    assert "tinynet.py" in out and "layers.py" in out


def test_init_several_stages_share_files(tmp_path):
    dest = tmp_path / "ws"
    assert main(["init", str(dest), "--stage", "1", "--stage", "tanh,5", "-s", "sigmoid"]) == 0
    assert files(dest) == {"activation.py", "metrics.py", WORKFLOW.as_posix(), "README.md", ASSIGNMENT}
    wf = yaml.safe_load((dest / WORKFLOW).read_text())
    grade = [s for s in wf["jobs"]["run-autograding-tests"]["steps"] if s.get("id") == "grade"][0]
    assert grade["with"]["stages"] == "1 2 5"


def test_init_all_stages_copies_the_whole_template(tmp_path):
    dest = tmp_path / "ws"
    assert main(["init", str(dest)]) == 0
    expected = {p for p in files(TEMPLATE) if "__pycache__" not in p and not p.endswith(".pyc")}
    course = load_course(None)
    expected |= {name for s in course.stages for name in s.support}
    assert files(dest) == expected | {"README.md"}
    assert WORKFLOW.as_posix() in expected
    for s in course.stages:
        assert (dest / s.file).is_file()
    # the workflow is copied unchanged: it grades every stage whose file is present
    assert (dest / WORKFLOW).read_text() == (TEMPLATE / WORKFLOW).read_text()


def test_init_never_overwrites_and_names_the_files_it_kept(tmp_path, capsys):
    dest = tmp_path / "ws"
    dest.mkdir()
    (dest / "metrics.py").write_text("# my work\n")
    (dest / "readme.txt").write_text("my notes\n")
    assert main(["init", str(dest), "--stage", "1", "--stage", "5"]) == 0
    out = capsys.readouterr().out
    assert "Kept 1 file(s) already there (not overwritten):\n  metrics.py" in out
    assert (dest / "metrics.py").read_text() == "# my work\n"  # the student's file is untouched
    assert files(dest) == {"metrics.py", "readme.txt", "activation.py", WORKFLOW.as_posix(), ASSIGNMENT}  # has a README


def test_init_adds_next_weeks_stage_to_a_workspace_without_touching_the_students_files(tmp_path, capsys):
    dest = tmp_path / "my work"
    assert main(["init", str(dest), "--stage", "1-3", "--lang", "zh"]) == 0
    readme = (dest / "README.md").read_text()
    assert "grade init . --stage N" in readme and "补全代码" in readme
    (dest / "activation.py").write_text("# week 1, my own\n")
    (dest / "README.md").write_text("mine\n")
    before = {p: (dest / p).read_bytes() for p in files(dest) if p not in (WORKFLOW.as_posix(), ASSIGNMENT)}
    capsys.readouterr()
    assert main(["init", str(dest), "--stage", "5"]) == 0
    out = capsys.readouterr().out
    assert {p: (dest / p).read_bytes() for p in before} == before  # nothing of the student's changed
    assert files(dest) == set(before) | {"metrics.py", WORKFLOW.as_posix(), ASSIGNMENT}
    assert json.loads((dest / ASSIGNMENT).read_text())["stages"] == [1, 2, 3, 5]  # the assignment grew
    grade = [s for s in yaml.safe_load((dest / WORKFLOW).read_text())["jobs"]["run-autograding-tests"]["steps"]
             if s.get("id") == "grade"][0]
    assert grade["with"]["stages"] == "1 2 3 5" and grade["with"]["lang"] == "zh"
    assert "Created 1 file(s)" in out and "metrics.py" in out
    # it ends with the next command, which works as printed
    last = out.strip().splitlines()[-1].strip()
    assert last == f"grade '{dest}' --stage 5"
    import shlex
    assert main(shlex.split(last)[1:] + ["--format", "json"]) == 1  # the template's stage: points to win


def test_init_into_existing_folder_without_conflicts(tmp_path):
    dest = tmp_path / "ws"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep")
    assert main(["init", str(dest), "--stage", "12"]) == 0
    assert files(dest) == {"notes.txt", "data_split.py", WORKFLOW.as_posix(), "README.md", ASSIGNMENT}


def test_init_unknown_stage(tmp_path, capsys):
    assert main(["init", str(tmp_path / "ws"), "--stage", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "99" in err
    assert not (tmp_path / "ws").exists()


def test_init_from_another_course(tmp_path):
    course = tmp_path / "course"
    (course / "stages" / "support").mkdir(parents=True)
    (course / "reference").mkdir()
    (course / "student_template" / "data").mkdir(parents=True)
    (course / "stages" / "support" / "helper.py").write_text("H = 1\n")
    (course / "stages" / "01_add.yaml").write_text(yaml.safe_dump({
        "number": 1, "slug": "add", "title": "Add", "file": "add.py", "support": ["helper.py"],
        "cases": [{"name": "one", "points": 1, "call": "add(1, 2)"}]}))
    (course / "reference" / "add.py").write_text("def add(a, b):\n    return a + b\n")
    (course / "student_template" / "add.py").write_text("def add(a, b):\n    raise NotImplementedError\n")
    (course / "student_template" / "data" / "x.csv").write_text("1,2\n")
    dest = tmp_path / "ws"
    assert main(["init", str(dest), "--course", str(course), "--stage", "add"]) == 0
    assert files(dest) == {"add.py", "helper.py", "README.md", ASSIGNMENT}  # this course has no workflow
    dest2 = tmp_path / "ws2"
    assert main(["init", str(dest2), "--course", str(course)]) == 0
    assert files(dest2) == {"add.py", "helper.py", "data/x.csv", "README.md"}
