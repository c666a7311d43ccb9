"""Stage 6, steepest descent: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import SD, ALL_SD, PATHS, replace_once, hints_of


SYMPY_STEEPEST = '''\
import numpy as np
from sympy import *
import math

# 定义符号,变量名 (the seed's sympy solution, ported to the stage's interface)
x1, x2, t = symbols('x1, x2, t')


def func(x):
    return 2 * x[0] ** 2 + x[1] ** 2


def grad(data):
    f = 2 * pow(x1, 2) + pow(x2, 2)
    grad_vec = [diff(f, x1), diff(f, x2)]
    grad = []
    for item in grad_vec:
        grad.append(item.subs(x1, data[0]).subs(x2, data[1]))
    return grad


def grad_len(grad):
    return math.sqrt(pow(grad[0], 2) + pow(grad[1], 2))


def exact_step(x, p):
    X = np.array(x) + t * np.array(p)
    t_func = func(X)
    return solve(diff(t_func, t))      # a list of solutions, like the seed's zhudian


def steepest_descent(x0, theta):
    X0 = x0
    path = [X0]
    grad_vec = grad(X0)
    while grad_len(grad_vec) > theta:
        p = -np.array(grad_vec)
        t_min = exact_step(X0, p)
        X0 = np.array(X0) + t_min * p
        path.append(X0)
        grad_vec = grad(X0)
    print('iterations:', len(path) - 1)
    return path
'''


def test_steepest_sympy_solution_as_in_the_seed_keeps_full_marks(sub):
    stage = grade_stage(sub({SD: SYMPY_STEEPEST}), "steepest-descent")
    assert failed(stage) == set(), stage
    assert stage["score"] == stage["max_score"]


def test_steepest_plain_python_lists_keep_full_marks(sub):
    lists = variant(SD, "    return np.array([4.0 * x[0], 2.0 * x[1]])",
                    "    return [4 * x[0], 2 * x[1]]")
    lists = replace_once(lists, "        x = x + t * p\n", "        x = [x[0] + t * p[0], x[1] + t * p[1]]\n")
    lists = replace_once(lists, "        p = -g ", "        p = [-g[0], -g[1]] ")
    stage = grade_stage(sub({SD: lists}), "steepest-descent")
    assert failed(stage) == set(), stage


def test_steepest_fixed_step_loses_the_paths_with_hint(sub):
    fixed = variant(SD, "        t = exact_step(x, p)    # exact line search", "        t = 0.1")
    stage = grade_stage(sub({SD: fixed}), "steepest-descent")
    assert failed(stage) == PATHS
    assert all("fixed step size" in h for h in hints_of(stage, PATHS))
    assert stage["score"] == stage["max_score"] - 8


def test_steepest_path_without_start_point_loses_the_paths_with_hint(sub):
    no_start = variant(SD, "    path = [x]\n", "    path = []\n")
    stage = grade_stage(sub({SD: no_start}), "steepest-descent")
    assert failed(stage) == PATHS
    assert all("leaves out the start point" in h for h in hints_of(stage, PATHS))
    assert "shape" in case(stage, "path-seed-start")["message"]


def test_steepest_wrong_gradient_is_named(sub):
    wrong = variant(SD, "np.array([4.0 * x[0], 2.0 * x[1]])", "np.array([2.0 * x[0], 2.0 * x[1]])")
    stage = grade_stage(sub({SD: wrong}), "steepest-descent")
    # exact_step uses grad, and so does the path
    assert failed(stage) == ALL_SD
    assert "loses the coefficient" in case(stage, "grad-random")["hint"]


def test_steepest_hard_coded_seed_path_fails_hidden_paths(sub):
    table = variant(SD, "    x = np.asarray(x0, dtype=float)\n    path = [x]",
                    "    return [[1.0, 1.0], [-1/9, 4/9], [2/27, 2/27], [-2/243, 8/243]]\n"
                    "    x = np.asarray(x0, dtype=float)\n    path = [x]")
    stage = grade_stage(sub({SD: table}), "steepest-descent")
    assert failed(stage) == {"path-random"}


def test_steepest_seed_form_zhudian_by_its_coefficients_keeps_full_marks(sub):
    # the seed's original form, its zhudian reading the quadratic's coefficients instead of solve():
    # the grader's quadratic has exact rational coefficients, main hands it sympy Floats; both work
    from conftest import ROOT

    seed = (ROOT / "stages" / "accepted" / "steepest-descent" / "seed002.py").read_text(encoding="utf-8")
    old = "    t_diff = diff(f)\n    t_min = solve(t_diff)\n    return t_min\n"
    assert old in seed
    text = seed.replace(old, "    a, b, c = Poly(expand(f), t).all_coeffs()\n    return [-b / (2 * a)]\n")
    stage = grade_stage(sub({SD: text}), "steepest-descent")
    assert failed(stage) == set() and stage["score"] == stage["max_score"], stage
    assert {"zhudian-seed-start", "zhudian-random", "main-path-random"} <= {c["name"] for c in stage["cases"]}
