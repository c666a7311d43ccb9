"""Driver for stage 14 (the digit network's forward pass).

The student's Network is constructed with the case's sizes, then its random
initial weights are replaced by the case's W1, b1, W2, b2 (set as attributes
after construction) and predict(X) is called.
"""
import numpy as np


def _network(Network, W1, b1, W2, b2):
    hid, n_in = W1.shape
    n_out = W2.shape[0]
    net = Network(n_in, hid, n_out, 0.1)
    net.W1, net.b1, net.W2, net.b2 = W1, b1, W2, b2
    return net


def labels(Network, W1, b1, W2, b2, X):
    """The labels predict(X) returns (argmax of a3 over axis 0)."""
    net = _network(Network, W1, b1, W2, b2)
    p = net.predict(X)
    if p is None:
        raise TypeError("predict(X) returned None; it must return the predicted labels")
    try:
        arr = np.asarray(p)
    except (ValueError, TypeError):  # e.g. a tuple (labels, scores): the grader names what it is
        return p
    return arr.astype(np.int64) if arr.dtype.kind in "iu" else p


def layers(Network, W1, b1, W2, b2, X):
    """(z2, a2, z3, a3) as stored on the object by predict(X)."""
    net = _network(Network, W1, b1, W2, b2)
    net.predict(X)
    out = []
    for name in ("z2", "a2", "z3", "a3"):
        if not hasattr(net, name):
            raise AttributeError(
                f"predict(X) must store {name} on the object (self.{name} = ...); "
                f"the grader reads self.z2, self.a2, self.z3 and self.a3 after the call")
        out.append(getattr(net, name))
    return tuple(out)


# --- known mistakes (reference side) ---------------------------------------

def sigmoid_a2(W1, b1, X):
    """a2 computed with a sigmoid instead of ReLU."""
    return 1.0 / (1.0 + np.exp(-(W1 @ X.T + b1)))


def sigmoid_labels(W1, b1, W2, b2, X, output_layer=True):
    """Labels of the network with a sigmoid instead of ReLU in the hidden
    layer, and in the output layer too when `output_layer`."""
    a2 = sigmoid_a2(W1, b1, X)
    z3 = W2 @ a2 + b2
    a3 = 1.0 / (1.0 + np.exp(-z3)) if output_layer else np.maximum(0, z3)
    return np.argmax(a3, axis=0).astype(np.int64)


def labels_wrong_axis(W1, b1, W2, b2, X):
    """argmax over axis 1 instead of 0: one 'label' per output unit."""
    a2 = np.maximum(0, W1 @ X.T + b1)
    a3 = np.maximum(0, W2 @ a2 + b2)
    return np.argmax(a3, axis=1).astype(np.int64)
