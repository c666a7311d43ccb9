"""TinyNet: a small convolutional network built from the course's layers.

Input x: (B, 3, 8, 8); t: one-hot targets (B, 10) or integer labels (B,).

    layer  type            parameters                                 output
    1      Convolution     W_conv1 (6, 3, 3, 3), b_conv1 (6,), s 1, p 1  (B, 6, 8, 8)
    2      Relu                                                       (B, 6, 8, 8)
    3      MaxPool         2x2, stride 2, pad 0                       (B, 6, 4, 4)
    4      Convolution     W_conv2 (12, 6, 3, 3), b_conv2 (12,), s 1, p 1 (B, 12, 4, 4)
    5      Relu                                                       (B, 12, 4, 4)
    6      MaxPool         2x2, stride 2, pad 0                       (B, 12, 2, 2)
    7      FullyConnected  W_fc (48, 10), b_fc (10,)                  (B, 10)
    loss   SoftmaxWithLoss                                            scalar

(The original exercise's table says padding 0 and its text gives the second
pool stride 1; the feature-map sizes above need padding 1 and stride 2.)
"""
import numpy
from layers import Convolution, Relu, FullyConnected, MaxPool, SoftmaxWithLoss


class TinyNet:
    def __init__(self, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc):
        # 定义网络中的各个层 (define the layers)
        # ********** Begin **********
        raise NotImplementedError("TinyNet.__init__ is not implemented yet: define the layers between Begin and End")
        # ********** End **********

    def forward(self, x, t):
        """前向传播: return (scores of the fully connected layer, loss)."""
        # ********** Begin **********
        raise NotImplementedError("TinyNet.forward is not implemented yet: write it between Begin and End")
        # ********** End **********

    def backward(self):
        """反向传播: gradients of the loss, in the constructor's order."""
        # ********** Begin **********
        raise NotImplementedError("TinyNet.backward is not implemented yet: write it between Begin and End")
        # ********** End **********
        return self.conv1.dW, self.conv1.db, self.conv2.dW, self.conv2.db, self.fc.dW, self.fc.db


def train_one_iter(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t, learning_rate, weight_decay=0.0):
    """One step of (stochastic) gradient descent with L2 weight decay.

    W <- W - learning_rate * (dW + weight_decay * W) for the three weights,
    b <- b - learning_rate * db for the three biases (biases are not decayed).
    Returns the six new parameters in input order; the arguments are not
    modified.
    """
    network = TinyNet(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)
    out, loss = network.forward(x, t)
    dW_conv1, db_conv1, dW_conv2, db_conv2, dW_fc, db_fc = network.backward()
    # ********** Begin **********
    raise NotImplementedError("train_one_iter is not implemented yet: write the parameter update between Begin and End")
    # ********** End **********
    return new_W_conv1, new_b_conv1, new_W_conv2, new_b_conv2, new_W_fc, new_b_fc
