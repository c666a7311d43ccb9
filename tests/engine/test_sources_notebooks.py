"""Notebooks handed in for a stage file: code cells in order, magics and shell lines dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import REFERENCE, ROOT, case, grade_stage, make_submission
from grader.sources import prepare_sources, read_source, single_file_name


def notebook(cells: list[tuple[str, str]]) -> str:
    """A v4 notebook (JSON text) from (kind, source) pairs, kind "code" or "markdown"."""
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    return nbformat.writes(nb)


ACTIVATION = (REFERENCE / "activation.py").read_text(encoding="utf-8")
HEAD, _, CLASS = ACTIVATION.partition("class ActivationFunction")
CLEAN = [("markdown", "# Activation functions"), ("code", HEAD.strip()), ("code", "class ActivationFunction" + CLASS)]
WITH_MAGIC = [("code", "%matplotlib inline\n!pip install numpy"), *CLEAN[:2],
              ("code", "%%time\nprint('timing')"), CLEAN[2],
              ("code", "af = ActivationFunction()\n!ls -l\naf.sigmoid(0.0)")]


def _submission(tmp_path: Path, cells) -> Path:
    sub = make_submission(tmp_path, {"activation.ipynb": notebook(cells)}, base=None)
    return sub


def test_notebook_text_keeps_code_cells_in_order_and_maps_lines(tmp_path):
    cells = [("code", "import numpy as np"), ("markdown", "text"), ("code", "x = 1\n%time y = 2\nz = 3")]
    sub = _submission(tmp_path, cells)
    source = read_source(sub, "activation.py")
    assert source.text.splitlines() == ["import numpy as np", "", "x = 1", "pass", "z = 3", ""]
    assert source.location(1) == (1, 1)
    assert source.location(3) == (3, 1)
    assert source.location(5) == (3, 3)
    assert "cell 3, line 3" in source.where(5, "en")
    assert source.where(5, "zh") == "(第 3 个单元格第 3 行)"
    keys = [n.key for n in source.notes]
    assert keys == ["note_notebook", "note_magic"]


def test_cell_magic_drops_the_cell_and_shell_lines_are_noted(tmp_path):
    sub = _submission(tmp_path, WITH_MAGIC)
    source = read_source(sub, "activation.py")
    texts = [n.text("en") for n in source.notes]
    assert "print('timing')" not in source.text
    assert any("`%matplotlib inline`" in s and "cell 1, line 1" in s for s in texts)
    assert any("`!pip install numpy`" in s and "cell 1, line 2" in s for s in texts)
    assert any("%%time" in s and "cell 4" in s for s in texts)
    assert any("`!ls -l`" in s and "cell 6, line 2" in s for s in texts)
    assert all(n.text("zh") for n in source.notes)


def test_a_block_whose_body_was_a_shell_line_stays_valid(tmp_path):
    sub = _submission(tmp_path, [("code", "for i in range(2):\n    !echo hi\ny = 1")])
    source = read_source(sub, "activation.py")
    compile(source.text, "activation.py", "exec")
    assert [n.key for n in source.notes] == ["note_notebook", "note_shell"]


def test_unreadable_notebook_is_a_note_not_a_crash(tmp_path):
    sub = make_submission(tmp_path, {"activation.ipynb": "{not json"}, base=None)
    source = read_source(sub, "activation.py")
    assert source.text is None
    assert source.notes[0].key == "note_notebook_unreadable"
    assert prepare_sources(sub, {"activation.py"})[0].key == "note_notebook_unreadable"
    assert not (sub / "activation.py").exists()


def test_notebook_solving_stages_1_to_3_scores_full(tmp_path):
    sub = _submission(tmp_path, CLEAN)
    for stage in (1, 2, 3):
        result = grade_stage(sub, stage)
        assert result["score"] == result["max_score"], result
        assert any("activation.ipynb" in n for n in result["details"]["notes"])


def test_notebook_with_magics_scores_the_same_and_notes_the_drops(tmp_path):
    sub = _submission(tmp_path, WITH_MAGIC)
    for stage in (1, 2, 3):
        result = grade_stage(sub, stage)
        assert result["score"] == result["max_score"], result
        notes = "\n".join(result["details"]["notes"])
        assert "%matplotlib inline" in notes and "!pip install numpy" in notes and "%%time" in notes


def test_error_in_a_notebook_names_cell_and_line(tmp_path):
    broken = [CLEAN[0], CLEAN[1], ("code", "class ActivationFunction" + CLASS.replace(
        "y = 1. / (1 + np.exp(-x))", "raise ValueError('boom')"))]
    sub = _submission(tmp_path, broken)
    result = grade_stage(sub, 1)
    first = result["cases"][0]
    assert first["status"] == "error"
    assert "ValueError" in first["message"] and "(cell 3, line " in first["message"]


def test_syntax_error_in_a_notebook_names_cell_and_line(tmp_path):
    sub = _submission(tmp_path, [("code", "import numpy as np"), ("code", "x = 1\ndef f(:\n    pass")])
    result = grade_stage(sub, 1)
    assert result["status"] == "error"
    assert "syntax error (cell 2, line 2)" in result["message"], result["message"]


def test_single_file_name():
    assert single_file_name(Path("x/Activation.ipynb"), ["activation.py", "metrics.py"]) == "activation.ipynb"
    assert single_file_name(Path("x/metrics.py"), ["activation.py", "metrics.py"]) == "metrics.py"
    assert single_file_name(Path("x/homework.ipynb"), ["activation.py"]) == "activation.ipynb"
    assert single_file_name(Path("x/homework.py"), ["activation.py", "metrics.py"]) is None


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_cli_grades_a_notebook_and_a_single_file(tmp_path):
    nb = tmp_path / "my homework.ipynb"
    nb.write_text(notebook(CLEAN), encoding="utf-8")
    proc = run_cli(str(nb), "--stage", "1", "--seed", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the notes name the file handed in, never the name it was graded under (issue 25)
    assert "graded the code cells of my homework.ipynb" in proc.stdout and "activation.ipynb" not in proc.stdout
    single = tmp_path / "activation.py"
    single.write_text(ACTIVATION.replace("np.tanh(x)", "np.tanh(x) + 1") if "np.tanh(x)" in ACTIVATION
                      else ACTIVATION, encoding="utf-8")
    proc = run_cli(str(single), "--seed", "3")
    assert proc.returncode in (0, 1), proc.stderr
    assert "sigmoid" in proc.stdout and "relu" in proc.stdout
    other = tmp_path / "notes.py"
    other.write_text("x = 1\n", encoding="utf-8")
    proc = run_cli(str(other))
    assert proc.returncode == 2 and "not a stage file" in proc.stderr


def test_notes_reach_the_text_and_html_reports(tmp_path):
    from conftest import grader_for
    from grader.report import html, text as text_report

    sub = _submission(tmp_path, WITH_MAGIC)
    report = grader_for().grade(sub, [1])
    text, html = text_report.render(report, "en"), html.render(report, "en")
    assert "note: cell 1, line 1: dropped the IPython magic `%matplotlib inline`" in text
    assert "dropped the shell command `!pip install numpy`" in html


def test_messages_name_the_notebook_handed_in_with_its_cell_and_line(tmp_path):
    """Issue 25: a lone `homework.ipynb` is graded as activation.ipynb, but every message names
    homework.ipynb, with the cell and line; never activation.ipynb nor activation.py."""
    nb = tmp_path / "homework.ipynb"
    nb.write_text(notebook([CLEAN[0], CLEAN[1], ("code", "def broken(:\n    pass"), CLEAN[2]]), encoding="utf-8")
    proc = run_cli(str(nb), "--stage", "1", "--seed", "3", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    said = proc.stdout
    assert "homework.ipynb has a syntax error (cell 3, line 1)" in said, said
    assert "activation.ipynb" not in said and "activation.py" not in said
    nb.write_text(notebook([("code", "import numpy as np\nprint(undefined_name)"), *CLEAN[1:]]), encoding="utf-8")
    said = run_cli(str(nb), "--stage", "1", "--seed", "3", "--lang", "zh", "--format", "json").stdout
    assert "homework.ipynb" in said and "第 1 个单元格第 2 行" in said, said
    assert "activation.ipynb" not in said and "activation.py" not in said
