"""Checks return a Mismatch; one function words it, for a language and for hidden cases."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_submission
from grader.course.spec import Tolerance
from grader.engine import Grader
from grader.errors import SpecError
from grader.judging import checks
from grader.judging.checks import CHECKS, Mismatch, describe, matches, run_check
from grader.verdict import Status
from helpers import MET, body
from test_spec import _course_with

TOL = Tolerance(rtol=1e-7, atol=0.0)


def test_registry_and_one_signature():
    assert {"allclose", "exact", "text"} <= set(CHECKS)
    for name in ("allclose", "exact"):
        assert CHECKS[name](np.array([1.0, 2.0]), np.array([1.0, 2.0]), TOL, {}) is None


def test_allclose_mismatch_fields():
    m = run_check("allclose", np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([[1.0, 2.0], [3.0, 8.0]]), TOL)
    assert (m.kind, m.bad, m.total, m.index, m.expected, m.got, m.abs) == ("values", 1, 4, (1, 1), 8.0, 0.0, 8.0)
    shown, hidden = describe(m, "en"), describe(m, "en", hidden=True)
    assert "expected 8.0, got 0.0" in shown and "Max absolute difference: 8" in shown
    assert "8" not in hidden and "1 / 4" in hidden and "(2, 2)" in hidden


def test_exact_and_text_hide_the_expected_value():
    m = run_check("exact", [1, 2, 41], [1, 2, 42], TOL)
    assert m.kind == "differ" and m.path == "result[2]"
    assert "expected 42, got 41" in describe(m, "en") and "42" not in describe(m, "en", hidden=True)
    m = run_check("exact", [1, 2], [1, 2, 3], TOL)
    assert "expected 3" in describe(m, "en") and "3" not in describe(m, "en", hidden=True)
    m = run_check("text", "a\nb\n", "a\nc\n", TOL)
    assert "'c'" in describe(m, "en") and "'c'" not in describe(m, "en", hidden=True)
    m = run_check("exact", np.array([1, 2, 3]), np.array([1, 5, 3]), TOL)
    assert m.kind == "array_differ" and "5" not in describe(m, "zh", hidden=True)


def test_shape_and_known_mistakes():
    m = run_check("allclose", np.zeros((3, 2)), np.zeros((2, 3)), TOL)
    assert m.kind == "shape" and "transposed" in describe(m, "en")
    assert matches(np.array([2.0]), np.array([2.0]), "allclose", TOL) and not matches(1, None, "exact", TOL)


# --- one registration: a check registered here validates, describes and matches -------------

def _rounded(got, expected, tol, inputs):
    """A check of this test only: equal once rounded to one decimal."""
    g, e = round(float(np.asarray(got)), 1), round(float(np.asarray(expected)), 1)
    return None if g == e else Mismatch("rounded_differ", expected=e, got=g)


@pytest.fixture
def rounded(monkeypatch):
    """`rounded` registered for one test (the registry restored after it)."""
    monkeypatch.setattr(checks, "CHECKS", dict(checks.CHECKS))
    monkeypatch.setattr(checks, "WORDS", dict(checks.WORDS))
    checks.register_check("rounded", words={"rounded_differ": lambda m, lang, hidden: f"rounded: {m.got} is not {m.expected}"})(_rounded)


def _course_checked_by(tmp_path, name):
    def use(spec):
        spec["cases"][1]["check"] = name  # rmse-small
    return _course_with(tmp_path, use)


def test_an_unregistered_check_is_refused_with_file_and_field(tmp_path):
    with pytest.raises(SpecError) as err:
        Grader(course=_course_checked_by(tmp_path, "rounded"), seed=1, workers=1)
    assert "05_mae_rmse.yaml: cases[1].check: expected one of allclose, exact, text or driver.NAME, got 'rounded'" \
        in str(err.value)


def test_a_check_registered_in_a_test_validates_describes_and_matches(tmp_path, rounded):
    root = _course_checked_by(tmp_path, "rounded")
    close = make_submission(tmp_path, {MET: body("RMSE = np.sqrt(error.dot(error) / count) + 0.01")})
    mse = make_submission(tmp_path, {MET: body("RMSE = error.dot(error) / count + 0.01")})  # no square root
    with Grader(course=root, seed=1, workers=1) as grader:  # validates: the spec names a registered check
        near = {c.name: c for c in grader.grade(close, [5]).stages[0].cases}
        far = {c.name: c for c in grader.grade(mse, [5]).stages[0].cases}
    assert near["rmse-small"].status == Status.PASSED  # 0.01 off: allclose would fail it
    assert near["random-rmse"].status != Status.PASSED  # the other cases keep allclose
    case = far["rmse-small"]
    assert case.status == Status.FAILED and "rounded: " in case.message  # described by its registered words
    # matched by the registered check: 0.01 away from the known mistake's value, allclose would not match it
    assert case.hint and "mean squared error" in case.hint, case


def test_a_check_is_registered_once(rounded):
    with pytest.raises(ValueError, match="already registered"):
        checks.register_check("rounded")(_rounded)
    with pytest.raises(ValueError, match="rounded_differ"):
        checks.register_check("other", words={"rounded_differ": lambda m, lang, hidden: ""})(_rounded)


def test_shown_arrays_are_kept_by_their_values_not_their_objects():
    """show() keeps each small array's words (a class shows the same inputs): an array changed in
    place, or another dtype or shape of the same bytes, is put into words afresh."""
    x = np.arange(6, dtype=np.float64)
    assert checks.show(x) == "[0., 1., 2., 3., 4., 5.]"
    x[0] = 7.5
    assert checks.show(x) == "[7.5, 1. , 2. , 3. , 4. , 5. ]"
    assert checks.show(x.reshape(2, 3)) == "[[7.5, 1. , 2. ],\n [3. , 4. , 5. ]]"
    assert checks.show(x.view(np.int64)[:1]) == "[4620130267728707584]"  # 7.5's bits
    big = np.arange(30, dtype=np.int32)
    assert checks.show(big) == "ndarray shape=(30,) dtype=int32 min=0 max=29 [0, 1, 2, 3, ...]"
    big[3] = -4
    assert checks.show(big) == "ndarray shape=(30,) dtype=int32 min=-4 max=29 [0, 1, 2, -4, ...]"


def test_allclose_passes_and_fails_the_same_with_non_finite_values():
    inf, nan = float("inf"), float("nan")
    assert run_check("allclose", np.array([1.0, inf]), np.array([1.0, inf]), TOL) is None
    assert run_check("allclose", np.array([nan]), np.array([nan]), TOL) is None
    assert run_check("allclose", np.array([1.0]), np.array([inf]), Tolerance(rtol=1e-3, atol=0.0)).kind == "values"
    assert run_check("allclose", np.array([inf]), np.array([1.0]), TOL).kind == "nonfinite"
    assert run_check("allclose", np.array([-inf]), np.array([inf]), TOL).kind == "values"
