"""Stages 1-5: right-but-different submissions keep every point, wrong ones lose exactly
the cases they deserve to lose."""

from __future__ import annotations

from conftest import TEMPLATE, case, failed, grade_stage, variant

ACT = "activation.py"
ALL_ACT = {"small-vector", "zero-d-array", "matrix", "random-arrays", "large-magnitudes"}


def test_reference_full_marks_and_template_zero(sub):
    ref = sub({})
    tpl = sub({}, base=TEMPLATE)
    for stage in ("sigmoid", "tanh", "relu", "mp-neuron", "mae-rmse"):
        good = grade_stage(ref, stage)
        assert good["status"] == "passed" and good["score"] == good["max_score"] > 0, good
        bad = grade_stage(tpl, stage)
        assert bad["score"] == 0, bad
        assert all(c["status"] != "passed" for c in bad["cases"])


def test_template_says_not_implemented(sub):
    stage = grade_stage(sub({}, base=TEMPLATE), "sigmoid")
    assert "not implemented yet" in case(stage, "small-vector")["message"]
    assert "line 12" in case(stage, "small-vector")["message"]


# --- 1. sigmoid -------------------------------------------------------------------------

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


# --- 2. tanh ------------------------------------------------------------------------------

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


# --- 3. ReLU ------------------------------------------------------------------------------

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


# --- 4. M-P neuron --------------------------------------------------------------------------

MP = "mp_neuron.py"


def test_mp_neuron_any_valid_weights_pass(sub):
    for w, b in (("[0.5, 0.5]", "-0.5"), ("[2, 3]", "-4"), ("[1, 1]", "-1.999")):
        text = variant(MP, "w = np.array([1, 1])\nb = -1.5", f"w = np.array({w})\nb = {b}")
        assert failed(grade_stage(sub({MP: text}), "mp-neuron")) == set(), (w, b)


def test_mp_neuron_seed_answer_with_matplotlib_import_passes(sub):
    text = "import matplotlib.pyplot as plt\n" + variant(MP, "w = np.array([1, 1])\nb = -1.5",
                                                       "w = np.array([0.5, 0.5])\nb = -0.5") + "\nplt.show()\n"
    assert failed(grade_stage(sub({MP: text}), "mp-neuron")) == set()


def test_mp_neuron_or_gate_fails_behaviour_cases(sub):
    text = variant(MP, "b = -1.5", "b = -0.5")
    stage = grade_stage(sub({MP: text}), "mp-neuron")
    assert failed(stage) == {"truth-table", "and-on-other-rows", "printed-table"}
    assert "logical OR" in case(stage, "truth-table")["hint"]


def test_mp_neuron_sigmoid_activation_fails(sub):
    text = variant(MP, "return np.where(x > 0, 1, 0)", "return 1 / (1 + np.exp(-x))")
    stage = grade_stage(sub({MP: text}), "mp-neuron")
    assert failed(stage) == {"truth-table", "step-function", "and-on-other-rows", "printed-table"}


def test_mp_neuron_table_with_extra_spaces_passes(sub):
    text = variant(MP, "print(xi[0], end=' ')", "print('  ', xi[0], end='   ')")
    assert failed(grade_stage(sub({MP: text}), "mp-neuron")) == set()


# --- 5. MAE / RMSE -------------------------------------------------------------------------

MET = "metrics.py"


def test_metrics_alternatives_pass(sub):
    text = variant(MET, "MAE = np.sum(error) / count", "MAE = np.mean(np.abs(pred - actual))")
    text = text.replace("RMSE = np.sqrt(error.dot(error) / count)", "RMSE = float(np.sqrt(np.mean(error ** 2)))")
    assert failed(grade_stage(sub({MET: text}), "mae-rmse")) == set()


def test_seed_rmse_formula_loses_rmse_cases_with_targeted_hint(sub):
    seed_text = variant(MET, "RMSE = np.sqrt(error.dot(error) / count)",
                        "RMSE = np.sqrt(error.dot(error.T)) / count\n    if RMSE == 0.4722029223776848:\n"
                        "        return 0.47220292237768485")
    stage = grade_stage(sub({MET: seed_text}), "mae-rmse")
    # n = 1 makes both formulas agree on single-rating
    assert failed(stage) == {"rmse-small", "random-rmse", "integer-ratings"}
    assert "divide inside the square root" in case(stage, "rmse-small")["hint"]
    assert "divide inside the square root" in case(stage, "random-rmse")["hint"]


def test_mse_without_root_gets_its_hint(sub):
    text = variant(MET, "RMSE = np.sqrt(error.dot(error) / count)", "RMSE = error.dot(error) / count")
    stage = grade_stage(sub({MET: text}), "mae-rmse")
    assert "square root" in case(stage, "rmse-small")["hint"]


def test_mae_sign_error(sub):
    text = variant(MET, "error = np.abs(pred - actual)", "error = pred - actual")
    stage = grade_stage(sub({MET: text}), "mae-rmse")
    assert failed(stage) == {"mae-small", "single-rating", "random-mae", "integer-ratings"}
    assert "absolute value" in case(stage, "mae-small")["hint"]


def test_chinese_messages(sub):
    text = variant(MET, "RMSE = np.sqrt(error.dot(error) / count)", "RMSE = np.sqrt(error.dot(error.T)) / count")
    stage = grade_stage(sub({MET: text}), "mae-rmse", lang="zh")
    c = case(stage, "rmse-small")
    assert "应为" in c["message"] and "容差" in c["message"] and "开方之前" in c["hint"]
    assert stage["title"] == "平均绝对误差和均方根误差"
