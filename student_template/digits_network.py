"""手写数字识别之搭建向前传播过程: forward pass of a two-layer network.

Network(inputnodes, hidnodes, outputnodes, learning_rate) holds
W1 (hid, in), b1 (hid, 1), W2 (out, hid), b2 (out, 1).  predict(X) takes
X of shape (N, in), one sample per row, and computes (samples as columns)

    a1 = X.T
    z2 = W1 . a1 + b1,   a2 = relu(z2)
    z3 = W2 . a2 + b2,   a3 = relu(z3)

storing a1, z2, a2, z3, a3 on the object, and returns the predicted label of
every sample: the index of the largest output, argmax over axis 0, shape (N,).
"""
import numpy as np


# 交叉熵损失函数
def cross_entropy(y, y_predict):
    y_predict = np.clip(y_predict, 1e-10, 1 - 1e-10)  # 防止0*log(0)出现
    return -(y * np.log(y_predict) + (1 - y) * np.log(1 - y_predict))


# 交叉熵损失函数的导函数
def cross_entropy_der(y, y_predict):
    return -y / y_predict + (1 - y) / (1 - y_predict)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


def sig_derivative(x):  # sig函数求导
    fx = sigmoid(x)
    return fx * (1 - fx)


def relu_derivative(x):
    return (x >= 0).astype(np.float64)


class Network:
    def __init__(self, inputnodes, hidnodes, outputnodes, learning_rate):
        self.innodes = inputnodes
        self.hidnodes = hidnodes
        self.outnodes = outputnodes
        self.lr = learning_rate
        # 各层权重 偏置
        self.W1 = np.random.randn(self.hidnodes, self.innodes) * 0.01
        self.W2 = np.random.randn(self.outnodes, self.hidnodes) * 0.01
        self.b1 = np.random.randn(self.hidnodes, 1) * 0.01
        self.b2 = np.random.randn(self.outnodes, 1) * 0.01

    def predict(self, X):
        # 任务:补充代码,完成搭建向前传播过程
        # ********** Begin **********
        raise NotImplementedError("Network.predict is not implemented yet: write the forward pass between Begin and End")
        # ********** End **********

    def backward(self, dAL):
        m = 60000
        dZ3 = np.multiply(dAL, relu_derivative(self.z3))
        dW2 = np.dot(dZ3, self.a2.T) / m
        db2 = np.mean(dZ3, axis=1, keepdims=True)
        dAL_1 = np.dot(self.W2.T, dZ3)
        dZ2 = np.multiply(dAL_1, relu_derivative(self.z2))
        dW1 = np.dot(dZ2, self.a1.T) / m
        db1 = np.mean(dZ2, axis=1, keepdims=True)
        # 梯度下降
        self.W2 -= self.lr * dW2
        self.b2 -= self.lr * db2
        self.W1 -= self.lr * dW1
        self.b1 -= self.lr * db1
