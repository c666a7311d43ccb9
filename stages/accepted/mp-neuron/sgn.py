import numpy as np


# 激活函数
def f(x):
    ########## Begin ##########
    return np.where(x >= 0, 1, 0)  # the lecture's sgn
    ########## End ##########


# 输入设计
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])

# M-P 神经元设计
# 权重与阈值设计
########## Begin ##########
w = np.array([0.5, 0.5])
b = -0.75
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
