"""最速下降法 Steepest descent with exact line search.

Minimise f(x) = 2*x1^2 + x2^2 from a start point x0.  Each iteration moves
along the negative gradient p = -grad(x) by the step t >= 0 that minimises
f(x + t*p) (exact line search), and the method stops as soon as the gradient's
norm is <= theta.

The original exercise solves the line search with sympy; numpy alone is
enough here (and sympy is still allowed).  f is the quadratic x^T A x / 2 with
A = diag(4, 2), so d/dt f(x + t*p) = g.p + t * p.A.p = 0 gives

    t* = -(g . p) / (p . A . p),   g = grad(x).
"""
import math

import numpy as np


def func(x):
    # 自定义一个函数 (given): f(x) = 2*x1^2 + x2^2
    return 2 * x[0] ** 2 + x[1] ** 2


def grad_len(g):
    # 梯度向量的模长 (given): Euclidean norm of a gradient vector
    return math.sqrt(float(g[0]) ** 2 + float(g[1]) ** 2)


def grad(x):
    """求梯度向量: the gradient of func at x, as an array of 2 floats."""
    # ********** Begin **********
    x = np.asarray(x, dtype=float)
    return np.array([4.0 * x[0], 2.0 * x[1]])
    # ********** End **********


def exact_step(x, p):
    """求驻点: the step t >= 0 that minimises func(x + t*p) (a float)."""
    # ********** Begin **********
    x = np.asarray(x, dtype=float)
    p = np.asarray(p, dtype=float)
    g = grad(x)
    A = np.diag([4.0, 2.0])  # Hessian of func
    t = -np.dot(g, p) / np.dot(p, A @ p)
    return float(max(t, 0.0))
    # ********** End **********


def steepest_descent(x0, theta):
    """Iterate from x0 until |grad| <= theta.

    Returns the list of iterates [x0, x1, ..., xk] (x0 first), each an array
    of 2 floats; the last one is the first whose gradient norm is <= theta.
    """
    # ********** Begin **********
    x = np.asarray(x0, dtype=float)
    path = [x]
    g = grad(x)
    while grad_len(g) > theta:  # 迭代的终止条件
        p = -g                  # steepest descent direction
        t = exact_step(x, p)    # exact line search
        x = x + t * p
        path.append(x)
        g = grad(x)
    return path
    # ********** End **********


if __name__ == '__main__':
    # 给定初始迭代点和阈值
    for k, xk in enumerate(steepest_descent([1, 1], 0.1)):
        print(k, '坐标', xk[0], xk[1], 'grad_length', grad_len(grad(xk)))
