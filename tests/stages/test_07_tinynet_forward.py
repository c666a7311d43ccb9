"""Stage 7, the TinyNet forward pass (and a mistake that shows in 8 and 9 too): right-but-different
submissions keep every point, wrong ones lose exactly the cases they deserve to lose, with a hint
that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import NET, ALL_FWD, ALL_BWD, ALL_SGD, hints_of


LOOP_NET = '''\
import numpy as np
from layers import Convolution, Relu, FullyConnected, MaxPool, SoftmaxWithLoss


class TinyNet:
    def __init__(self, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc):
        self.layers = [
            Convolution(W_conv1, b_conv1, pad=1), Relu(), MaxPool(2, 2, 2),
            Convolution(W_conv2, b_conv2, 1, 1), Relu(), MaxPool(pool_h=2, pool_w=2, stride=2),
            FullyConnected(W_fc, b_fc),
        ]
        self.last = SoftmaxWithLoss()

    def forward(self, x, t):
        for layer in self.layers:
            x = layer.forward(x)
        return x, self.last.forward(x, t)

    def backward(self):
        d = self.last.backward(1)
        for layer in reversed(self.layers):
            d = layer.backward(d)
        grads = []
        for layer in (self.layers[0], self.layers[3], self.layers[6]):
            grads += [layer.dW, layer.db]
        return tuple(grads)


def train_one_iter(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t, learning_rate, weight_decay=0.0):
    params = [W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc]
    net = TinyNet(*params)
    net.forward(x, t)
    grads = net.backward()
    return [p - learning_rate * (g + (weight_decay * p if p.ndim > 1 else 0))
            for p, g in zip(params, grads)]
'''


def test_tinynet_loop_and_comprehension_keep_full_marks(sub):
    s = sub({NET: LOOP_NET})
    for slug in ("tinynet-forward", "tinynet-backward", "tinynet-sgd"):
        stage = grade_stage(s, slug)
        assert failed(stage) == set(), stage


def test_tinynet_padding_zero_fails_everything_with_hint(sub):
    wrong = variant(NET, "stride=1, pad=1)", "stride=1, pad=0)", count=2)
    s = sub({NET: wrong})
    fwd = grade_stage(s, "tinynet-forward")
    assert failed(fwd) == ALL_FWD
    assert all("padding that keeps the size" in h for h in hints_of(fwd, ALL_FWD))
    assert "MaxPool window 2x2" in case(fwd, "forward-batch-2-one-hot")["message"]
    assert failed(grade_stage(s, "tinynet-backward")) == ALL_BWD
    sgd = grade_stage(s, "tinynet-sgd")
    assert failed(sgd) == ALL_SGD
    assert "padding that keeps the size" in case(sgd, "sgd-weight-decay")["hint"]


def test_tinynet_first_padding_zero_gets_the_padding_hint(sub):
    wrong = variant(NET, "stride=1, pad=1)", "stride=1, pad=0)", count=1)
    fwd = grade_stage(sub({NET: wrong}), "tinynet-forward")
    assert failed(fwd) == ALL_FWD
    assert "expects 48 input features per sample, got 12" in case(fwd, "forward-one-hot")["message"]
    assert "padding that keeps the size" in case(fwd, "forward-one-hot")["hint"]


def test_tinynet_second_pool_stride_one_fails_with_hint(sub):
    wrong = variant(NET, "self.pool2 = MaxPool(2, 2, stride=2, pad=0)", "self.pool2 = MaxPool(2, 2, stride=1, pad=0)")
    s = sub({NET: wrong})
    fwd = grade_stage(s, "tinynet-forward")
    assert failed(fwd) == ALL_FWD
    assert all("halve" in h and "MaxPool" in h for h in hints_of(fwd, ALL_FWD))
    assert "got 108" in case(fwd, "forward-one-hot")["message"]
    bwd = grade_stage(s, "tinynet-backward")
    assert failed(bwd) == ALL_BWD
    assert "halve" in case(bwd, "backward-one-hot")["hint"]


def test_tinynet_outputs_swapped_is_named(sub):
    wrong = variant(NET, "        return x, loss\n", "        return loss, x\n")
    fwd = grade_stage(sub({NET: wrong}), "tinynet-forward")
    assert failed(fwd) == ALL_FWD
    assert "scores first" in case(fwd, "forward-batch-1")["hint"]
