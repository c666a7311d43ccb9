"""Stage 4, the M-P neuron: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant


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


# -- fair cases (issue 22): the value at exactly 0 is a convention, probes just above and below it --

LECTURE_SGN = "return np.where(x >= 0, 1, 0)"  # seed 002's lecture, with AND weights


def test_the_lecture_sgn_and_heaviside_steps_keep_every_point(sub):
    for step in (LECTURE_SGN, "return np.heaviside(x, 0)", "return np.heaviside(x, 1)",
                 "return np.where(x > 0, 1.0, 0.0)", "return x >= 0"):
        text = variant(MP, "return np.where(x > 0, 1, 0)", step)
        stage = grade_stage(sub({MP: text}), "mp-neuron")
        assert failed(stage) == set(), (step, [(c["name"], c["message"]) for c in stage["cases"]])


def test_a_step_shifted_off_zero_fails_on_every_seed(sub):
    for step in ("return np.where(x > 0.01, 1, 0)", "return np.where(x > -0.01, 1, 0)",
                 "return np.where(x >= 0.002, 1, 0)"):
        text = variant(MP, "return np.where(x > 0, 1, 0)", step)
        folder = sub({MP: text})
        for seed in (1, 2, 3):
            stage = grade_stage(folder, "mp-neuron", seed=seed)
            assert "step-function" in failed(stage), (step, seed)
            c = case(stage, "step-function")
            assert "differs from the step at" in c["message"] and "accepted" in c["message"]


def test_the_step_function_hint_names_the_concept_not_the_code(sub):
    text = variant(MP, "return np.where(x > 0, 1, 0)", "return np.where(x > 0.5, 1, 0)")
    hint = case(grade_stage(sub({MP: text}), "mp-neuron"), "step-function")["hint"]
    assert "positive" in hint and ">" not in hint and "np." not in hint and "where(" not in hint


def test_a_sigmoid_step_is_told_it_returns_fractions(sub):
    text = variant(MP, "return np.where(x > 0, 1, 0)", "return 1 / (1 + np.exp(-x))")
    c = case(grade_stage(sub({MP: text}), "mp-neuron"), "step-function")
    assert "other than 0 and 1" in c["message"] and "sigmoid" in c["hint"]


def test_the_printed_table_must_still_hold_the_right_rows(sub):
    text = variant(MP, "print(yi)", "print(1 - yi)")
    stage = grade_stage(sub({MP: text}), "mp-neuron")
    assert failed(stage) == {"printed-table"}
    assert "line 1 of what was printed: expected '0 0 0', got '0 0 1'" in case(stage, "printed-table")["message"]
