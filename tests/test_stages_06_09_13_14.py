"""Stages 6-9, 13, 14: right-but-different submissions keep every point, wrong ones lose
exactly the cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

import pytest

from conftest import TEMPLATE, case, failed, grade_stage, variant

SD, NET, IDX, DIG = "steepest_descent.py", "tinynet.py", "mnist_idx.py", "digits_network.py"

ALL_SD = {"grad-seed-start", "grad-random", "exact-step-seed-start", "exact-step-random",
          "path-seed-start", "path-random"}
PATHS = {"path-seed-start", "path-random"}
ALL_FWD = {"forward-batch-2-one-hot", "forward-one-hot", "forward-integer-labels", "forward-batch-1"}
ALL_BWD = {"backward-batch-2-one-hot", "backward-one-hot", "backward-integer-labels"}
PLAIN_SGD = {"sgd-batch-2", "sgd-random"}
DECAY = {"sgd-weight-decay-batch-2", "sgd-weight-decay", "sgd-weight-decay-keyword"}
ALL_SGD = PLAIN_SGD | DECAY | {"arguments-unchanged"}
ALL_IDX = {"labels-small", "labels-random", "images-small", "images-random", "images-mnist-size"}
ALL_DIG = {"labels-small", "labels-random", "labels-mnist-size", "layers-small", "layers-random"}
STAGES = {"steepest-descent": ALL_SD, "tinynet-forward": ALL_FWD, "tinynet-backward": ALL_BWD,
          "tinynet-sgd": ALL_SGD, "mnist-idx": ALL_IDX, "digits-forward": ALL_DIG}


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def _hints(stage: dict, names) -> list[str]:
    return [case(stage, n)["hint"] or "" for n in sorted(names)]


BEGIN, END = "# ********** Begin **********", "# ********** End **********"


def _blank_blocks(text: str) -> tuple[str, list[str]]:
    """The text with every Begin/End block's body cut out, and the bodies."""
    out, bodies, body = [], [], None
    for line in text.split("\n"):
        if line.strip() == END:
            bodies.append("\n".join(body))
            body = None
        if body is not None:
            body.append(line)
            continue
        out.append(line)
        if line.strip() == BEGIN:
            body = []
    assert body is None, "unclosed Begin block"
    return "\n".join(out), bodies


@pytest.mark.parametrize("name", [SD, NET, IDX, DIG])
def test_template_is_the_reference_with_blocks_left_open(name):
    ref_text = (TEMPLATE.parent / "reference" / name).read_text(encoding="utf-8")
    tpl_text = (TEMPLATE / name).read_text(encoding="utf-8")
    ref_rest, ref_bodies = _blank_blocks(ref_text)
    tpl_rest, tpl_bodies = _blank_blocks(tpl_text)
    assert ref_rest == tpl_rest
    assert len(ref_bodies) == len(tpl_bodies) >= 1
    for body in tpl_bodies:
        assert body.strip().startswith('raise NotImplementedError("') and body.count("\n") == 0


def test_reference_full_marks_and_template_zero(sub):
    ref = sub({})
    tpl = sub({}, base=TEMPLATE)
    for slug, names in STAGES.items():
        good = grade_stage(ref, slug)
        assert good["status"] == "passed" and good["score"] == good["max_score"] > 0, good
        assert {c["name"] for c in good["cases"]} == names
        bad = grade_stage(tpl, slug)
        assert bad["score"] == 0, bad
        assert failed(bad) == names
        assert all("not implemented yet" in c["message"] for c in bad["cases"]), bad


# --- 6. steepest descent ------------------------------------------------------------------

SYMPY_STEEPEST = '''\
import numpy as np
from sympy import *
import math

# 定义符号,变量名 (the seed's sympy solution, ported to the stage's interface)
x1, x2, t = symbols('x1, x2, t')


def func(x):
    return 2 * x[0] ** 2 + x[1] ** 2


def grad(data):
    f = 2 * pow(x1, 2) + pow(x2, 2)
    grad_vec = [diff(f, x1), diff(f, x2)]
    grad = []
    for item in grad_vec:
        grad.append(item.subs(x1, data[0]).subs(x2, data[1]))
    return grad


def grad_len(grad):
    return math.sqrt(pow(grad[0], 2) + pow(grad[1], 2))


def exact_step(x, p):
    X = np.array(x) + t * np.array(p)
    t_func = func(X)
    return solve(diff(t_func, t))      # a list of solutions, like the seed's zhudian


def steepest_descent(x0, theta):
    X0 = x0
    path = [X0]
    grad_vec = grad(X0)
    while grad_len(grad_vec) > theta:
        p = -np.array(grad_vec)
        t_min = exact_step(X0, p)
        X0 = np.array(X0) + t_min * p
        path.append(X0)
        grad_vec = grad(X0)
    print('iterations:', len(path) - 1)
    return path
'''


def test_steepest_sympy_solution_as_in_the_seed_keeps_full_marks(sub):
    stage = grade_stage(sub({SD: SYMPY_STEEPEST}), "steepest-descent")
    assert failed(stage) == set(), stage
    assert stage["score"] == stage["max_score"]


def test_steepest_plain_python_lists_keep_full_marks(sub):
    lists = variant(SD, "    return np.array([4.0 * x[0], 2.0 * x[1]])",
                    "    return [4 * x[0], 2 * x[1]]")
    lists = _replace(lists, "        x = x + t * p\n", "        x = [x[0] + t * p[0], x[1] + t * p[1]]\n")
    lists = _replace(lists, "        p = -g ", "        p = [-g[0], -g[1]] ")
    stage = grade_stage(sub({SD: lists}), "steepest-descent")
    assert failed(stage) == set(), stage


def test_steepest_fixed_step_loses_the_paths_with_hint(sub):
    fixed = variant(SD, "        t = exact_step(x, p)    # exact line search", "        t = 0.1")
    stage = grade_stage(sub({SD: fixed}), "steepest-descent")
    assert failed(stage) == PATHS
    assert all("fixed step size" in h for h in _hints(stage, PATHS))
    assert stage["score"] == stage["max_score"] - 8


def test_steepest_path_without_start_point_loses_the_paths_with_hint(sub):
    no_start = variant(SD, "    path = [x]\n", "    path = []\n")
    stage = grade_stage(sub({SD: no_start}), "steepest-descent")
    assert failed(stage) == PATHS
    assert all("leaves out the start point" in h for h in _hints(stage, PATHS))
    assert "shape" in case(stage, "path-seed-start")["message"]


def test_steepest_wrong_gradient_is_named(sub):
    wrong = variant(SD, "np.array([4.0 * x[0], 2.0 * x[1]])", "np.array([2.0 * x[0], 2.0 * x[1]])")
    stage = grade_stage(sub({SD: wrong}), "steepest-descent")
    # exact_step uses grad, and so does the path
    assert failed(stage) == ALL_SD
    assert "loses the coefficient" in case(stage, "grad-random")["hint"]


def test_steepest_hard_coded_seed_path_fails_hidden_paths(sub):
    table = variant(SD, "    x = np.asarray(x0, dtype=float)\n    path = [x]",
                    "    return [[1.0, 1.0], [-1/9, 4/9], [2/27, 2/27], [-2/243, 8/243]]\n"
                    "    x = np.asarray(x0, dtype=float)\n    path = [x]")
    stage = grade_stage(sub({SD: table}), "steepest-descent")
    assert failed(stage) == {"path-random"}


# --- 7-9. TinyNet -------------------------------------------------------------------------

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


def test_tinynet_comprehension_in_reference_keeps_full_marks(sub):
    start = "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n"
    text = variant(NET, start, (
        "    params = (W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)\n"
        "    grads = (dW_conv1, db_conv1, dW_conv2, db_conv2, dW_fc, db_fc)\n"
        "    new = [p - learning_rate * (g + weight_decay * p * (i % 2 == 0))"
        " for i, (p, g) in enumerate(zip(params, grads))]\n"
        "    return tuple(new)\n" + start))
    assert failed(grade_stage(sub({NET: text}), "tinynet-sgd")) == set()


def test_tinynet_padding_zero_fails_everything_with_hint(sub):
    wrong = variant(NET, "stride=1, pad=1)", "stride=1, pad=0)", count=2)
    s = sub({NET: wrong})
    fwd = grade_stage(s, "tinynet-forward")
    assert failed(fwd) == ALL_FWD
    assert all("padding that keeps the size" in h for h in _hints(fwd, ALL_FWD))
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
    assert all("halve" in h and "MaxPool" in h for h in _hints(fwd, ALL_FWD))
    assert "got 108" in case(fwd, "forward-one-hot")["message"]
    bwd = grade_stage(s, "tinynet-backward")
    assert failed(bwd) == ALL_BWD
    assert "halve" in case(bwd, "backward-one-hot")["hint"]


def test_tinynet_outputs_swapped_is_named(sub):
    wrong = variant(NET, "        return x, loss\n", "        return loss, x\n")
    fwd = grade_stage(sub({NET: wrong}), "tinynet-forward")
    assert failed(fwd) == ALL_FWD
    assert "scores first" in case(fwd, "forward-batch-1")["hint"]


def test_tinynet_backward_skipping_relu_loses_only_gradient_cases(sub):
    wrong = variant(NET, "        dx = self.relu2.backward(dx)\n", "")
    s = sub({NET: wrong})
    assert failed(grade_stage(s, "tinynet-forward")) == set()
    bwd = grade_stage(s, "tinynet-backward")
    assert failed(bwd) == ALL_BWD
    assert all("skips a Relu layer" in h for h in _hints(bwd, ALL_BWD))
    assert failed(grade_stage(s, "tinynet-sgd")) == ALL_SGD - {"arguments-unchanged"}


def test_tinynet_backward_skipping_a_pool_names_the_layer_order(sub):
    wrong = variant(NET, "        dx = self.pool1.backward(dx)\n", "")
    bwd = grade_stage(sub({NET: wrong}), "tinynet-backward")
    assert failed(bwd) == ALL_BWD
    assert "Relu.backward expects dout of shape" in case(bwd, "backward-one-hot")["message"]
    assert "skipped a layer or called them out of order" in case(bwd, "backward-one-hot")["hint"]


def test_tinynet_in_place_update_loses_only_the_unchanged_case(sub):
    wrong = variant(NET, "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n"
                         "    new_b_conv1 = b_conv1 - learning_rate * db_conv1\n",
                    "    W_conv1 -= learning_rate * (dW_conv1 + weight_decay * W_conv1)\n"
                    "    new_W_conv1 = W_conv1\n"
                    "    b_conv1 -= learning_rate * db_conv1\n"
                    "    new_b_conv1 = b_conv1\n")
    sgd = grade_stage(sub({NET: wrong}), "tinynet-sgd")
    assert failed(sgd) == {"arguments-unchanged"}
    unchanged = case(sgd, "arguments-unchanged")
    assert "expected 'none', got 'W_conv1, b_conv1'" in unchanged["message"]
    assert "in place" in unchanged["hint"]
    assert sgd["score"] == sgd["max_score"] - unchanged["max_score"]


def test_tinynet_decayed_biases_lose_only_the_decay_cases(sub):
    wrong = variant(NET, "    new_b_conv1 = b_conv1 - learning_rate * db_conv1\n",
                    "    new_b_conv1 = b_conv1 - learning_rate * (db_conv1 + weight_decay * b_conv1)\n")
    sgd = grade_stage(sub({NET: wrong}), "tinynet-sgd")
    assert failed(sgd) == DECAY
    assert all("biases are decayed" in h for h in _hints(sgd, DECAY))


def test_tinynet_seed_nine_argument_train_one_iter_loses_only_the_decay_cases(sub):
    # the seed's update, without the weight_decay parameter
    seed = variant(NET, "x, t, learning_rate, weight_decay=0.0):", "x, t, learning_rate):")
    seed = _replace(seed, "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n",
                        "    new_W_conv1 = W_conv1 - dW_conv1 * learning_rate\n")
    seed = _replace(seed, "    new_W_conv2 = W_conv2 - learning_rate * (dW_conv2 + weight_decay * W_conv2)\n",
                        "    new_W_conv2 = W_conv2 - dW_conv2 * learning_rate\n")
    seed = _replace(seed, "    new_W_fc = W_fc - learning_rate * (dW_fc + weight_decay * W_fc)\n",
                        "    new_W_fc = W_fc - dW_fc * learning_rate\n")
    signature, _, code = seed.split("def train_one_iter")[1].split('"""')
    assert "weight_decay" not in signature + code
    sgd = grade_stage(sub({NET: seed}), "tinynet-sgd")
    assert failed(sgd) == DECAY
    assert all("template's signature" in h for h in _hints(sgd, DECAY))
    assert "10 were given" in case(sgd, "sgd-weight-decay")["message"]


def test_tinynet_ignored_weight_decay_is_named(sub):
    wrong = variant(NET, "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n",
                    "    new_W_conv1 = W_conv1 - learning_rate * dW_conv1\n")
    sgd = grade_stage(sub({NET: wrong}), "tinynet-sgd")
    assert failed(sgd) == DECAY
    assert "ignores weight_decay" in case(sgd, "sgd-weight-decay")["hint"]


# --- 13. MNIST idx files --------------------------------------------------------------------

FROMBUFFER_IDX = '''\
import struct
import numpy as np


def train_images_ana(filepath):
    with open(filepath, 'rb') as fh:
        data = fh.read()
    _, n, rows, cols = struct.unpack('>4I', data[:16])
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def train_labels_ana(filepath):
    with open(filepath, 'rb') as fh:
        magic, n = struct.unpack('>II', fh.read(8))
        return np.array(list(fh.read(n)))
'''


def test_idx_frombuffer_reader_keeps_full_marks(sub):
    stage = grade_stage(sub({IDX: FROMBUFFER_IDX}), "mnist-idx")
    assert failed(stage) == set(), stage


def test_idx_little_endian_headers_fail_with_hint(sub):
    wrong = _replace(variant(IDX, "'>iiii'", "'<iiii'", count=2), "'>ii'", "'<ii'", count=2)
    stage = grade_stage(sub({IDX: wrong}), "mnist-idx")
    assert failed(stage) == ALL_IDX
    assert all("big-endian" in h and "byte-order character" in h for h in _hints(stage, ALL_IDX))


def test_idx_native_byte_order_fails_with_the_same_hint(sub):
    wrong = variant(IDX, "struct.unpack_from('>ii', bin_data, offset)", "struct.unpack_from('ii', bin_data, offset)")
    stage = grade_stage(sub({IDX: wrong}), "mnist-idx")
    assert failed(stage) == {"labels-small", "labels-random"}
    assert "big-endian" in case(stage, "labels-random")["hint"]


def test_idx_normalised_pixels_fail(sub):
    wrong = variant(IDX, "img = np.reshape(imgs, (image_num, rows_num * column_num))",
                    "img = np.reshape(imgs, (image_num, rows_num * column_num)) / 255.0")
    stage = grade_stage(sub({IDX: wrong}), "mnist-idx")
    assert failed(stage) == {"images-small", "images-random", "images-mnist-size"}


# --- 14. digit network forward pass ------------------------------------------------------------


def test_digits_row_major_variant_keeps_full_marks(sub):
    text = variant(DIG, "        self.z2 = np.dot(self.W1, self.a1) + self.b1\n",
                   "        self.z2 = (X @ self.W1.T + self.b1.T).T\n")
    text = _replace(text, "        self.a2 = relu(self.z2)\n", "        self.a2 = np.where(self.z2 > 0, self.z2, 0.0)\n")
    text = _replace(text, "        p = np.argmax(out, axis=0)", "        p = out.T.argmax(axis=1)")
    stage = grade_stage(sub({DIG: text}), "digits-forward")
    assert failed(stage) == set(), stage


def test_digits_sigmoid_instead_of_relu_fails_with_hint(sub):
    wrong = variant(DIG, "        self.a2 = relu(self.z2)\n", "        self.a2 = sigmoid(self.z2)\n")
    wrong = _replace(wrong, "        self.a3 = relu(self.z3)\n", "        self.a3 = sigmoid(self.z3)\n")
    stage = grade_stage(sub({DIG: wrong}), "digits-forward")
    assert failed(stage) == ALL_DIG
    assert all("sigmoid" in h and "ReLU" in h for h in _hints(stage, ALL_DIG))
    hidden_only = variant(DIG, "        self.a2 = relu(self.z2)\n", "        self.a2 = sigmoid(self.z2)\n")
    stage = grade_stage(sub({DIG: hidden_only}), "digits-forward")
    assert failed(stage) == ALL_DIG
    assert all("sigmoid" in h and "ReLU" in h for h in _hints(stage, ALL_DIG))


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


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seeds_keep_reference_full_marks(sub, seed):
    ref = sub({})
    for slug in STAGES:
        stage = grade_stage(ref, slug, seed=seed)
        assert failed(stage) == set(), stage
