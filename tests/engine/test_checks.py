"""Checks return a Mismatch; one function words it, for a language and for hidden cases."""

from __future__ import annotations

import numpy as np

from grader.judging.checks import CHECKS, describe, matches, run_check
from grader.course.spec import Tolerance

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
