"""Driver for stage 6 (steepest descent).

The calls convert whatever the student returns (numpy arrays, lists, sympy
numbers as in the seed's sympy solution) to float arrays, so the comparison
sees plain numbers and a path of the wrong length shows up as a shape
mismatch: the path is returned as an array of shape (k, 2).

The helpers at the bottom compute known wrong answers for `mistakes`; they
run in the reference's process only.
"""
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

