"""Comparing what came back with what was expected.

Each check returns ``None`` when the value passes, or a message saying what was expected,
what came back and by how much it missed (in the style of ``numpy.testing.assert_allclose``).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from grader.messages import t
from grader.spec import Tolerance


def show(x: Any) -> str:
    """A value as a student should see it: floats to the last digit, arrays summarised."""
    if isinstance(x, (np.generic, np.ndarray)) and np.ndim(x) == 0:
        x = np.asarray(x).item()
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, np.ndarray):
        if x.size > 24:  # a summary: printing big arrays is slow and nobody reads them
            head = ", ".join(show(v) for v in x.reshape(-1)[:4].tolist())
            stats = ""
            if x.dtype.kind in "biuf" and x.size:
                stats = f", min {show(x.min().item())}, max {show(x.max().item())}"
            return f"array of shape {x.shape}, {x.dtype}{stats}: [{head}, ...]"
        with np.printoptions(precision=8, linewidth=100):
            return np.array2string(x, separator=", ")
    if isinstance(x, (list, tuple)):
        inner = ", ".join(show(v) for v in x[:8]) + (", ..." if len(x) > 8 else "")
        text = f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
    elif isinstance(x, dict):
        text = "{" + ", ".join(f"{k!r}: {show(v)}" for k, v in list(x.items())[:8]) + "}"
    else:
        text = repr(x)
    return text if len(text) <= 300 else text[:297] + "..."


def _index(idx: tuple) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ("," if len(idx) == 1 else "") + ")"


def _numeric(value: Any, lang: str) -> tuple[Optional[np.ndarray], Optional[str]]:
    if value is None:
        return None, t(lang, "none")
    if isinstance(value, (str, bytes, dict)):
        return None, t(lang, "not_numeric", got=f"{type(value).__name__} {show(value)}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        return None, t(lang, "not_array", err=str(exc).split("\n")[0][:200])
    if arr.dtype.kind == "c":
        return None, t(lang, "complex")
    if arr.dtype.kind not in "biuf":
        return None, t(lang, "not_numeric", got=f"{type(value).__name__} {show(value)}")
    return arr, None


def allclose(got: Any, expected: Any, tol: Tolerance, lang: str, reveal: bool = True) -> Optional[str]:
    exp = np.asarray(expected, dtype=np.float64)
    arr, problem = _numeric(got, lang)
    if problem:
        return problem
    if arr.shape != exp.shape:
        if exp.ndim == 0 and arr.size == 1:
            arr = arr.reshape(())
        else:
            msg = t(lang, "shape", exp=exp.shape, got=arr.shape)
            if arr.ndim == 2 and arr.shape == exp.shape[::-1]:
                msg += t(lang, "transposed")
            return msg
    arr = arr.astype(np.float64)
    exp_finite = np.isfinite(exp)
    bad_finite = exp_finite & ~np.isfinite(arr)
    if bad_finite.any():
        idx = np.unravel_index(int(np.argmax(bad_finite)), arr.shape) if arr.ndim else ()
        what = "NaN" if np.isnan(arr[bad_finite]).any() else "inf"
        if not reveal:
            return t(lang, "nonfinite_hidden", what=what, n=int(bad_finite.sum()), total=arr.size, idx=_index(idx))
        return t(lang, "nonfinite", what=what, n=int(bad_finite.sum()), total=arr.size, idx=_index(idx),
                 exp=show(float(exp[idx])), got=show(float(arr[idx])))
    special_mismatch = ~exp_finite & ~((np.isnan(exp) & np.isnan(arr)) | (exp == arr))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(exp_finite, np.abs(arr - exp), 0.0)
        bound = tol.atol + tol.rtol * np.abs(np.where(exp_finite, exp, 0.0))
        bad = (diff > bound) | special_mismatch
    if not bad.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(bad, np.where(bound > 0, diff / bound, np.inf), -1.0)
        rel = np.where(exp != 0, diff / np.abs(exp), np.where(diff > 0, np.inf, 0.0))
    worst = np.unravel_index(int(np.argmax(excess)), arr.shape) if arr.ndim else ()
    if arr.size == 1:
        key = "scalar" if reveal else "scalar_hidden"
        return t(lang, key, exp=show(float(exp[worst])), got=show(float(arr[worst])), abs=float(diff[worst]),
                 rel=float(rel[worst]), rtol=tol.rtol, atol=tol.atol)
    if reveal:
        worst_line = t(lang, "worst", idx=_index(worst), exp=show(float(exp[worst])), got=show(float(arr[worst])))
    else:
        worst_line = t(lang, "worst_hidden", idx=_index(worst), got=show(float(arr[worst])))
    lines = [
        t(lang, "tol_header", rtol=tol.rtol, atol=tol.atol),
        t(lang, "mismatched", bad=int(bad.sum()), total=arr.size, pct=100.0 * bad.sum() / arr.size),
        worst_line,
        t(lang, "max_abs", v=float(diff.max())),
        t(lang, "max_rel", v=float(np.max(rel[exp_finite])) if exp_finite.any() else float("nan")),
    ]
    return "\n".join(lines)


def _family(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if isinstance(x, (int, np.integer)):
        return "int"
    if isinstance(x, (float, np.floating)):
        return "float"
    if isinstance(x, (list, tuple)):
        return "sequence"
    if isinstance(x, np.ndarray):
        return "array"
    return type(x).__name__


def exact(got: Any, expected: Any, lang: str, path: str = "result", reveal: bool = True) -> Optional[str]:
    """Equal values of the same family; lists and tuples are both sequences."""
    if got is None and expected is not None:
        return t(lang, "none")
    if isinstance(got, np.ndarray) and got.ndim == 0:
        got = got[()]
    if isinstance(expected, np.ndarray) or (isinstance(got, np.ndarray) and isinstance(expected, (list, tuple))):
        return _exact_array(got, np.asarray(expected), lang, path, reveal)
    fam_exp, fam_got = _family(expected), _family(got)
    if fam_exp == "sequence" and fam_got == "array":
        return _exact_array(got, np.asarray(expected), lang, path, reveal)
    if fam_exp != fam_got and not {fam_exp, fam_got} <= {"int", "float"}:
        return t(lang, "exact_type", path=path, exp=type(expected).__name__, got=f"{type(got).__name__} {show(got)}")
    if fam_exp == "sequence":
        if len(got) != len(expected):
            return t(lang, "exact_len", path=path, exp=len(expected), got=len(got))
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = exact(g, e, lang, f"{path}[{i}]", reveal)
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if set(got) != set(expected):
            return t(lang, "exact_keys", path=path, exp=sorted(expected), got=sorted(got))
        for k in expected:
            problem = exact(got[k], expected[k], lang, f"{path}[{k!r}]", reveal)
            if problem:
                return problem
        return None
    if got != expected and not (fam_exp == "float" and np.isnan(expected) and np.isnan(got)):
        if not reveal:
            return t(lang, "exact_diff_hidden", path=path, got=show(got))
        return t(lang, "exact_diff", path=path, exp=show(expected), got=show(got))
    return None


def _exact_array(got: Any, exp: np.ndarray, lang: str, path: str, reveal: bool = True) -> Optional[str]:
    arr, problem = _numeric(got, lang) if exp.dtype.kind in "biuf" else (np.asarray(got), None)
    if problem:
        return problem
    if arr.shape != exp.shape:
        return t(lang, "shape", exp=exp.shape, got=arr.shape)
    if exp.dtype.kind == "b" and arr.dtype.kind != "b":
        return t(lang, "exact_type", path=path, exp="bool array", got=f"{arr.dtype} array")
    bad = arr != exp
    if not np.any(bad):
        return None
    idx = np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()
    if not reveal:
        return t(lang, "array_diff_hidden", path=path, bad=int(np.sum(bad)), total=arr.size, idx=_index(idx),
                 got=show(arr[idx]))
    return t(lang, "array_diff", path=path, bad=int(np.sum(bad)), total=arr.size, idx=_index(idx),
             exp=show(exp[idx]), got=show(arr[idx]))


def _lines(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in str(text).strip().splitlines()]
    return [line for line in lines if line]


def text(got: Any, expected: Any, lang: str, reveal: bool = True) -> Optional[str]:
    if not isinstance(got, str):
        return t(lang, "exact_type", path="output", exp="str", got=type(got).__name__)
    g, e = _lines(got), _lines(expected)
    for n, (gl, el) in enumerate(zip(g, e), start=1):
        if gl != el:
            return t(lang, "text_line", n=n, exp=el, got=gl) if reveal else t(lang, "text_line_hidden", n=n, got=gl)
    if len(g) != len(e):
        return t(lang, "text_lines", exp=len(e), got=len(g))
    return None


def run_check(name: str, got: Any, expected: Any, tol: Tolerance, lang: str,
              custom: Optional[Callable] = None, inputs: Optional[dict] = None, reveal: bool = True) -> Optional[str]:
    """Run a named check; `reveal=False` (hidden cases) keeps expected values out of the message."""
    if name == "allclose":
        return allclose(got, expected, tol, lang, reveal)
    if name == "exact":
        return exact(got, expected, lang, reveal=reveal)
    if name == "text":
        return text(got, expected, lang, reveal)
    if custom is None:
        raise KeyError(name)
    return custom(got, expected, inputs or {})


def matches(got: Any, wrong: Any, check: str, tol: Tolerance) -> bool:
    """Whether a failing value equals a known wrong answer."""
    if wrong is None:
        return False
    try:
        if check == "allclose":
            return allclose(got, wrong, tol, "en") is None
        return exact(got, wrong, "en") is None
    except Exception:
        return False
