"""Stage 1, sigmoid: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import TEMPLATE, case, failed, grade_stage, variant
from helpers import ACT, ALL_ACT


def test_template_says_not_implemented(sub):
    stage = grade_stage(sub({}, base=TEMPLATE), "sigmoid", run_templates=True)
    assert "not implemented yet" in case(stage, "small-vector")["message"]
    assert "line 12" in case(stage, "small-vector")["message"]


def test_sigmoid_stable_form_and_scipy_style_keep_full_marks(sub):
    stable = variant(ACT, "y = 1. / (1 + np.exp(-x))",
                     "y = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))")
    assert failed(grade_stage(sub({ACT: stable}), "sigmoid")) == set()
    halves = variant(ACT, "y = 1. / (1 + np.exp(-x))", "y = 0.5 * (1 + np.tanh(x / 2))")
    assert failed(grade_stage(sub({ACT: halves}), "sigmoid")) == set()


def test_sigmoid_sign_error_fails_everything_with_hint(sub):
    wrong = variant(ACT, "y = 1. / (1 + np.exp(-x))", "y = 1. / (1 + np.exp(x))")
    stage = grade_stage(sub({ACT: wrong}), "sigmoid")
    # sigmoid(0) = 0.5 either way, but every case holds non-zero inputs
    assert failed(stage) == ALL_ACT
    assert "sign of the exponent" in case(stage, "small-vector")["hint"]
    assert "Max absolute difference" in case(stage, "small-vector")["message"]


def test_sigmoid_math_exp_fails_on_arrays(sub):
    wrong = variant(ACT, "y = 1. / (1 + np.exp(-x))", "import math\n        y = 1. / (1 + math.exp(-x))")
    stage = grade_stage(sub({ACT: wrong}), "sigmoid")
    # math.exp accepts a 0-d array only
    assert failed(stage) == ALL_ACT - {"zero-d-array"}
    assert "TypeError" in case(stage, "matrix")["message"]


def test_hard_coded_answers_fail_hidden_cases(sub):
    expected = grade_stage(sub({}), "sigmoid")["cases"]  # noqa: F841 - reference passes
    table = variant(ACT, "y = 1. / (1 + np.exp(-x))",
                    "y = {(-2.0, -1.0, 0.0, 1.0, 2.0): np.array([0.11920292202211755, 0.2689414213699951, 0.5, "
                    "0.7310585786300049, 0.8807970779778823])}.get(tuple(np.ravel(x)), np.zeros_like(x))")
    stage = grade_stage(sub({ACT: table}), "sigmoid")
    assert "small-vector" not in failed(stage)
    assert {"random-arrays", "large-magnitudes"} <= failed(stage)


def test_one_ulp_off_still_passes(sub):
    ulp = variant(ACT, "y = 1. / (1 + np.exp(-x))", "y = np.nextafter(1. / (1 + np.exp(-x)), 2.0)")
    assert failed(grade_stage(sub({ACT: ulp}), "sigmoid")) == set()
