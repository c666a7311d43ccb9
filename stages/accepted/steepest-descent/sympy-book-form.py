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
import sympy as sp


def func(x):
    # 自定义一个函数 (given): f(x) = 2*x1^2 + x2^2
    return 2 * x[0] ** 2 + x[1] ** 2


def grad_len(g):
    # 梯度向量的模长 (given): Euclidean norm of a gradient vector
    return math.sqrt(float(g[0]) ** 2 + float(g[1]) ** 2)


def grad(x):
    """求梯度向量: the gradient of func at x, as an array of 2 floats."""
    # ********** Begin **********
    x1, x2 = sp.symbols('x1 x2')
    f = 2 * x1 ** 2 + x2 ** 2
    point = {x1: sp.nsimplify(float(x[0])), x2: sp.nsimplify(float(x[1]))}
    return [sp.diff(f, x1).subs(point), sp.diff(f, x2).subs(point)]  # sympy numbers
    # ********** End **********


def exact_step(x, p):
    """求驻点: the step t >= 0 that minimises func(x + t*p) (a float)."""
    # ********** Begin **********
    t = sp.symbols('t')
    phi = func([float(x[0]) + t * float(p[0]), float(x[1]) + t * float(p[1])])
    roots = sp.solve(sp.diff(phi, t), t)  # 驻点 of the line search
    return max([r for r in roots if r >= 0] or [0])
    # ********** End **********


def steepest_descent(x0, theta):
    """Iterate from x0 until |grad| <= theta.

    Returns the list of iterates [x0, x1, ..., xk] (x0 first), each an array
    of 2 floats; the last one is the first whose gradient norm is <= theta.
    """
    # ********** Begin **********
    x = [float(x0[0]), float(x0[1])]
    path = [np.array(x)]
    g = grad(x)
    while grad_len(g) > theta:  # 迭代的终止条件
        p = [-g[0], -g[1]]
        t = exact_step(x, p)
        x = [float(x[0] + t * p[0]), float(x[1] + t * p[1])]
        path.append(np.array(x))
        g = grad(x)
    return path
    # ********** End **********


if __name__ == '__main__':
    # 给定初始迭代点和阈值
    for k, xk in enumerate(steepest_descent([1, 1], 0.1)):
        print(k, '坐标', xk[0], xk[1], 'grad_length', grad_len(grad(xk)))
