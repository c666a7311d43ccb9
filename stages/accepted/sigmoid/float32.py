import numpy as np


class ActivationFunction(object):
    def sigmoid(self, x):
        """
        Sigmoid 函数
        :param x: 函数的输入,numpy 数组(任意形状)
        :return: y, 函数的计算结果,形状与 x 相同
        """
        ########## Begin ##########
        x32 = np.asarray(x, dtype=np.float32)
        y = (1 / (1 + np.exp(-x32))).astype(np.float32)
        ########## End ##########
        return y

    def tanh(self, x):
        """
        Tanh 函数
        :param x: 函数的输入,numpy 数组(任意形状)
        :return: y, 函数的计算结果,形状与 x 相同
        """
        ########## Begin ##########
        y = np.tanh(x)
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
