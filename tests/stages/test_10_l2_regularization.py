"""Stage 10, L2 regularisation (PyTorch): right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import L2, needs_torch


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
    needs_torch()
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
    needs_torch()
    wrong = variant(L2, "lr=learning_rate, weight_decay=0.002)", "lr=learning_rate)")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"optimizer-adam"}
    assert "without weight decay" in case(stage, "optimizer-adam")["hint"]
    assert case(stage, "optimizer-adam")["details"]["mistake"] == "no-weight-decay"


def test_l2_sgd_loses_the_optimizer_case(sub):
    needs_torch()
    wrong = variant(L2, "optim.Adam(network.parameters(), lr=learning_rate, weight_decay=0.002)",
                    "optim.SGD(network.parameters(), lr=learning_rate, weight_decay=0.002)")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"optimizer-adam"}
    assert "This is SGD" in case(stage, "optimizer-adam")["hint"]


def test_l2_missing_zero_grad_loses_the_training_case(sub):
    needs_torch()
    wrong = variant(L2, "        optimizer.zero_grad()\n", "")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    # gradients pile up from the second batch on; the loss still falls, so only the epoch is wrong
    assert failed(stage) == {"train-epoch"}
    assert "clear them" in case(stage, "train-epoch")["hint"]
    assert "piled up" in case(stage, "train-epoch")["hint"]


def test_l2_penalty_without_squares_and_with_biases(sub):
    needs_torch()
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
    needs_torch()
    wrong = variant(L2, "return F.log_softmax(x, dim=1)", "return x")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"net-forward", "net-forward-hidden"}
    assert "raw scores" in case(stage, "net-forward")["hint"]


SELF_INITIALISED = '''
import math
import torch
from torch import nn
import torch.nn.functional as F


class Dense(nn.Linear):
    """A Linear of the student's own, initialising itself: the grader's weights replace it all the same."""

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = Dense(784, 700)
        self.fc2, self.fc3, self.fc4, self.fc5, self.fc6 = (nn.Linear(700, 700) for _ in range(5))
        self.fc7 = nn.Linear(700, 10)
        for layer in (self.fc2, self.fc3, self.fc4, self.fc5, self.fc6, self.fc7):
            nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')
            with torch.no_grad():
                layer.bias.fill_(0.01)
        self.scale = math.sqrt(2.0)  # an attribute of its own, unused

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for layer in (self.fc1, self.fc2, self.fc3, self.fc4, self.fc5, self.fc6):
            x = F.relu(layer(x))
        return F.log_softmax(self.fc7(x), dim=-1)
'''


def test_l2_a_net_that_initialises_itself_keeps_the_forward_cases(sub):
    needs_torch()
    text = variant(L2, "class Net(nn.Module):", "class _BookNet(nn.Module):")
    stage = grade_stage(sub({L2: text + SELF_INITIALISED}), "l2-regularization")
    assert failed(stage) == set(), stage


def test_l2_one_missing_relu_loses_the_forward_cases(sub):
    needs_torch()
    wrong = variant(L2, "x = F.relu(self.fc6(x))", "x = self.fc6(x)")
    stage = grade_stage(sub({L2: wrong}), "l2-regularization")
    assert failed(stage) == {"net-forward", "net-forward-hidden"}
    c = case(stage, "net-forward")
    assert c["status"] == "failed" and "ReLU after every hidden layer" in c["hint"]
