"""Stages 10-12: right-but-different submissions keep every point, wrong ones lose exactly
the cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

import pytest

from conftest import TEMPLATE, case, failed, grade_stage, variant

L2 = "l2_regularization.py"
ES = "early_stopping.py"
DS = "data_split.py"

ALL_10 = {"net-architecture", "net-forward", "net-forward-hidden", "optimizer-adam", "l2-penalty-value",
          "l2-penalty-hidden", "l2-penalty-weights-only", "l2-penalty-differentiable", "train-epoch",
          "train-returns-losses", "train-loss-falls"}
ALL_11 = {"min-mode-fixed", "max-mode-fixed", "ties-fixed", "min-mode-random", "max-mode-random", "dict-metrics",
          "defaults", "state-dict-round-trip", "reset", "module-early-stop"}
ALL_12 = {"seed-example", "partition", "train-size", "caller-unchanged", "seed-agreement", "default-ratio",
          "item-types"}


def _torch():
    pytest.importorskip("torch")


def test_reference_full_marks_and_template_zero(sub):
    ref = sub({})
    tpl = sub({}, base=TEMPLATE)
    stages = [("early-stopping", ALL_11), ("data-split", ALL_12)]
    try:
        import torch  # noqa: F401
        stages.insert(0, ("l2-regularization", ALL_10))
    except ImportError:
        pass
    for slug, names in stages:
        good = grade_stage(ref, slug)
        assert good["status"] == "passed" and good["score"] == good["max_score"] > 0, good
        assert {c["name"] for c in good["cases"]} == names
        bad = grade_stage(tpl, slug)
        assert bad["score"] == 0 and failed(bad) == names, bad
        for c in bad["cases"]:
            # every blank says so; early_stop = None in the template is reported by the driver
            assert "not implemented yet" in c["message"] or "early_stop is not defined" in c["message"], c


def test_templates_keep_everything_outside_the_blanks():
    """The template files are the reference with only the Begin/End blanks replaced."""
    for name in (L2, ES, DS):
        ref = (TEMPLATE.parent / "reference" / name).read_text(encoding="utf-8")
        tpl = (TEMPLATE / name).read_text(encoding="utf-8")
        assert ref.count("Begin **********") == tpl.count("Begin **********") > 0
        outside = [line for line in ref.splitlines() if line in tpl.splitlines()]
        assert len(outside) > 10
    es = (TEMPLATE / ES).read_text(encoding="utf-8")
    assert "\nearly_stop = None\n" in es and "raise NotImplementedError" in es


# --- 10. L2 regularisation ----------------------------------------------------------------

RIGHT_MODULELIST = '''
import torch
from torch import nn, optim
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        sizes = [784] + [700] * 6 + [10]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        x = torch.flatten(x, 1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return torch.log_softmax(self.layers[-1](x), 1)


def make_optimizer(network):
    return optim.Adam(params=network.parameters(), weight_decay=2e-3, lr=1e-2)


def l2_penalty(model, lam):
    return lam * sum(torch.sum(p * p) for p in model.parameters() if p.dim() == 2)


def train(network, optimizer, loader):
    out = []
    for data, target in loader:
        network.zero_grad()
        loss = F.nll_loss(network(data), target, reduction='sum') / len(data)
        loss.backward()
        optimizer.step()
        out.append(float(loss))
    return out
'''


def test_l2_right_but_different_keep_full_marks(sub):
    _torch()
    # a ModuleList net, keyword arguments, a p.dim() filter, a summed loss divided by the batch size
    assert failed(grade_stage(sub({L2: RIGHT_MODULELIST}), "l2-regularization")) == set()
    # the layers named explicitly, log(softmax), torch.norm ** 2, cross_entropy on log-probabilities
    explicit = variant(L2, "return F.log_softmax(x, dim=1)", "return torch.log(F.softmax(x, dim=1))")
    explicit = explicit.replace(
        "    penalty = 0\n    for name, param in model.named_parameters():\n        if name.endswith('weight'):\n"
        "            penalty = penalty + (param ** 2).sum()\n    return lam * penalty",
        "    layers = [model.fc1, model.fc2, model.fc3, model.fc4, model.fc5, model.fc6, model.fc7]\n"
        "    return lam * sum(torch.norm(layer.weight) ** 2 for layer in layers)")
    explicit = explicit.replace("optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=False)")
    explicit = explicit.replace("F.nll_loss(output, target)", "F.cross_entropy(output, target)")
    assert "model.fc1" in explicit and "cross_entropy" in explicit
    assert failed(grade_stage(sub({L2: explicit}), "l2-regularization")) == set()


def test_l2_no_weight_decay_loses_the_optimizer_case(sub):
    _torch()
    wrong = variant(L2, "lr=learning_rate, weight_decay=0.002)", "lr=learning_rate)")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"optimizer-adam"}
    assert "without weight decay" in case(stage, "optimizer-adam")["hint"]
    assert case(stage, "optimizer-adam")["details"]["mistake"] == "no-weight-decay"


def test_l2_sgd_loses_the_optimizer_case(sub):
    _torch()
    wrong = variant(L2, "optim.Adam(network.parameters(), lr=learning_rate, weight_decay=0.002)",
                    "optim.SGD(network.parameters(), lr=learning_rate, weight_decay=0.002)")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"optimizer-adam"}
    assert "This is SGD" in case(stage, "optimizer-adam")["hint"]


def test_l2_missing_zero_grad_loses_the_training_case(sub):
    _torch()
    wrong = variant(L2, "        optimizer.zero_grad()\n", "")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    # gradients pile up from the second batch on; the loss still falls, so only the epoch is wrong
    assert failed(stage) == {"train-epoch", "train-returns-losses"}
    assert "piled up" in case(stage, "train-returns-losses")["hint"]
    assert "optimizer.zero_grad()" in case(stage, "train-epoch")["hint"]
    assert "piled up" in case(stage, "train-epoch")["hint"]


def test_l2_penalty_without_squares_and_with_biases(sub):
    _torch()
    sqrt = variant(L2, "return lam * penalty", "return lam * torch.sqrt(penalty)")
    stage = grade_stage(sub({L2: sqrt}), "l2-regularization")
    assert failed(stage) == {"l2-penalty-value", "l2-penalty-hidden"}
    assert "square root" in case(stage, "l2-penalty-value")["hint"]
    assert "square root" in case(stage, "l2-penalty-hidden")["hint"]
    # every parameter, as a Python float: the biases count and autograd cannot follow
    numpy_style = variant(L2, "        if name.endswith('weight'):\n            penalty = penalty + (param ** 2).sum()\n"
                          "    return lam * penalty",
                          "        penalty = penalty + float((param ** 2).sum())\n    return lam * penalty")
    stage = grade_stage(sub({L2: numpy_style}), "l2-regularization")
    assert failed(stage) == {"l2-penalty-weights-only", "l2-penalty-differentiable"}
    assert "biases" in case(stage, "l2-penalty-weights-only")["hint"]
    assert ".item()" in case(stage, "l2-penalty-differentiable")["hint"]


def test_l2_forward_without_log_softmax(sub):
    _torch()
    wrong = variant(L2, "return F.log_softmax(x, dim=1)", "return x")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"net-forward", "net-forward-hidden"}
    assert "raw scores" in case(stage, "net-forward")["hint"]


# --- 11. early stopping ---------------------------------------------------------------------

RIGHT_EARLY_STOPPING = '''
import operator


class EarlyStopping:
    def __init__(self, monitor='val_loss', mode='min', patience=1):
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best = None
        self.bad_epochs = 0

    def _better(self, value):
        if self.best is None:
            return True
        return (operator.le if self.mode == 'min' else operator.ge)(value, self.best)

    def state_dict(self):
        return dict(monitor=self.monitor, mode=self.mode, patience=self.patience,
                    best=self.best, bad_epochs=self.bad_epochs)

    def load_state_dict(self, state):
        for key, value in state.items():
            setattr(self, key, value)

    def reset(self):
        self.bad_epochs = 0

    def __call__(self, metrics):
        value = metrics[self.monitor] if isinstance(metrics, dict) else metrics
        if self._better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


early_stop = EarlyStopping('val_loss', 'max', 3)
'''


def test_early_stopping_right_but_different_keeps_full_marks(sub):
    # other attribute names and state_dict keys, operator.le/ge, positional constructor arguments
    assert failed(grade_stage(sub({ES: RIGHT_EARLY_STOPPING}), "early-stopping")) == set()


def test_early_stopping_strict_improvement_loses_the_tie_cases(sub):
    wrong = variant(ES, "metrics <= self.__value", "metrics < self.__value").replace(
        "metrics >= self.__value", "metrics > self.__value")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    # the fixed, dict, round-trip, reset and module sequences hold no ties; the random ones do
    assert failed(stage) == {"ties-fixed", "min-mode-random", "max-mode-random"}
    assert "ties count" in case(stage, "ties-fixed")["hint"]


def test_early_stopping_late_stop_loses_every_decision(sub):
    wrong = variant(ES, "if self.__times >= self.patience:", "if self.__times > self.patience:")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    # module-early-stop compares early_stop with the submission's own class: only its configuration counts
    assert failed(stage) == ALL_11 - {"module-early-stop"}
    assert "counter is >= patience" in case(stage, "min-mode-fixed")["hint"]


def test_early_stopping_seed_reset_loses_only_reset(sub):
    # the seed's own submission: reset() sets the counter to 1
    wrong = variant(ES, "kept).\"\"\"\n        # ********** Begin **********\n        self.__times = 0",
                    "kept).\"\"\"\n        # ********** Begin **********\n        self.__times = 1")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    assert failed(stage) == {"reset"}
    assert "not 1" in case(stage, "reset")["hint"]


def test_early_stopping_module_object_in_the_wrong_mode(sub):
    wrong = variant(ES, "\nearly_stop = EarlyStopping(mode='max', patience=3)",
                    "\nearly_stop = EarlyStopping(mode='min', patience=3)")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    assert failed(stage) == {"module-early-stop"}
    assert "mode='max', patience=3" in case(stage, "module-early-stop")["hint"]


def test_early_stopping_state_dict_without_the_counter(sub):
    wrong = variant(ES, "        self.__times = state_dict['times']\n", "")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    assert failed(stage) == {"state-dict-round-trip"}


# --- 12. data split ---------------------------------------------------------------------------

SHUFFLE_SPLIT = '''
import math
import random


def train_test_split(dataset, train=0.6):
    data = list(dataset)
    random.shuffle(data)
    k = math.ceil(train * len(data))
    return data[:k], data[k:]
'''

SLICE_COPY = '''
import random


def train_test_split(dataset, train=0.6):
    rest = dataset[:]
    basket = []
    while len(basket) < train * len(dataset):
        basket.append(rest.pop(random.randrange(len(rest))))
    return basket, rest
'''


def test_data_split_right_but_different_keeps_full_marks(sub):
    assert failed(grade_stage(sub({DS: SLICE_COPY}), "data-split")) == set()


def test_data_split_shuffle_keeps_the_partition_points(sub):
    stage = grade_stage(sub({DS: SHUFFLE_SPLIT}), "data-split")
    assert failed(stage) == {"seed-example", "seed-agreement"}
    for name in ("seed-example", "seed-agreement"):
        assert "valid partition but not the seed's draw order" in case(stage, name)["message"]
        assert "randrange(len(dataset_copy))" in case(stage, name)["hint"]


def test_data_split_emptying_the_callers_list(sub):
    wrong = variant(DS, "dataset_copy = list(dataset)", "dataset_copy = dataset")
    stage = grade_stage(sub({DS: wrong}), "data-split")
    assert failed(stage) == {"caller-unchanged"}
    assert "copy" in case(stage, "caller-unchanged")["hint"]


def test_data_split_int_instead_of_ceil(sub):
    wrong = variant(DS, "train_size = train * len(dataset)", "train_size = int(train * len(dataset))")
    stage = grade_stage(sub({DS: wrong}), "data-split")
    # the seed's example (0.8 * 10) and the default-ratio sizes (0.6 * multiples of 5) are whole numbers
    assert failed(stage) == {"train-size", "seed-agreement"}
    assert "ceil" in case(stage, "train-size")["hint"] and "int()" in case(stage, "train-size")["hint"]
    assert "ceil(train * n)" in case(stage, "seed-agreement")["message"]


def test_data_split_wrong_default_and_numpy_items(sub):
    wrong = variant(DS, "def train_test_split(dataset, train=0.6):", "def train_test_split(dataset, train=0.8):")
    stage = grade_stage(sub({DS: wrong}), "data-split")
    assert failed(stage) == {"default-ratio"}
    assert "0.6" in case(stage, "default-ratio")["hint"]
    numpy = variant(DS, "dataset_copy = list(dataset)", "import numpy as np\n    dataset_copy = list(np.array(dataset))")
    stage = grade_stage(sub({DS: numpy}), "data-split")
    # rows come back as arrays, and a mixed dataset cannot become an array at all
    assert failed(stage) == {"partition", "item-types"}
    assert "numpy" in case(stage, "item-types")["hint"]


def test_data_split_hard_coded_example_fails_hidden_cases(sub):
    hard = '''
def train_test_split(dataset, train=0.6):
    return [[8], [7], [9], [3], [6], [1], [5], [2]], [[4], [10]]
'''
    stage = grade_stage(sub({DS: hard}), "data-split")
    # the visible example passes; every case on other data fails
    assert failed(stage) == ALL_12 - {"seed-example", "caller-unchanged"}
