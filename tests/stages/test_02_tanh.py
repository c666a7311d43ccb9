"""Stage 2, tanh: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import ACT, ALL_ACT


def test_tanh_textbook_formula_loses_only_the_large_case(sub):
    textbook = variant(ACT, "y = np.tanh(x)", "y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))")
    stage = grade_stage(sub({ACT: textbook}), "tanh")
    assert failed(stage) == {"large-magnitudes"}
    big = case(stage, "large-magnitudes")
    assert "NaN" in big["message"] and "finite" in big["message"]
    assert "NaN" in big["hint"] and "built-in hyperbolic tangent" in big["hint"]
    assert stage["score"] == stage["max_score"] - big["max_score"]


def test_tanh_via_sigmoid_keeps_full_marks(sub):
    good = variant(ACT, "y = np.tanh(x)", "y = 2 * self.sigmoid(2 * x) - 1")
    assert failed(grade_stage(sub({ACT: good}), "tanh")) == set()


def test_tanh_returning_sigmoid_gets_the_hint(sub):
    wrong = variant(ACT, "y = np.tanh(x)", "y = self.sigmoid(x)")
    stage = grade_stage(sub({ACT: wrong}), "tanh")
    assert failed(stage) == ALL_ACT
    assert "sigmoid" in case(stage, "small-vector")["hint"]
