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
