"""正则化优化神经网络 L2 regularisation of a PyTorch MLP for MNIST.

The original exercise trains a 784-700-700-700-700-700-700-10 network (ReLU
hidden layers, log_softmax output) on MNIST with Adam and an L2 penalty given
as the optimizer's ``weight_decay``:

    optim.Adam(network.parameters(), lr=0.01, weight_decay=0.002)

With weight decay, Adam minimises  loss + (weight_decay / 2) * sum(p ** 2):
the optimizer adds ``weight_decay * p`` to every gradient.  ``l2_penalty``
writes the penalty out explicitly instead (weights only, biases excluded), so
that it can be added to a loss by hand.

This file only defines things: it downloads no data and trains nothing when it
is imported.  To train on MNIST yourself (needs torchvision and a download)::

    train_loader = DataLoader(torchvision.datasets.MNIST(
        './data/', train=True, download=True,
        transform=torchvision.transforms.Compose([
            torchvision.transforms.ToTensor(),
            torchvision.transforms.Normalize((0.1307,), (0.3081,))])),
        batch_size=64, shuffle=True)
    network = Net()
    optimizer = make_optimizer(network)
    losses = train(network, optimizer, train_loader)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

batch_size_train = 64
learning_rate = 0.01


class Net(nn.Module):
    """784-700x6-10 MLP: six hidden layers of 700 ReLU units, log_softmax output."""

    def __init__(self):
        super(Net, self).__init__()
        # ********** Begin **********
        raise NotImplementedError("Net.__init__: define the layers fc1 ... fc7 (write your code between Begin and End)")
        # ********** End **********

    def forward(self, x):
        """x: (B, 1, 28, 28) images -> (B, 10) log-probabilities."""
        # ********** Begin **********
        raise NotImplementedError("Net.forward: compute the log-probabilities (write your code between Begin and End)")
        # ********** End **********


def make_optimizer(network):
    """Adam over the network's parameters, lr 0.01, L2 regularisation (weight_decay) 0.002."""
    # ********** Begin **********
    raise NotImplementedError("make_optimizer: create the Adam optimizer with L2 weight decay (write your code between Begin and End)")
    # ********** End **********


def l2_penalty(model, lam):
    """lam * (sum of the squares of every entry of the weight matrices), biases excluded.

    Returns a 0-d tensor that autograd can differentiate (no .item(), no numpy).
    """
    # ********** Begin **********
    raise NotImplementedError("l2_penalty: sum the squared weights (write your code between Begin and End)")
    # ********** End **********


def train(network, optimizer, loader):
    """Train for one epoch over loader; return the per-batch losses as floats.

    The grader checks train by the parameters it leaves (whether it returns the losses or not,
    like the course page's train(epoch), which returns nothing).
    """
    network.train()
    losses = []
    for batch_idx, (data, target) in enumerate(loader):
        # ********** Begin **********
        raise NotImplementedError("train: one training step on a batch (write your code between Begin and End)")
        # ********** End **********
        losses.append(loss.item())
    return losses
