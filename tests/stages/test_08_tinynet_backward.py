"""Stage 8, the TinyNet backward pass: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import NET, ALL_BWD, ALL_SGD, hints_of


def test_tinynet_backward_skipping_relu_loses_only_gradient_cases(sub):
    wrong = variant(NET, "        dx = self.relu2.backward(dx)\n", "")
    s = sub({NET: wrong})
    assert failed(grade_stage(s, "tinynet-forward")) == set()
    bwd = grade_stage(s, "tinynet-backward")
    assert failed(bwd) == ALL_BWD
    assert all("skips a Relu layer" in h for h in hints_of(bwd, ALL_BWD))
    assert failed(grade_stage(s, "tinynet-sgd")) == ALL_SGD - {"arguments-unchanged"}


def test_tinynet_backward_skipping_a_pool_names_the_layer_order(sub):
    wrong = variant(NET, "        dx = self.pool1.backward(dx)\n", "")
    bwd = grade_stage(sub({NET: wrong}), "tinynet-backward")
    assert failed(bwd) == ALL_BWD
    assert "Relu.backward expects dout of shape" in case(bwd, "backward-one-hot")["message"]
    assert "skipped a layer or called them out of order" in case(bwd, "backward-one-hot")["hint"]
