"""Accepted answers live with the stage (stages/accepted/<slug>/answers.yaml): the course's own
accepted answers (seed 002's worked answers: 151 of 159, the 8 lost points each with the message
naming that mistake) and right-but-different ones each score exactly as declared; a wrong
declaration is a finding; a mutant that behaves like an accepted answer is an equivalent mutant."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, grader_for
from grader.authoring import accepted
from grader.authoring.check_course import _Likes, check_course
from grader.authoring.check_report import render_text
from grader.course.folder import load_course
from grader.errors import SpecError

COURSE = load_course(ROOT)
ANSWERS = accepted.load(COURSE)
ALL = [a for slug in sorted(ANSWERS) for a in ANSWERS[slug]]


@pytest.fixture(scope="module")
def graded():
    pytest.importorskip("torch")
    g = grader_for(seed=2024)
    return {a.name: accepted.grade(g, COURSE.find(a.slug), a) for a in ALL}


def test_every_stage_keeps_its_accepted_answers_beside_its_spec():
    assert set(ANSWERS) == {s.slug for s in COURSE.stages}
    assert all(any(a.path.name == "seed002.py" for a in ANSWERS[s]) for s in ANSWERS)
    kinds = {a.name for a in ALL}
    for name in ("mp-neuron/heaviside.py", "mp-neuron/sgn.py", "steepest-descent/sympy-book-form.py",
                 "sigmoid/float32.py", "tanh/float32.py", "mae-rmse/float32.py"):
        assert name in kinds


@pytest.mark.parametrize("answer", ALL, ids=lambda a: a.name)
def test_each_accepted_answer_scores_as_declared(graded, answer):
    result = graded[answer.name]
    assert accepted.findings(answer, result, "en") == [], [(c.name, c.message) for c in result.cases
                                                           if c.status != "passed"]


def test_the_seed_answers_score_151_of_159_losing_only_what_the_book_names(graded):
    seed = [graded[a.name] for a in ALL if a.path.name == "seed002.py"]
    assert sum(s.max_score for s in seed) == 159 and sum(s.score for s in seed) == 151
    declared = {(a.slug, case) for a in ALL if a.path.name == "seed002.py" for case in a.loses}
    assert declared == {("tanh", "large-magnitudes"), ("mae-rmse", "rmse-small"), ("mae-rmse", "random-rmse"),
                        ("mae-rmse", "integer-ratings"), ("early-stopping", "reset")}


def test_a_wrong_declaration_is_a_finding(graded):
    seed_tanh = next(a for a in ALL if a.name == "tanh/seed002.py")
    result = graded[seed_tanh.name]
    full = accepted.Answer(seed_tanh.slug, seed_tanh.path)  # declared full marks: it loses one
    found = accepted.findings(full, result, "en")
    assert len(found) == 1 and "scores 8/9, declared 9" in found[0] and "large-magnitudes" in found[0]
    words = accepted.Answer(seed_tanh.slug, seed_tanh.path, score=8, loses={"large-magnitudes": "no such words"})
    assert "do not say 'no such words'" in accepted.findings(words, result, "en")[0]
    assert "声明的是 9" in accepted.findings(full, result, "zh")[0]


def test_a_broken_manifest_is_a_spec_error(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(ROOT / "stages", root / "stages", ignore=shutil.ignore_patterns("accepted"))
    shutil.copytree(ROOT / "reference", root / "reference")
    (root / "stages" / "accepted" / "no-such-stage").mkdir(parents=True)
    (root / "stages" / "accepted" / "no-such-stage" / "answers.yaml").write_text("[]\n")
    with pytest.raises(SpecError, match="no-such-stage"):
        accepted.load(load_course(root))
    shutil.rmtree(root / "stages" / "accepted" / "no-such-stage")
    (root / "stages" / "accepted" / "sigmoid").mkdir()
    (root / "stages" / "accepted" / "sigmoid" / "answers.yaml").write_text("- file: ../../reference/activation.py\n")
    with pytest.raises(SpecError, match="is not a file of sigmoid/"):
        accepted.load(load_course(root))


def test_likes_names_an_answer_only_where_it_differs_from_the_reference():
    likes = _Likes(reference=["[0.5]"], answers={"s/a.py": ["[0.5]"], "s/b.py": ["[1.0]"]})
    assert likes.like(["[1.0]"]) == "s/b.py"
    assert likes.like(["[0.5]"]) == ""  # same as the reference: a survivor stays a survivor
    assert likes.like(["[0.7]"]) == ""


def _one_stage_course(tmp_path: Path, answer: str) -> Path:
    """Stage 1 with one loose case (every mutant passes it) and one accepted answer."""
    root = tmp_path / "course"
    for folder in ("reference", "student_template"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "stages" / "accepted" / "sigmoid").mkdir(parents=True)
    spec = yaml.safe_load((ROOT / "stages" / "01_sigmoid.yaml").read_text(encoding="utf-8"))
    spec["cases"] = [{"name": "loose", "points": 1, "inputs": {"x": {"array": [-1.0, 2.0]}},
                      "call": "ActivationFunction().sigmoid(x)", "tolerance": {"atol": 10.0, "rtol": 0.0}}]
    (root / "stages" / "01_sigmoid.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    (root / "stages" / "accepted" / "sigmoid" / "flipped.py").write_text(answer, encoding="utf-8")
    (root / "stages" / "accepted" / "sigmoid" / "answers.yaml").write_text("- file: flipped.py\n", encoding="utf-8")
    return root


def test_a_mutant_that_behaves_like_an_accepted_answer_is_equivalent_not_a_survivor(tmp_path):
    ref = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
    flipped = ref.replace("y = 1. / (1 + np.exp(-x))", "y = 1. / (1 + np.exp(x))")
    result = check_course(_one_stage_course(tmp_path, flipped), stages=["1-1"], seeds=(11,), cap=0)  # a range, as --stage reads
    stage = result.stages[0]
    like = [m for m in stage.mutants if m.like]
    assert like and all(m.equivalent and m.like == "sigmoid/flipped.py" for m in like), render_text(result)
    assert "drop-sign" in " ".join(m.mutant.id for m in like)
    assert not any("drop-sign" in m.mutant.id for m in stage.survivors)
    assert any("behaves like the accepted answer sigmoid/flipped.py" in n for n in stage.notes)
    assert stage.survivors  # the loose case lets other mutants through: they stay survivors


def test_check_course_fails_when_an_accepted_answer_loses_points_it_does_not_declare(tmp_path, capsys):
    from grader.cli import main

    root = tmp_path / "course"
    for folder in ("reference", "student_template"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "stages" / "accepted" / "sigmoid").mkdir(parents=True)
    shutil.copyfile(ROOT / "stages" / "01_sigmoid.yaml", root / "stages" / "01_sigmoid.yaml")
    ref = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
    flipped = ref.replace("y = 1. / (1 + np.exp(-x))", "y = 1. / (1 + np.exp(x))")
    (root / "stages" / "accepted" / "sigmoid" / "flipped.py").write_text(flipped, encoding="utf-8")
    (root / "stages" / "accepted" / "sigmoid" / "answers.yaml").write_text("- file: flipped.py\n", encoding="utf-8")
    assert main(["check-course", "--course", str(root), "--cap", "1"]) == 1
    out = capsys.readouterr().out
    assert "the accepted answer sigmoid/flipped.py scores 0/9, declared 9" in out, out
