"""Driver for stage 6 (steepest descent).

The calls convert whatever the student returns (numpy arrays, lists, sympy
numbers as in the seed's sympy solution) to float arrays, so the comparison
sees plain numbers and a path of the wrong length shows up as a shape
mismatch: the path is returned as an array of shape (k, 2).

The helpers at the bottom compute known wrong answers for `mistakes`; they
run in the reference's process only.
"""
import re

import numpy as np


def _floats(value, what):
    """np.asarray(value, dtype=float) with a message a student can act on."""
    if value is None:
        raise TypeError(f"{what} returned None; did you forget `return`?")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{what} must return numbers, got {value!r:.200} ({exc})") from None


def grad_at(grad, x):
    """The student's gradient at x as a float array (expected shape (2,))."""
    return _floats(grad(x), "grad(x)")


def exact_step_at(exact_step, x, p):
    """The student's exact step as a float.

    sympy's solve() returns a list of solutions; a one-element list (the
    seed's `zhudian`) is accepted as that element.
    """
    t = _floats(exact_step(x, p), "exact_step(x, p)")
    if t.shape == (1,):
        t = t[0]
    return float(t) if t.ndim == 0 else t


def path(steepest_descent, x0, theta):
    """The student's iterates as an array of shape (k, 2), x0 first."""
    iterates = steepest_descent(x0, theta)
    if iterates is None:
        raise TypeError("steepest_descent(x0, theta) returned None; it must return "
                        "the list of iterates [x0, x1, ..., xk]")
    rows = [_floats(xk, f"iterate {k} of steepest_descent").reshape(-1)
            for k, xk in enumerate(iterates)]
    if any(r.shape != (2,) for r in rows):
        bad = next(k for k, r in enumerate(rows) if r.shape != (2,))
        raise ValueError(f"iterate {bad} of steepest_descent has {rows[bad].size} "
                         "numbers; every iterate must be a point (x1, x2)")
    return np.array(rows, dtype=float).reshape(len(rows), 2)


# --- the seed's original form: grad, zhudian(f) and main(X0, theta) printing its path --------

def original_form(student):
    """The seed's form (main printing its path, zhudian), not the book's: no steepest_descent."""
    names = vars(student)
    return callable(names.get("main")) and "steepest_descent" not in names


def _own(student, name, fallback):
    """The student's function `name`, else the book's `fallback` (the reference answers the case with it)."""
    names = vars(student)
    if callable(names.get(name)):
        return names[name], False
    if callable(names.get(fallback)):
        return names[fallback], True
    raise NameError(f"name '{name}' is not defined")


def stationary_points(student, x, p, name="zhudian"):
    """zhudian(f) on f(t) = func(x + t*p), a sympy quadratic in t: its stationary points, sorted floats.

    The symbol is the file's own `t` when it defines one (the seed's `symbols('x1, x2, t')`).
    The coefficients are exact rationals, each the exact value of its float: the same quadratic,
    which solve() handles over the rationals, where with sympy Floats it would first turn every
    Float into a rational with nsimplify's integer-relation search (two thirds of the cost of
    these cases in a student's run, measured). The book's form (the reference) answers with
    exact_step(x, p).
    """
    fn, book = _own(student, name, "exact_step")
    if book:
        return np.array([exact_step_at(fn, x, p)])
    import sympy

    t = vars(student).get("t")
    t = t if isinstance(t, sympy.Symbol) else sympy.Symbol("t")
    (a, b), (c, d) = [(sympy.Rational(float(v)), sympy.Rational(float(w))) for v, w in zip(x, p)]
    points = fn(2 * (a + t * b) ** 2 + (c + t * d) ** 2)
    if isinstance(points, dict):
        points = list(points.values())
    if not isinstance(points, (list, tuple, set)):
        points = [points]
    return np.sort(_floats(list(points), f"{name}(f)").reshape(-1))


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?(?![\w.])")
_LABEL = "坐标"


def coordinates(text):
    """The points of the `坐标 x1 x2` lines of `text`: whitespace, brackets, commas and sympy's
    numbers (Floats, Rationals such as 2/27) are read; a line without exactly two numbers is an error."""
    points = []
    for line in text.splitlines():
        if _LABEL not in line:
            continue
        found = _NUMBER.findall(line.split(_LABEL, 1)[1])
        if len(found) != 2:
            raise ValueError(f"the line {line.strip()[:80]!r} has {len(found)} numbers; "
                             f"main must print '{_LABEL} x1 x2' (the point's two coordinates) after each step")
        points.append([_number(v) for v in found])
    return points


def _number(token):
    top, _, bottom = token.partition("/")
    return float(top) / float(bottom) if bottom else float(top)


def printed_path(student, x0, theta, name="main"):
    """The path main(X0, theta) prints (x0, then each `坐标` line), as an array (k, 2); its output
    is printed again for the report. The book's form (the reference) answers with steepest_descent."""
    fn, book = _own(student, name, "steepest_descent")
    if book:
        return path(fn, x0, theta)
    import contextlib
    import io
    import sys

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            fn([float(v) for v in x0], float(theta))
    finally:
        sys.stdout.write(out.getvalue())
    points = coordinates(out.getvalue())
    start = np.asarray(x0, dtype=float)
    if points and np.allclose(points[0], start, rtol=0, atol=1e-12):
        points = points[1:]  # the start point printed too: it is not a step
    return np.array([start] + points, dtype=float).reshape(-1, 2)


# --- known mistakes (reference side) ---------------------------------------

def _gradient(x):
    return np.array([4.0 * x[0], 2.0 * x[1]])


def fixed_step_path(x0, theta, step, max_iter=100000):
    """Gradient descent with a constant step size instead of a line search."""
    x = np.asarray(x0, dtype=float)
    rows = [x]
    g = _gradient(x)
    while np.hypot(*g) > theta and len(rows) <= max_iter:
        x = x - step * g
        rows.append(x)
        g = _gradient(x)
    return np.array(rows)

