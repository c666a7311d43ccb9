"""The student's report frictions (issue 25): hidden means hidden in every format, the terminal
shows a failing visible case's call/expected/got and the first differing element, a stage's hint
is labelled, tracebacks name the student's own path, and `grade init --stage` records the
assignment that plain `grade` then honours."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

from conftest import ROOT, TEMPLATE, case, grader_for, grade_stage, make_submission, variant
from grader.course.folder import load_course
from grader.course.spec import Tolerance
from grader.judging import checks
from grader.report.html import render as render_html
from grader.report.markdown import render as render_markdown
from grader.report.text import SHOWN_CHARS, render as render_text
from grader.workspace import ASSIGNMENT, assigned, init_workspace

SIGMOID = "        y = 1. / (1 + np.exp(-x))\n"
PRINTING = ("        if x.size > 12:\n            print('HIDDENMARK', float(x.ravel()[0]))\n"
            "        print('visible', x.shape)\n" + SIGMOID.replace(")\n", ") + (x > 1.5) * 0.1\n"))


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_a_hidden_case_s_printed_output_is_in_no_format(tmp_path):
    sub = make_submission(tmp_path, {"activation.py": variant("activation.py", SIGMOID, PRINTING)})
    report = grader_for().grade(sub, ["sigmoid"])
    stage = report.stages[0]
    for c in stage.cases:
        assert ("output" in c.details) != c.hidden, c.name
    hidden = [c for c in stage.cases if c.hidden]
    assert any(c.details.get("output_hidden") for c in hidden)
    visible = case(report.to_dict(details=True)["stages"][0], "small-vector")
    assert "visible (5,)" in visible["details"]["output"]
    for text in (render_html(report), render_text(report, verbose=True), render_markdown(report),
                 json.dumps(report.to_dict(details=True))):
        assert "HIDDENMARK" not in text
    assert "output of hidden cases is not shown" in render_html(report)
    # nor what a hidden case returned (the student's sigmoid of a hidden input gives the input back)
    page = render_html(report)
    assert all(c.details["got"] not in page for c in hidden if c.details.get("got"))
    assert visible["details"]["got"] in page
    assert "不显示隐藏用例的输出" in render_html(report, lang="zh")


def test_the_terminal_shows_a_visible_failure_s_call_expected_got_and_first_difference(tmp_path):
    wrong = variant("activation.py", SIGMOID, SIGMOID.replace(")\n", ") + (x < -1.5) * 0.01 + (x > 1.5) * 0.5\n"))
    report = grader_for().grade(make_submission(tmp_path, {"activation.py": wrong}), ["sigmoid"])
    text = render_text(report)
    block = text.split("small-vector")[1].split("zero-d-array")[0]
    assert "call: ActivationFunction().sigmoid(x)" in block
    assert "x = [-2., -1., 0., 1., 2.]" in block
    assert "expected: [0.11920292," in block and "got:      [0.12920292," in block
    # the first differing element (index 0) is named besides the worst one (index 4)
    assert "First difference at index (0,): expected 0.11920292" in block and "Worst at index (4,)" in block
    hidden = text.split("random-arrays (hidden)")[1]
    assert "call:" not in hidden and "expected:" not in hidden.split("large-magnitudes")[0]
    zh = render_text(grader_for(lang="zh").grade(make_submission(tmp_path, {"activation.py": wrong}), ["sigmoid"]))
    assert "调用: ActivationFunction().sigmoid(x)" in zh and "第一个不同的位置 (0,)" in zh


def test_a_long_value_is_one_bounded_line_in_the_terminal(tmp_path):
    text = variant("tinynet.py", "        return x, loss", "        return x, loss + 1")
    report = grader_for().grade(make_submission(tmp_path, {"tinynet.py": text}), ["tinynet-forward"])
    lines = render_text(report).splitlines()
    shown = [ln for ln in lines if ln.strip().startswith(("expected:", "got:", "call:"))]
    assert shown and all(len(ln) <= 11 + len('expected: ') + SHOWN_CHARS for ln in shown)
    assert any(ln.endswith('...') for ln in shown)


def test_first_difference_is_not_said_for_a_hidden_case_nor_twice():
    tol = Tolerance(rtol=0.0, atol=1e-9)
    got, exp = np.array([1.0, 2.5, 3.0, 9.0]), np.array([1.0, 2.0, 3.0, 4.0])
    found = checks.run_check("allclose", got, exp, tol, None, {})
    assert found.first == (1,) and found.index == (3,)
    assert "First difference at index (1,)" in checks.describe(found, "en", hidden=False)
    assert "First difference" not in checks.describe(found, "en", hidden=True)
    one = checks.run_check("allclose", np.array([1.0, 9.0]), np.array([1.0, 2.0]), tol, None, {})
    assert one.first is None and "First difference" not in checks.describe(one, "en", hidden=False)


def test_an_import_error_s_hint_is_labelled_not_part_of_the_message(tmp_path):
    mp = variant("mp_neuron.py", "    return np.where(x > 0, 1, 0)\n", "    if x > 0:\n        return 1\n    return 0\n")
    report = grader_for().grade(make_submission(tmp_path, {"mp_neuron.py": mp}), ["mp-neuron"])
    stage = report.stages[0]
    assert stage.hint and "receives the whole array" in stage.hint and stage.hint not in stage.message
    assert f"hint: {stage.hint}" in render_text(report)
    assert '<div class="hint">Hint: `f` receives the whole array' in render_html(report)


def test_tracebacks_name_the_student_s_own_file_not_the_sandbox_copy(tmp_path):
    wrong = variant("activation.py", "        y = np.tanh(x)", "        y = np.tanh(x) + undefined_thing")
    sub = make_submission(tmp_path, {"activation.py": wrong})
    stage = grade_stage(sub, "tanh")
    tb = case(stage, "small-vector")["details"]["traceback"]
    assert f'File "{sub.resolve() / "activation.py"}", line' in tb, tb
    assert "/work/" not in tb.replace(str(sub.resolve()), "") and "job-" not in tb


def test_init_records_the_assignment_and_plain_grade_honours_it(tmp_path):
    work = tmp_path / "my-work"
    course = load_course(ROOT)
    init_workspace(work, course, ["1", "4", "5"])
    assert assigned(work) == [1, 4, 5]
    res = run_cli(cwd=work)  # plain `grade` in the workspace
    assert "Total: 0/31" in res.stdout, res.stdout + res.stderr  # 9 + 10 + 12: not stages 2 and 3 (99 -> 59 in the issue)
    assert "--stage 1,4-5" in res.stdout and ".grade.json" in res.stdout
    init_workspace(work, course, ["7"])  # next week's exercise widens the assignment
    assert assigned(work) == [1, 4, 5, 7]
    chosen = run_cli("--stage", "2", cwd=work)  # --stage still grades what it names
    assert "Total: 0/9" in chosen.stdout and ".grade.json" not in chosen.stdout


def test_an_unreadable_or_foreign_assignment_is_ignored(tmp_path):
    work = tmp_path / "w"
    shutil.copytree(TEMPLATE, work)
    for text in ("not json", '{"stages": "1"}', '{"stages": [true, "x", 2.5]}', "[]"):
        (work / ASSIGNMENT).write_text(text)
        assert assigned(work) == []
    (work / ASSIGNMENT).write_text('{"stages": [3, 1, 3]}')
    assert assigned(work) == [1, 3]
    init_workspace(tmp_path / "all", load_course(ROOT))  # the whole template: no assignment needed
    assert not (tmp_path / "all" / ASSIGNMENT).exists()
