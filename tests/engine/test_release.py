"""`grade release`: a student kit without answers, an autograder bundle with everything."""

from __future__ import annotations

import ast
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import REFERENCE, ROOT, TEMPLATE, make_submission
from test_classroom_reporter import node  # noqa: F401  (the fixture)
from grader.cli import main
from grader.course.folder import load_course
from grader.engine import Grader
from grader.authoring.release import prune_driver
from grader.course.spec import read_yaml

SEED = 11


def function_bodies(source: str, min_chars: int = 40) -> set[str]:
    """Every function body of a Python file, normalized by the AST (comments, layout gone)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            text = "\n".join(ast.unparse(stmt) for stmt in body)
            if len(text) >= min_chars and "NotImplementedError" not in text:
                out.add(text)
    return out


def reference_bodies() -> dict[str, str]:
    """body -> reference file, for the non-trivial functions of every stage's reference file
    that students are not handed anyway (student_template/ also has layers.py, complete)."""
    handed_out = set()
    for path in TEMPLATE.rglob("*.py"):
        handed_out |= function_bodies(path.read_text(encoding="utf-8"))
    out = {}
    for name in sorted({s.file for s in load_course(ROOT).stages}):
        for body in function_bodies((REFERENCE / name).read_text(encoding="utf-8")) - handed_out:
            out[body] = name
    return out


def leaked_bodies(files: dict[str, bytes]) -> list[str]:
    """Reference function bodies found in `files` (name -> content), by AST and by text."""
    ref = reference_bodies()
    assert len(ref) > 20, "the reference's functions were not found"
    leaks = []
    for name, data in files.items():
        text = data.decode("utf-8", errors="replace")
        found = set()
        if name.endswith(".py"):
            found = function_bodies(text) & set(ref)
        flat = " ".join(text.split())
        found |= {body for body in ref if len(body) > 80 and " ".join(body.split()) in flat}
        leaks += [f"{name}: body of {ref[b]}" for b in found]
    return leaks


def tree_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    assert main(["release", str(ROOT), "--out", str(out), "--seed", str(SEED)]) == 0
    return out / "student", out / "autograder"


def test_the_leak_check_can_fail():
    files = {"x.py": (REFERENCE / "metrics.py").read_bytes(), "notes.md": b"nothing here"}
    assert leaked_bodies(files)
    assert not leaked_bodies({"x.py": (TEMPLATE / "metrics.py").read_bytes()})


def test_student_kit_holds_no_answer(released):
    student, _ = released
    files = tree_files(student)
    assert not leaked_bodies(files)
    assert not (student / "reference").exists()
    assert {Path(n).suffix for n in files if n.startswith("frozen/")} <= {".jsonl", ".bin"}  # no pickle
    course = load_course(ROOT)
    text = "\n".join(d.decode("utf-8", errors="replace") for n, d in files.items()
                     if n.startswith("stages/") and n.endswith(".yaml") or n in ("kit.json", "README.md"))
    for spec in course.stages:
        kit_spec = read_yaml(student / "stages" / spec.path.name)
        assert [c["name"] for c in kit_spec["cases"]] == [c.name for c in spec.cases if not c.hidden]
        records = (student / "frozen" / f"{spec.slug}.jsonl").read_text().splitlines()
        forms = [r for r in records if r.startswith('{"key": "form:')]  # the reference's answer to each `when`
        assert len(forms) == len(kit_spec.get("forms", []))
        assert len(records) - len(forms) == sum(c.repeat for c in spec.cases if not c.hidden)  # public draws only
        for case in spec.cases:
            if case.hidden:  # nothing of a hidden case: not its name, not its inputs
                assert not re.search(rf"name:\s*['\"]?{re.escape(case.name)}['\"]?\s*$", text, re.M), case.name
            for m in case.mistakes:  # reference-side code of known mistakes stays out of the specs
                if m.value is not None:
                    assert not any(m_.get("value") for c in kit_spec["cases"] for m_ in c.get("mistakes", []))
                    assert m.value not in (student / "stages" / spec.path.name).read_text(encoding="utf-8")


def test_drivers_keep_only_what_public_cases_call(released):
    student, _ = released
    course = load_course(ROOT)
    for driver in sorted({s.driver for s in course.stages if s.driver}):
        public = {c.call for s in course.stages if s.driver == driver for c in s.cases if not c.hidden}
        mistakes = {m.value for s in course.stages if s.driver == driver for c in s.cases for m in c.mistakes
                    if m.value and m.value.startswith("driver.")}
        kept = {n.name for n in ast.parse((student / "stages" / "drivers" / driver).read_text()).body
                if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for call in public:
            if call.startswith("driver."):
                assert call.split(".")[1].split("(")[0] in kept
        for value in mistakes:
            name = value.split("driver.")[1].split("(")[0]
            if not any(f"driver.{name}(" in call for call in public):
                assert name not in kept, f"{driver}: {name} computes a known mistake's value"


def test_prune_driver_follows_what_is_used():
    source = ("import numpy as np\nLIMIT = 3\nSECRET = 42\n\n\ndef _helper(x):\n    return x + LIMIT\n\n\n"
              "def public(x):\n    return _helper(x)\n\n\n@staticmethod\ndef answer(x):\n    return x * SECRET\n")
    pruned = prune_driver(source, {"public"})
    assert "def public" in pruned and "def _helper" in pruned and "LIMIT = 3" in pruned
    assert "answer" not in pruned and "SECRET" not in pruned and "@staticmethod" not in pruned
    namespace: dict = {}
    exec(compile(pruned, "pruned", "exec"), namespace)
    assert namespace["public"](1) == 4


def test_reference_full_and_template_zero_against_the_kit(released):
    student, _ = released
    with Grader(course=student, seed=999) as g:
        assert g.seed == SEED  # the kit's seed: the public inputs are those frozen
        good = g.grade(REFERENCE).to_dict()
        empty = g.grade(TEMPLATE).to_dict()
    public_points = sum(c.points for s in load_course(ROOT).stages for c in s.book_cases if not c.hidden)
    assert good["score"] == good["max_score"] == public_points
    assert len(good["stages"]) == len(load_course(ROOT).stages)
    assert not any(c["hidden"] for s in good["stages"] for c in s["cases"])
    assert empty["score"] == 0 and empty["max_score"] == public_points
    assert good["notes"] and "hidden" in good["notes"][0]
    # --seed 999 cannot be honoured (the kit holds its own seed's values only): the report says so
    assert any("--seed 999 was not used" in n and f"seed {SEED}" in n for n in good["notes"])
    with Grader(course=student, seed=SEED) as g:
        assert not any("--seed" in n for n in g.grade(REFERENCE, [1]).notes)  # the kit's own seed: no note


def test_the_autograder_bundle_also_runs_hidden_cases(released):
    student, bundle = released
    with Grader(course=bundle, seed=5) as g:
        assert g.course.frozen is None
        good = g.grade(REFERENCE, [1, 5, 12]).to_dict()
        empty = g.grade(TEMPLATE, [1, 5, 12]).to_dict()
    hidden = [c for s in good["stages"] for c in s["cases"] if c["hidden"]]
    assert hidden and all(c["status"] == "passed" for c in hidden)
    assert good["score"] == good["max_score"] and not good["notes"]
    assert empty["score"] == 0 and any(c["hidden"] for s in empty["stages"] for c in s["cases"])


def test_a_known_mistake_hint_on_a_public_case_in_kit_mode(released, tmp_path):
    student, _ = released
    course = load_course(ROOT)
    spec = course.find("sigmoid")
    case, mistake = next((c, m) for c in spec.cases if not c.hidden for m in c.mistakes if m.value)
    wrong = (REFERENCE / spec.file).read_text() + (
        "\n\ndef _wrong_sigmoid(self, x):\n    return " + mistake.value + "\n\n"
        "ActivationFunction.sigmoid = _wrong_sigmoid\n")
    sub = make_submission(tmp_path, {spec.file: wrong})
    with Grader(course=student) as g:
        report = g.grade(sub, [spec.number]).to_dict()
    result = next(c for c in report["stages"][0]["cases"] if c["name"] == case.name)
    assert result["status"] == "failed" and result["hint"] == mistake.hint.en


def test_init_from_the_kit_and_the_kit_found_from_inside(released, capsys):
    student, _ = released
    work = student / "work"
    assert main(["init", str(work), "--stage", "1"]) == 0  # no --course: the kit around work/
    assert (work / "activation.py").read_bytes() == (TEMPLATE / "activation.py").read_bytes()
    capsys.readouterr()
    assert main([str(work), "--stage", "1", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["course"] == str(student) and report["seed"] == SEED and report["score"] == 0
    assert report["notes"]


def test_release_refuses_to_overwrite_and_refuses_a_kit(released, tmp_path, capsys):
    student, bundle = released
    assert main(["release", str(ROOT), "--out", str(student.parent)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert main(["release", str(student), "--out", str(tmp_path / "again")]) == 2
    assert "student kit" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_gradescope_package_from_the_bundle_not_from_the_kit(released, tmp_path, capsys):
    student, bundle = released
    out = tmp_path / "ag.zip"
    assert main(["gradescope", "--package", str(out), "--course", str(bundle), "--stage", "1"]) == 0
    names = zipfile.ZipFile(out).namelist()
    assert "course/reference/activation.py" in names and "course/stages/01_sigmoid.yaml" in names
    assert main(["gradescope", "--package", str(tmp_path / "kit.zip"), "--course", str(student)]) == 2
    assert "autograder" in capsys.readouterr().err


def test_the_classroom_action_grades_against_a_kit_in_the_repository(released, tmp_path):
    from test_platforms_classroom import reporter_totals, run_action

    student, _ = released
    workspace = tmp_path / "ws"
    shutil.copytree(REFERENCE, workspace)
    shutil.copytree(student, workspace / "kit", ignore=shutil.ignore_patterns("work"))
    outputs, summary, _ = run_action(tmp_path, workspace, {"stages": "1 5", "course-path": "kit"})
    total, maximum, status, table = reporter_totals(outputs["result"])
    course = load_course(student)
    public = sum(c.points for n in (1, 5) for c in course.find(n).cases)
    assert total == maximum == public == table and status == "pass"
    assert "hidden cases run only" in summary
    assert "`grade . --stage 1,5 --seed " in summary and " --course kit`" in summary  # as in the student's clone


def test_the_classroom_reporter_on_a_kit_in_the_repository(released, tmp_path, node):
    """GitHub's reporter on a partly wrong student graded against the kit: its notice is grade's
    total, and each lost test names the command to rerun it in the clone, with the kit."""
    from test_classroom_reporter import WRONG_RMSE, assert_totals_agree, run_reporter
    from test_platforms_classroom import run_action

    student, _ = released
    workspace = tmp_path / "ws"
    shutil.copytree(REFERENCE, workspace)
    (workspace / "metrics.py").write_text(WRONG_RMSE, encoding="utf-8")
    shutil.copytree(student, workspace / "kit", ignore=shutil.ignore_patterns("work"))
    outputs, _, temp = run_action(tmp_path, workspace, {"stages": "1 5", "course-path": "kit"})
    report = json.loads((temp / "grade-report" / "report.json").read_text())
    assert 0 < report["score"] < report["max_score"]
    log, rc = run_reporter(node, outputs["result"])
    assert rc == 1
    assert_totals_agree(log, report["score"], report["max_score"])
    assert re.search(r"^grade \. --stage mae-rmse --seed \d+ --course kit$", log, re.M)


def test_a_kit_with_a_missing_frozen_record_says_so(released, tmp_path):
    student, _ = released
    broken = tmp_path / "kit"
    shutil.copytree(student, broken, ignore=shutil.ignore_patterns("work"))
    lines = (broken / "frozen" / "sigmoid.jsonl").read_text().splitlines(keepends=True)
    (broken / "frozen" / "sigmoid.jsonl").write_text("".join(lines[1:]))
    with Grader(course=broken) as g:
        stage = g.grade(REFERENCE, [1]).to_dict()["stages"][0]
    assert stage["status"] == "error" and stage["score"] == 0
    assert "sigmoid.jsonl has no record" in stage["message"]


def test_a_kit_inside_the_submission_never_grades_it(tmp_path, monkeypatch, capsys):
    """The forged-grade attack: a student releases a kit from a course whose reference is their
    own wrong code and hands it in with the work. Found from the submission it would give full
    marks; it is refused (exit 2, the reason on stderr), and the real course still grades."""
    forged = tmp_path / "forged-course"
    shutil.copytree(ROOT / "stages", forged / "stages")
    shutil.copytree(ROOT / "student_template", forged / "student_template")
    shutil.copytree(REFERENCE, forged / "reference")
    wrong = (REFERENCE / "activation.py").read_text(encoding="utf-8").replace(
        "def sigmoid(self, x):", "def sigmoid(self, x):\n        return x * 0.0\n\n    def _unused(self, x):", 1)
    (forged / "reference" / "activation.py").write_text(wrong, encoding="utf-8")
    assert main(["release", str(forged), "--out", str(tmp_path / "rel"), "--seed", "5"]) == 0
    submission = tmp_path / "submission"
    shutil.copytree(tmp_path / "rel" / "student", submission)
    (submission / "activation.py").write_text(wrong, encoding="utf-8")
    monkeypatch.delenv("GRADE_COURSE", raising=False)
    capsys.readouterr()
    for cwd in (tmp_path, submission, submission / "stages"):  # from beside it, from inside, from below
        monkeypatch.chdir(cwd)
        assert main([str(submission), "--stage", "1", "--format", "json"]) == 2
        err = capsys.readouterr().err
        assert "kit" in err and "--course" in err
    monkeypatch.chdir(tmp_path)
    assert main([str(submission), "--stage", "1", "--course", str(ROOT), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["score"] < report["max_score"]


def test_no_accepted_answer_reaches_the_student_kit(released):
    """stages/accepted/ (the course's accepted answers, with their scores) is the instructor's:
    the autograder bundle has it, the student kit holds none of it, by path, bytes or function body."""
    student, bundle = released
    answers = sorted((ROOT / "stages" / "accepted").rglob("*.py"))
    assert len(answers) >= 20 and (bundle / "stages" / "accepted" / "tanh" / "answers.yaml").is_file()
    files = tree_files(student)
    assert not [n for n in files if "accepted" in n or n.endswith("answers.yaml")]
    handed_out = set()
    for path in TEMPLATE.rglob("*.py"):
        handed_out |= function_bodies(path.read_text(encoding="utf-8"))
    kit_bodies = set()
    for name, data in files.items():
        if name.endswith(".py"):
            kit_bodies |= function_bodies(data.decode("utf-8", errors="replace"))
    for path in answers:
        assert path.read_bytes() not in files.values(), path
        assert not (function_bodies(path.read_text(encoding="utf-8")) - handed_out) & kit_bodies, path
