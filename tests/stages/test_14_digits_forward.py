"""Stage 14, the digit network's forward pass: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import DIG, ALL_DIG, replace_once, hints_of


def test_digits_row_major_variant_keeps_full_marks(sub):
    text = variant(DIG, "        self.z2 = np.dot(self.W1, self.a1) + self.b1\n",
                   "        self.z2 = (X @ self.W1.T + self.b1.T).T\n")
    text = replace_once(text, "        self.a2 = relu(self.z2)\n", "        self.a2 = np.where(self.z2 > 0, self.z2, 0.0)\n")
    text = replace_once(text, "        p = np.argmax(out, axis=0)", "        p = out.T.argmax(axis=1)")
    stage = grade_stage(sub({DIG: text}), "digits-forward")
    assert failed(stage) == set(), stage


def test_digits_sigmoid_instead_of_relu_fails_with_hint(sub):
    wrong = variant(DIG, "        self.a2 = relu(self.z2)\n", "        self.a2 = sigmoid(self.z2)\n")
    wrong = replace_once(wrong, "        self.a3 = relu(self.z3)\n", "        self.a3 = sigmoid(self.z3)\n")
    stage = grade_stage(sub({DIG: wrong}), "digits-forward")
    assert failed(stage) == ALL_DIG
    assert all("sigmoid" in h and "ReLU" in h for h in hints_of(stage, ALL_DIG))
    hidden_only = variant(DIG, "        self.a2 = relu(self.z2)\n", "        self.a2 = sigmoid(self.z2)\n")
    stage = grade_stage(sub({DIG: hidden_only}), "digits-forward")
    assert failed(stage) == ALL_DIG
    assert all("sigmoid" in h and "ReLU" in h for h in hints_of(stage, ALL_DIG))


def test_digits_attributes_not_stored_lose_only_the_layer_cases(sub):
    text = variant(DIG, "        self.a3 = relu(self.z3)\n        out = self.a3\n",
                   "        out = relu(self.z3)\n")
    stage = grade_stage(sub({DIG: text}), "digits-forward")
    assert failed(stage) == {"layers-small", "layers-random"}
    assert "self.a3" in case(stage, "layers-small")["message"]


def test_digits_argmax_wrong_axis_is_named(sub):
    wrong = variant(DIG, "p = np.argmax(out, axis=0)", "p = np.argmax(out, axis=1)")
    stage = grade_stage(sub({DIG: wrong}), "digits-forward")
    assert failed(stage) == {"labels-small", "labels-random", "labels-mnist-size"}
    assert "each column" in case(stage, "labels-random")["hint"]
