import numpy as np


# 激活函数
def f(x):
    ########## Begin ##########
    return np.heaviside(x, 1)  # floats 0.0/1.0, 1 at exactly 0
    ########## End ##########


# 输入设计
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])

# M-P 神经元设计
# 权重与阈值设计
########## Begin ##########
w = np.array([1, 1])
b = -1.5
########## End ##########

# M-P 神经元设计
########## Begin ##########
y = f(np.dot(x, w) + b)
########## End ##########

# 输出
for (xi, yi) in zip(x, y):
    print(xi[0], end=' ')
    print(xi[1], end=' ')
    print(yi)
