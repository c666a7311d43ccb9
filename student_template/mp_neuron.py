import numpy as np


# 激活函数
def f(x):
    ########## Begin ##########
    raise NotImplementedError("write the step function f between Begin and End")
    ########## End ##########


# 输入设计
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])

# M-P 神经元设计
# 权重与阈值设计
########## Begin ##########
w = None  # 权重
b = None  # 阈值
########## End ##########

# M-P 神经元设计
########## Begin ##########
y = None  # y = f(x·w + b)
########## End ##########

# 输出
if y is not None:
    for (xi, yi) in zip(x, y):
        print(xi[0], end=' ')
        print(xi[1], end=' ')
        print(yi)
