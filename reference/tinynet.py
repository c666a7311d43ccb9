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
        self.conv1 = Convolution(W_conv1, b_conv1, stride=1, pad=1)
        self.relu1 = Relu()
        self.pool1 = MaxPool(2, 2, stride=2, pad=0)
        self.conv2 = Convolution(W_conv2, b_conv2, stride=1, pad=1)
        self.relu2 = Relu()
        self.pool2 = MaxPool(2, 2, stride=2, pad=0)
        self.fc = FullyConnected(W_fc, b_fc)
        self.loss = SoftmaxWithLoss()
        # ********** End **********

    def forward(self, x, t):
        """前向传播: return (scores of the fully connected layer, loss)."""
        # ********** Begin **********
        x = self.conv1.forward(x)
        x = self.relu1.forward(x)
        x = self.pool1.forward(x)
        x = self.conv2.forward(x)
        x = self.relu2.forward(x)
        x = self.pool2.forward(x)
        x = self.fc.forward(x)
        loss = self.loss.forward(x, t)
        return x, loss
        # ********** End **********

    def backward(self):
        """反向传播: gradients of the loss, in the constructor's order."""
        # ********** Begin **********
        dx = self.loss.backward()
        dx = self.fc.backward(dx)
        dx = self.pool2.backward(dx)
        dx = self.relu2.backward(dx)
        dx = self.conv2.backward(dx)
        dx = self.pool1.backward(dx)
        dx = self.relu1.backward(dx)
        dx = self.conv1.backward(dx)
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
    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)
    new_b_conv1 = b_conv1 - learning_rate * db_conv1
    new_W_conv2 = W_conv2 - learning_rate * (dW_conv2 + weight_decay * W_conv2)
    new_b_conv2 = b_conv2 - learning_rate * db_conv2
    new_W_fc = W_fc - learning_rate * (dW_fc + weight_decay * W_fc)
    new_b_fc = b_fc - learning_rate * db_fc
    # ********** End **********
    return new_W_conv1, new_b_conv1, new_W_conv2, new_b_conv2, new_W_fc, new_b_fc
