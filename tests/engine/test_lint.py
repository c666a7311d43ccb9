"""`grade check-course`: mutants, known mistakes, reference/template/hidden checks, the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader.cli import main
from grader.authoring.check_course import check_course
from grader.authoring.mutants import mutants, student_lines
from grader.authoring.check_report import render_html, render_text

ROOT = Path(__file__).resolve().parents[2]
SIGMOID_CALL = "ActivationFunction().sigmoid(x)"


def make_course(tmp_path: Path, cases: list[dict], reference: str | None = None, **extra) -> Path:
    """A one-stage course: the bundled sigmoid stage with the given cases (and reference)."""
    root = tmp_path / "course"
    for folder in ("stages", "reference", "student_template"):
        (root / folder).mkdir(parents=True)
    shutil.copyfile(ROOT / "student_template" / "activation.py", root / "student_template" / "activation.py")
    text = reference or (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
    (root / "reference" / "activation.py").write_text(text, encoding="utf-8")
    spec = yaml.safe_load((ROOT / "stages" / "01_sigmoid.yaml").read_text(encoding="utf-8"))
    spec.update(cases=cases, **extra)
    (root / "stages" / "01_sigmoid.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return root


def case(name: str, x, **more) -> dict:
    return {"name": name, "points": 1, "inputs": {"x": x}, "call": SIGMOID_CALL, **more}


# -- mutants ---------------------------------------------------------------------------------

def test_mutants_only_touch_student_lines_of_reached_functions():
    ref = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
    tpl = (ROOT / "student_template" / "activation.py").read_text(encoding="utf-8")
    found = mutants(ref, "activation.py", {"ActivationFunction", "sigmoid"}, tpl)
    assert found and {m.function for m in found} == {"ActivationFunction.sigmoid"}
    changed = student_lines(ref, tpl)
    for m in found:
        lines = [ln for ln in m.diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
        assert len(lines) == 1 and ref.splitlines().index(lines[0][1:]) + 1 in changed
        compile(m.source, "activation.py", "exec")
    sign = [m for m in found if m.operator == "drop-sign"]
    assert len(sign) == 1 and "np.exp(x)" in sign[0].diff


def test_mutant_operators_and_non_ascii_lines():
    source = ("import numpy as np\n\ndef f(a, b):\n    s = '误差'; y = np.sum(a - b, axis=0)\n"
              "    if y <= 2:\n        return y\n    return -y * 2\n")
    found = {m.operator: m for m in mutants(source, "m.py", {"f"})}
    for op in ("Sub-to-Add", "drop-right-term", "axis-changed", "LtE-to-Lt", "constant-plus-one",
               "constant-minus-one", "drop-sign", "return-none", "Mult-to-Div"):
        assert op in found, op
    assert "np.sum(a - b, axis=None)" in found["axis-changed"].source
    assert "s = '误差'; y = np.sum((a + b), axis=0)" in found["Sub-to-Add"].source
    assert "if (y < 2):" in found["LtE-to-Lt"].source


# -- the checks on small courses ---------------------------------------------------------------

def test_weak_stage_fails_with_the_sign_error_mutant_named(tmp_path, capsys):
    # sigmoid(0) = 1/(1+e^0) = 0.5 whatever the exponent's sign: this case lets a sign error through
    root = make_course(tmp_path, [case("only-zero", {"array": [0.0, 0.0]})])
    html = tmp_path / "check.html"
    assert main(["check-course", "--course", str(root), "--html", str(html)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  1 sigmoid" in out
    assert "ActivationFunction.sigmoid:12:" in out and ":drop-sign survives" in out
    assert "+        y = 1. / (1 + np.exp(x))" in out  # the diff
    page = html.read_text(encoding="utf-8")
    assert "drop-sign" in page and "np.exp(x)" in page and "<script" not in page


def test_strong_stage_passes_and_declared_equivalents_are_honoured(tmp_path):
    cases = [case("vector", {"array": [-2.0, 0.0, 3.0]}),
             case("random", {"normal": [0, 3], "shape": ["n"]}, hidden=True, sizes={"n": [5, 50]})]
    result = check_course(make_course(tmp_path, cases), cap=0)
    stage = result.stages[0]
    assert result.ok, render_text(result, verbose=True)
    assert stage.score == 1.0 and stage.mutants and all(m.killed for m in stage.mutants)
    # declaring a killed mutant equivalent changes nothing; a stale entry is a finding
    killed = stage.mutants[0].mutant.id
    again = check_course(make_course(tmp_path / "b", cases, equivalent_mutants=[killed, "f:1:1:nothing"]), cap=0)
    assert [f for f in again.stages[0].findings if "nothing" in f] and not again.stages[0].survivors


def test_broken_known_mistakes_are_reported(tmp_path):
    flipped = "1 / (1 + np.exp(x))"
    cases = [
        case("twice", {"array": [-1.0, 2.0]}, mistakes=[
            {"name": "sign", "value": flipped, "hint": "first"},
            {"name": "shadowed", "value": flipped, "hint": "never shown: the first mistake matches first"}]),
        case("no-mistake", {"array": [1.0, 3.0]}, mistakes=[
            {"name": "right-answer", "value": "1 / (1 + np.exp(-x))", "hint": "this is no mistake"}]),
    ]
    result = check_course(make_course(tmp_path, cases), cap=0)
    findings = "\n".join(result.stages[0].findings)
    assert not result.ok
    assert "known mistake shadowed (case twice) fails without its hint" in findings
    assert "known mistake right-answer (case no-mistake) earns full marks" in findings
    assert "mistake sign " not in findings  # the reachable one is fine


def test_hidden_case_with_fixed_inputs_and_nondeterministic_reference(tmp_path):
    ref = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
    noisy = "import os\n" + ref.replace("y = 1. / (1 + np.exp(-x))",
                                        "y = 1. / (1 + np.exp(-x)) + int.from_bytes(os.urandom(2), 'big') * 1e-3")
    cases = [case("fixed-hidden", {"array": [1.0, 2.0]}, hidden=True)]
    result = check_course(make_course(tmp_path, cases, reference=noisy), cap=3)
    findings = "\n".join(result.stages[0].findings)
    assert "hidden case fixed-hidden draws only 1 different inputs in 8 seeds" in findings
    assert "the reference is not deterministic" in findings
    assert "the reference does not earn full marks" in findings


def test_broken_spec_is_a_finding(tmp_path):
    root = make_course(tmp_path, [case("x", {"array": [1.0]}, points="many")])
    result = check_course(root)
    assert not result.ok and "cases[0].points" in result.findings[0]
    assert "cases[0].points" in render_html(result)


# -- the bundled course ------------------------------------------------------------------------

def test_bundled_course_passes():
    """The fast mode CI runs: every stage's reference, template, hidden-input and known-mistake
    checks in full, and a sample of 8 mutants a stage (fixed seed): 25-45 s on 2 cores.
    `grade check-course` (default cap 100) grades all 298 mutants of the bundled course in
    75-115 s on 2 cores."""
    result = check_course(None, cap=8)
    assert result.ok, render_text(result)
    assert len(result.stages) == 14
    assert all(s.score == 1.0 for s in result.stages if s.mutants)


def test_a_template_file_that_scores_beside_the_references_other_files_is_a_finding(tmp_path, capsys):
    """The engine calls an unchanged template file "not started" without running it; that is exact
    only if the template earns nothing whatever the other files hold. A template that hands its
    work to another file (here helper.py, a stub in the template, solved in the reference) breaks it."""
    root = make_course(tmp_path, [case("two", {"array": [0.0, 1.0]})])
    (root / "reference" / "helper.py").write_text(
        "import numpy as np\n\ndef sigmoid_impl(x):\n    return 1 / (1 + np.exp(-x))\n", encoding="utf-8")
    (root / "student_template" / "helper.py").write_text(
        "def sigmoid_impl(x):\n    raise NotImplementedError\n", encoding="utf-8")
    (root / "student_template" / "activation.py").write_text(
        "from helper import sigmoid_impl\n\nclass ActivationFunction:\n    def sigmoid(self, x):\n"
        "        return sigmoid_impl(x)\n", encoding="utf-8")
    assert main(["check-course", "--course", str(root), "--stage", "1"]) == 1
    assert "the template earns 1 points (case two); it must earn zero" in capsys.readouterr().out


class _Terminal:
    """A stream that says it is a terminal (tqdm draws its bar on it)."""

    def __init__(self):
        import io
        self.buf = io.StringIO()

    def write(self, text):
        return self.buf.write(text)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_counts_the_mutants_on_a_terminal_only(tmp_path):
    import io

    from grader.authoring.check_report import score_line

    cases = [case("vector", {"array": [-2.0, 0.0, 3.0]})]
    tty = _Terminal()
    result = check_course(make_course(tmp_path, cases), cap=1, progress=tty)
    n = len(result.stages[0].mutants)
    assert n == 1 and result.stages[0].generated > 1
    shown = tty.buf.getvalue()
    assert "grading 1 mutant:" in shown and "1/1" in shown  # tqdm's bar, with the count
    assert "1 of 1 mutant killed" in score_line(result.stages[0], "en")  # not "1 mutants"
    assert result.ok and "check-course: 1 stage checked, no findings" in render_text(result)
    quiet = io.StringIO()  # not a terminal (a log, CI): no bar at all
    check_course(make_course(tmp_path / "b", cases), cap=1, progress=quiet)
    assert quiet.getvalue() == ""
