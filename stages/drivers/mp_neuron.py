"""Driver for the M-P neuron stage: checks behaviour (AND), never the chosen numbers."""

import contextlib
import io
import runpy

import numpy as np


def _need(student, *names):
    for name in names:
        if getattr(student, name, None) is None:
            raise NotImplementedError(f"`{name}` is not set yet")


def truth_table(student):
    """The module's own y for the four standard inputs, as integers 0/1."""
    _need(student, "y")
    return np.asarray(student.y).reshape(-1)


def step(student, z):
    """The activation f on arbitrary inputs."""
    return np.asarray(student.f(z), dtype=float)


def neuron(student, rows):
    """f(rows . w + b) with the student's own f, w and b, on other input rows."""
    _need(student, "w", "b")
    return np.asarray(student.f(np.dot(rows, student.w) + student.b), dtype=float).reshape(-1)


def printed(student):
    """What the file prints when run (once y is set: an unstarted file prints nothing)."""
    _need(student, "y")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        runpy.run_path(student.__file__, run_name="__main__")
    return buffer.getvalue()
