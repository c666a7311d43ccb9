"""The judge, without any process: hand-made records in, verdicts out."""

from __future__ import annotations

import re

import numpy as np

from grader.course.inputs import make_draws
from grader.judging.judge import judge
from grader.sandbox.job import Outcome
from grader.course.spec import StageSpec
from grader.verdict import Status

SPEC = StageSpec.parse({
    "number": 3, "slug": "double", "title": {"en": "Double", "zh": "加倍"}, "file": "double.py",
    "tolerance": {"rtol": 1e-7, "atol": 0.0},
    "cases": [
        {"name": "shown", "points": 1, "call": "double(x)", "inputs": {"x": [1.5, -2.0, 4.25]}},
        {"name": "secret", "points": 2, "hidden": True, "call": "double(x)",
         "inputs": {"x": {"uniform": [1.0, 9.0], "shape": [3, 4]}}},
        {"name": "secret-scalar", "points": 1, "hidden": True, "call": "double(x)",
         "inputs": {"x": {"uniform": [1.0, 9.0], "shape": []}}},
    ]})


def _run(values: dict) -> tuple:
    """Draws, the reference's records (2x) and an outcome whose records are `values(x)`."""
    draws = make_draws(SPEC, seed=11)
    reference = {d.key: {"value": 2 * np.asarray(d.inputs["x"], dtype=float)} for d in draws}
    cases = {d.key: {"value": values(np.asarray(d.inputs["x"], dtype=float)), "duration_s": 0.01} for d in draws}
    outcome = Outcome(imported={"warnings": [], "duration_s": 0.1}, cases=cases, killed=None, exit_code=0,
                      signal=None, wall_s=0.2, cpu_s=0.1, peak_mb=30.0, output="")
    return draws, reference, outcome


def test_right_values_pass_and_score_every_point():
    draws, reference, outcome = _run(lambda x: 2 * x)
    result = judge(SPEC, draws, reference, outcome, "en")
    assert result.status == Status.PASSED and result.score == result.max_score == 4
    assert [c.status for c in result.cases] == [Status.PASSED] * 3


def test_visible_case_shows_both_values_and_errors():
    draws, reference, outcome = _run(lambda x: 2 * x + (x == 1.5) * 0.5)
    shown = judge(SPEC, draws, reference, outcome, "en").cases[0]
    assert shown.status == Status.FAILED and shown.score == 0
    assert "expected 3.0, got 3.5" in shown.message and "Max absolute difference" in shown.message
    assert shown.details["expected"] and shown.details["inputs"]


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)]


def test_a_hidden_case_answered_with_zero_gives_away_no_number_of_the_answer():
    """Returning 0 makes |got - expected| the answer itself: the words hold no error, no
    expected value, no worst element; only counts, the shape and the tolerance."""
    draws, reference, outcome = _run(lambda x: np.zeros_like(x))
    for lang in ("en", "zh"):
        result = judge(SPEC, draws, reference, outcome, lang)
        for case in result.cases[1:]:
            assert case.hidden and case.status == Status.FAILED
            expected = [abs(v) for d in draws if SPEC.cases[d.case_index].name == case.name
                        for v in np.ravel(reference[d.key]["value"])]
            for n in _numbers(case.message):
                assert all(not np.isclose(n, v, rtol=1e-3) and not np.isclose(n, v / 2, rtol=1e-3) for v in expected), \
                    (n, case.message)
            assert "expected" not in case.details and "inputs" not in case.details
    msg = judge(SPEC, draws, reference, outcome, "en").cases[1].message
    assert "12 / 12" in msg and "(3, 4)" in msg  # what differs, without a value


def test_hidden_case_returning_a_constant_reveals_nothing_either():
    draws, reference, outcome = _run(lambda x: np.full_like(x, 5.0))
    case = judge(SPEC, draws, reference, outcome, "en").cases[2]
    assert case.status == Status.FAILED and "off by" not in case.message and "expected" not in case.message


def test_missing_records_after_a_stop_are_errors_not_failures():
    draws, reference, outcome = _run(lambda x: 2 * x)
    outcome.cases = {k: v for k, v in outcome.cases.items() if k == draws[0].key}
    outcome.killed, outcome.wall_s = "timeout", 20.43
    result = judge(SPEC, draws, reference, outcome, "en")
    assert result.cases[0].status == Status.PASSED
    # the case it stopped in: how long it ran (the run's time less the import and the finished case)
    assert result.cases[1].status == Status.TIMEOUT and "ran 20.3 s" in result.cases[1].message
    assert "limit of 20 s" in result.cases[1].message and abs(result.cases[1].duration_s - 20.32) < 1e-6
    assert result.cases[2].status == Status.ERROR and "not run" in result.cases[2].message


def test_a_name_the_file_lacks_is_a_stage_error_with_a_field_not_a_flag():
    draws, reference, outcome = _run(lambda x: 2 * x)
    for rec in outcome.cases.values():
        rec.pop("value")
        rec["error"] = {"type": "NameError", "message": "name 'double' is not defined", "line": 3}
    result = judge(SPEC, draws, reference, outcome, "en")
    assert result.status == Status.ERROR and "does not define 'double'" in result.message
    assert all(c.missing_name == "double" for c in result.cases)
    assert all("missing_name" not in c.to_dict(details=True)["details"] for c in result.cases)


def _spec_with(cases: list[dict]) -> StageSpec:
    return StageSpec.parse({"number": 9, "slug": "calls", "title": "Calls", "file": "calls.py",
                            "driver": "calls.py", "cases": cases})


def _details_of(spec: StageSpec, lang: str = "en") -> list[dict]:
    draws = make_draws(spec, seed=3)
    reference = {d.key: {"value": 1.0} for d in draws}
    cases = {d.key: {"value": 1.0, "duration_s": 0.01} for d in draws}
    outcome = Outcome(imported={"warnings": []}, cases=cases, killed=None, exit_code=0, signal=None, wall_s=0.1,
                      cpu_s=0.1, peak_mb=1.0, output="")
    return [c.details for c in judge(spec, draws, reference, outcome, lang).cases]


def test_a_case_shows_only_the_inputs_its_call_uses():
    both = {"x": [1.0, 2.0], "weight_decay": 0.1}
    spec = _spec_with([
        {"name": "plain", "points": 1, "call": "step(x)", "inputs": both},
        {"name": "decay", "points": 1, "call": "step(x, weight_decay=weight_decay)", "inputs": both},
    ])
    plain, decay = _details_of(spec)
    assert set(plain["inputs"]) == {"x"} and plain["call"] == "step(x)"
    assert set(decay["inputs"]) == {"x", "weight_decay"}


def test_a_driver_call_is_shown_as_what_the_students_code_was_asked_to_do():
    spec = _spec_with([
        {"name": "table", "points": 1, "call": "driver.truth_table(student)",
         "shows": {"en": "f(x) for every x in the truth table", "zh": "真值表中每个 x 的 f(x)"}},
        {"name": "grad", "points": 1, "call": "driver.grad_at(grad, x)", "inputs": {"x": [1.0]}},
        {"name": "module", "points": 1, "call": "driver.printed(student)"},
    ])
    table, grad, module = _details_of(spec)
    assert table["asks"] == "f(x) for every x in the truth table"
    assert _details_of(spec, "zh")[0]["asks"] == "真值表中每个 x 的 f(x)"
    assert "`grad`" in grad["asks"] and set(grad["inputs"]) == {"x"}
    assert "calls.py" in module["asks"]
    assert not any("driver" in str(d.get("asks")) or "call" in d for d in (table, grad, module))


def test_every_driver_call_in_the_course_says_what_it_asks_in_both_languages():
    from grader.course.folder import load_course

    course = load_course(None)
    driver_cases = [(s.slug, c) for s in course.stages for c in s.cases if c.call.startswith("driver.")]
    assert len(driver_cases) > 30
    for slug, c in driver_cases:
        assert c.shows is not None, f"{slug}/{c.name} has no `shows:`"
        assert c.shows.en.strip() and c.shows.zh.strip() and c.shows.en != c.shows.zh, f"{slug}/{c.name}"
        assert "driver" not in c.shows.en and "driver" not in c.shows.zh, f"{slug}/{c.name}"
