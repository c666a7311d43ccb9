import numpy as np


class ActivationFunction(object):
    def sigmoid(self, x):
        """
        Sigmoid 函数
        :param x: 函数的输入,numpy 数组(任意形状)
        :return: y, 函数的计算结果,形状与 x 相同
        """
        ########## Begin ##########
        y = 1. / (1 + np.exp(-x))
        ########## End ##########
        return y

    def tanh(self, x):
        """
        Tanh 函数
        :param x: 函数的输入,numpy 数组(任意形状)
        :return: y, 函数的计算结果,形状与 x 相同
        """
        ########## Begin ##########
        y = 2 / (1 + np.exp(-2 * x)) - 1  # 2*sigmoid(2x) - 1
        ########## End ##########
        return y

    def ReLU(self, x):
        """
        ReLU 函数
        :param x: 函数的输入,numpy 数组(任意形状)
        :return: y, 函数的计算结果,形状与 x 相同
        """
        ########## Begin ##########
        y = np.where(x > 0, x, 0.0)
        ########## End ##########
        return y
