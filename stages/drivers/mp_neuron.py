"""Driver for the M-P neuron stage: checks behaviour (AND), never the chosen numbers."""

import contextlib
import io
import runpy

import numpy as np


def _need(student, *names):
    for name in names:
        if getattr(student, name, None) is None:
            raise NotImplementedError(f"`{name}` is not set yet")


def _flat(value, dtype=None):
    """value as a flat numeric array; anything numpy cannot read as numbers comes back as it was.

    The grader then names what the student's value was (None, a tuple, a list of arrays...)
    instead of this driver's conversion failing or turning None into NaN.
    """
    if value is None or isinstance(value, (str, bytes, dict)):
        return value
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        return value
    return arr.reshape(-1) if arr.dtype.kind in "biufb" else value


def truth_table(student):
    """The module's own y for the four standard inputs, as integers 0/1."""
    _need(student, "y")
    return _flat(student.y)


def step(student, z):
    """The activation f on arbitrary inputs."""
    value = _flat(student.f(z), float)
    return value.reshape(np.shape(z)) if isinstance(value, np.ndarray) and value.size == np.size(z) else value


def neuron(student, rows):
    """f(rows . w + b) with the student's own f, w and b, on other input rows."""
    _need(student, "w", "b")
    return _flat(student.f(np.dot(rows, student.w) + student.b), float)


def printed(student):
    """What the file prints when run (once y is set: an unstarted file prints nothing)."""
    _need(student, "y")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        runpy.run_path(student.__file__, run_name="__main__")
    return buffer.getvalue()
