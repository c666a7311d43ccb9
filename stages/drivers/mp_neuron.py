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


# --- checks (run in the grader, on the student's normalised value) ------------------------------

_WORDS = {
    "en": {"kind": "f(z) must return an array of 0s and 1s with the shape of z; got {got}",
           "fractions": "f(z) returned values other than 0 and 1 at {bad} of {n} points: a step outputs exactly 0 or 1",
           "differ": "f(z) differs from the step at {bad} of {n} points (1 where z > 0, 0 where z < 0; at exactly 0, 0 and 1 are both accepted)",
           "lines": "printed {got} line(s), expected {exp}",
           "line": "line {n} of what was printed: expected {exp!r}, got {got!r}"},
    "zh": {"kind": "f(z) 应返回与 z 形状相同、由 0 和 1 组成的数组;实际得到 {got}",
           "fractions": "f(z) 在 {n} 个点中的 {bad} 个返回了 0 和 1 以外的值:阶跃函数的输出恰好是 0 或 1",
           "differ": "f(z) 在 {n} 个点中的 {bad} 个与阶跃函数不同(z > 0 处为 1,z < 0 处为 0;恰好为 0 处取 0 或 1 都可以)",
           "lines": "打印了 {got} 行,应为 {exp} 行",
           "line": "打印内容的第 {n} 行:应为 {exp!r},实际为 {got!r}"},
}


def _say(lang, key, **params):
    return (_WORDS.get(lang) or _WORDS["en"])[key].format(**params)


def step_agrees(got, expected, inputs, lang="en"):
    """f(z) is the step where z != 0; at exactly 0 either value is accepted (the lecture's sgn fires there)."""
    exp = np.asarray(expected, dtype=float)
    if not isinstance(got, np.ndarray) or got.dtype.kind not in "biuf" or got.shape != exp.shape:
        what = f"an array of shape {got.shape}" if isinstance(got, np.ndarray) and got.dtype.kind in "biuf" \
            else type(got).__name__
        return _say(lang, "kind", got=what)
    got = got.astype(float)
    fractions = ~np.isin(got, (0.0, 1.0))
    if fractions.any():
        return _say(lang, "fractions", bad=int(fractions.sum()), n=got.size)
    z = np.asarray(inputs["z"], dtype=float).reshape(got.shape)
    bad = (got != exp) & (z != 0)
    return _say(lang, "differ", bad=int(bad.sum()), n=got.size) if bad.any() else None


def _token(word):
    """A printed word as a number where it is one (0, 0.0, 1, 1.0, True, False), else as it is."""
    if word in ("True", "False"):
        return float(word == "True")
    try:
        return float(word)
    except ValueError:
        return word


def same_table(got, expected, inputs, lang="en"):
    """The printed rows, word by word, numbers compared as numbers (1 and 1.0 alike), blanks ignored."""
    if not isinstance(got, str):
        return _say(lang, "kind", got=type(got).__name__)
    rows = [[line.split() for line in str(text).splitlines() if line.split()] for text in (got, expected)]
    for n, (g, e) in enumerate(zip(*rows), start=1):
        if [_token(w) for w in g] != [_token(w) for w in e]:
            return _say(lang, "line", n=n, exp=" ".join(e), got=" ".join(g))
    if len(rows[0]) != len(rows[1]):
        return _say(lang, "lines", got=len(rows[0]), exp=len(rows[1]))
    return None
