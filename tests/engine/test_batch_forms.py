"""A batch finds exactly what `grade PATH` finds, for every form a student hands in: a folder,
a notebook (`activation.ipynb`), a file in another case, a zip (with a folder or a notebook
inside), a lone .py or .ipynb file, an LMS folder holding a zip, a repository cloned inside.
Each student's batch row is compared with `grade PATH --format json` on the same path."""

from __future__ import annotations

import io
import json
import shutil
import sys
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.batch import run_batch  # noqa: E402
from grader.cli import main as grade_main  # noqa: E402
from test_batch import ACTIVATION_TEXTBOOK_TANH, REF, TEMPLATE, make_test_course  # noqa: E402

SEED = 4321


def notebook(code: str, magic: bool = True) -> str:
    """A Jupyter notebook holding `code` in two cells (and a %matplotlib line, as students have)."""
    head, _, tail = code.partition("\nclass ")
    cells = [head + ("\n%matplotlib inline\n" if magic else ""), "class " + tail]
    return json.dumps({"cells": [{"id": f"c{i}", "cell_type": "code", "metadata": {}, "source": c, "outputs": [],
                                  "execution_count": None} for i, c in enumerate(cells)],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _zip(zp: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(zp, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)


def make_forms(c: Path) -> dict[str, Path]:
    """One student per form; the path `grade` is given for each (what a batch looks into on its
    own: an LMS folder's zip, the repository cloned inside a student's folder)."""
    ref, tanh = (REF / "activation.py").read_text(encoding="utf-8"), ACTIVATION_TEXTBOOK_TANH
    c.mkdir(parents=True)
    paths = {}
    for sid, name, text in (("folder", "activation.py", ref), ("notebook", "activation.ipynb", notebook(tanh)),
                            ("case", "Activation.py", tanh), ("case-nb", "ACTIVATION.ipynb", notebook(ref, False)),
                            ("template", "activation.py", (TEMPLATE / "activation.py").read_text(encoding="utf-8")),
                            ("cloned", "repo/activation.ipynb", notebook(tanh))):
        (c / sid / name).parent.mkdir(parents=True, exist_ok=True)
        (c / sid / name).write_text(text, encoding="utf-8")
        paths[sid] = (c / sid / name).parent
    _zip(c / "zipped.zip", {"zipped/activation.py": tanh, "zipped/notes.txt": "mine"})
    _zip(c / "zipped-nb.zip", {"activation.ipynb": notebook(ref)})
    (c / "lone.py").write_text(tanh, encoding="utf-8")
    (c / "lone-nb.ipynb").write_text(notebook(ref), encoding="utf-8")
    (c / "Ann Lee_42_assignsubmission_file_").mkdir()
    _zip(c / "Ann Lee_42_assignsubmission_file_" / "hw.zip", {"activation.ipynb": notebook(tanh)})
    paths.update({"zipped": c / "zipped.zip", "zipped-nb": c / "zipped-nb.zip", "lone": c / "lone.py",
                  "lone-nb": c / "lone-nb.ipynb",
                  "Ann Lee_42": c / "Ann Lee_42_assignsubmission_file_" / "hw.zip"})
    return paths


def grade_alone(path: Path, course: Path) -> dict:
    out = io.StringIO()
    with redirect_stdout(out):
        code = grade_main([str(path), "--course", str(course), "--seed", str(SEED), "--format", "json"])
    assert code in (0, 1), (path, code)
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    base = tmp_path_factory.mktemp("forms")
    course = make_test_course(base / "course", numbers=(1, 2, 3))
    paths = make_forms(base / "class")
    res = run_batch(base / "class", base / "out", course_dir=course, jobs=2, seed=SEED, quiet=True)
    return {"course": course, "paths": paths, "rows": {r["id"]: r for r in res.rows}}


def test_every_form_is_found(forms):
    rows = forms["rows"]
    assert set(rows) == set(forms["paths"])
    for sid, row in rows.items():
        if sid == "template":
            assert row["status"] == "not started", row
        else:
            assert row["status"] == "graded" and row["total"] > 0, (sid, row["status"], row["reason"])


@pytest.mark.parametrize("sid", ["folder", "notebook", "case", "case-nb", "template", "cloned", "zipped",
                                 "zipped-nb", "lone", "lone-nb", "Ann Lee_42"])
def test_batch_row_equals_grade_alone(forms, sid):
    row = forms["rows"][sid]
    alone = grade_alone(forms["paths"][sid], forms["course"])
    assert {st["number"]: st["score"] for st in alone["stages"]} == {n: v for n, v in row["scores"].items()}
    assert alone["score"] == row["total"] and alone["max_score"] == row["max"]


def test_a_notebook_is_graded_when_its_stage_is_asked_for(forms, tmp_path):
    """`grade batch --stage 2`: the stage chosen, a notebook still stands for its file."""
    c = tmp_path / "class"
    for sid in ("notebook", "case-nb"):
        shutil.copytree(forms["paths"][sid], c / sid)
    res = run_batch(c, tmp_path / "out", course_dir=forms["course"], stages=["2"], seed=SEED, quiet=True)
    rows = {r["id"]: r for r in res.rows}
    assert all(r["status"] == "graded" and list(r["scores"]) == [2] for r in rows.values())
    assert rows["case-nb"]["total"] == rows["case-nb"]["max"] > rows["notebook"]["total"] > 0


def test_a_lone_file_is_read_bounded_and_a_stray_stage_file_is_nobodys(tmp_path):
    """A 200 GB sparse `huge.py` is refused after reading 8 MB (never copied whole); a lone
    `activation.py` in the class folder is the course's file name, not a student: skipped."""
    from grader.batch.discover import discover, prepare

    c = tmp_path / "class"
    c.mkdir()
    with open(c / "huge.py", "wb") as f:
        f.truncate(200 * 1024**3)
    (c / "ok.ipynb").write_text(notebook("import numpy as np\nclass A:\n    pass\n"), encoding="utf-8")
    (c / "activation.py").write_text("x = 1\n", encoding="utf-8")
    students, notes = discover(c, stage_files=["activation.py"])
    assert [s.id for s in students] == ["huge", "ok"] and any("activation.py" in n for n in notes)
    for st in students:
        prepare(st, tmp_path / "unpacked", frozenset({"activation.py"}), ["activation.py"])
    huge, ok = students
    assert huge.root is None and "larger than 8 MB" in huge.error.text("en") and huge.error.fault == "student"
    assert ok.error is None and (ok.root / "activation.ipynb").is_file()
