"""Stage 3, ReLU: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import ACT


def test_relu_alternatives_keep_full_marks(sub):
    for expr in ("np.maximum(0, x)", "x * (x > 0)", "np.clip(x, 0, None)"):
        good = variant(ACT, "y = np.where(x > 0, x, 0.0)", f"y = {expr}")
        assert failed(grade_stage(sub({ACT: good}), "relu")) == set(), expr


def test_relu_step_and_abs_mistakes(sub):
    step = grade_stage(sub({ACT: variant(ACT, "y = np.where(x > 0, x, 0.0)", "y = np.where(x > 0, 1.0, 0.0)")}), "relu")
    assert failed(step) == {"small-vector", "zero-d-array", "matrix", "random-arrays"} - {"zero-d-array"}
    assert "step function" in case(step, "random-arrays")["hint"]
    absval = grade_stage(sub({ACT: variant(ACT, "y = np.where(x > 0, x, 0.0)", "y = np.abs(x)")}), "relu")
    assert failed(absval) == {"small-vector", "zero-d-array", "matrix", "random-arrays"}
    assert "absolute value" in case(absval, "random-arrays")["hint"]


def test_relu_list_result_shape_mismatch_is_explained(sub):
    wrong = variant(ACT, "y = np.where(x > 0, x, 0.0)", "y = [max(0.0, v) for v in np.ravel(x)]")
    stage = grade_stage(sub({ACT: wrong}), "relu")
    assert "matrix" in failed(stage)
    assert "wrong shape: expected (2, 3), got (6,)" in case(stage, "matrix")["message"]
