"""Comparing what came back with what was expected.

Every check has one signature, ``check(got, expected, tol, inputs) -> Optional[Mismatch]``,
and one registration, ``@register_check(name, words={kind: words}, mistakes_by=name)``: that makes
the name valid in a spec (``validate``), gives ``describe`` the words of the mismatch kinds the
check reports, and says which check matches a known mistake's value (``matches``). A `Mismatch`
says what differs (kind, index, expected, got, errors, tolerance); ``describe`` alone turns it
into words, for a language and for a hidden case. For a hidden case the words hold nothing
arithmetic can invert: no expected value, no absolute or relative error, no worst element (a
student who returned 0 would read the answer off an error), only counts, shapes, indices and
the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator, Optional

import numpy as np

from grader.errors import SpecError
from grader.messages import t
from grader.course.spec import StageSpec, Tolerance


@dataclass
class Mismatch:
    kind: str                   # a key of WORDS (each check registers the kinds it reports)
    path: str = "result"
    index: Optional[tuple] = None
    expected: Any = None
    got: Any = None
    abs: Optional[float] = None   # the worst element's absolute error
    rel: Optional[float] = None
    tolerance: Optional[Tolerance] = None
    bad: int = 0                  # elements that differ
    total: int = 0
    shape: Optional[tuple] = None
    max_abs: Optional[float] = None
    max_rel: Optional[float] = None
    note: Any = None              # NaN/inf, transposed, an error text, a custom check's words
    first: Optional[tuple] = None  # the first element that differs (in reading order), when not the worst
    first_values: tuple = ()       # its (expected, got)


Compare = Callable[[Any, Any, Tolerance, dict], Optional[Mismatch]]
Words = Callable[[Mismatch, str, bool], str]  # (mismatch, lang, hidden) -> the sentence


@dataclass(frozen=True)
class Check:
    """One registered check: its comparison, the words of the mismatch kinds it reports, and the
    check that tells whether a failing value is a known mistake's (itself unless said otherwise)."""

    name: str
    compare: Compare
    words: dict[str, Words] = field(default_factory=dict)
    mistakes_by: Optional[str] = None

    def __call__(self, got: Any, expected: Any, tol: Tolerance, inputs: dict) -> Optional[Mismatch]:
        return self.compare(got, expected, tol, inputs)


CHECKS: dict[str, Check] = {}
WORDS: dict[str, Words] = {}  # mismatch kind -> its words, from every registration


def register_check(name: str, words: Optional[dict[str, Words]] = None,
             mistakes_by: Optional[str] = None) -> Callable[[Compare], Compare]:
    """Register `name` (a comparison, as a decorator): valid in specs, described, matched."""
    def add(fn: Compare) -> Compare:
        taken = [kind for kind in words or {} if kind in WORDS]
        if name in CHECKS or taken:
            raise ValueError(f"check {name!r}: already registered ({name if name in CHECKS else ', '.join(taken)})")
        CHECKS[name] = Check(name, fn, dict(words or {}), mistakes_by)
        WORDS.update(words or {})
        return fn
    return add


def validate(spec: StageSpec) -> None:
    """Every check a stage names is registered or the course's own (``driver.NAME``); SpecError
    with the file and the field otherwise."""
    for where, name in _checks_named(spec):
        if name not in CHECKS and not name.startswith("driver."):
            known = ", ".join(sorted(CHECKS))
            raise SpecError(f"{spec.path or spec.slug}: {where}: expected one of {known} or driver.NAME, got {name!r}")


def _checks_named(spec: StageSpec) -> Iterator[tuple[str, str]]:
    for i, case in enumerate(spec.cases):
        yield f"cases[{i}].check", case.check
        for j, output in enumerate(case.outputs):
            if output.check:
                yield f"cases[{i}].outputs[{j}].check", output.check


def show(x: Any) -> str:
    """A value as a student should see it: floats to the last digit, arrays summarised."""
    if isinstance(x, (np.generic, np.ndarray)) and np.ndim(x) == 0:
        x = np.asarray(x).item()
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, np.ndarray):
        return _show_array(x)
    if isinstance(x, (list, tuple)):
        inner = ", ".join(show(v) for v in x[:8]) + (", ..." if len(x) > 8 else "")
        text = f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
    elif isinstance(x, dict):
        text = "{" + ", ".join(f"{k!r}: {show(v)}" for k, v in list(x.items())[:8]) + "}"
    else:
        text = repr(x)
    return text if len(text) <= 300 else text[:297] + "..."


def _show_array(x: np.ndarray) -> str:
    if x.dtype.kind in "biuf" and x.nbytes <= _SHOWN_BYTES:  # plain numbers: their bytes say it all
        return _array_text(x.tobytes(), x.dtype.str, x.shape)
    return _array_words(x)


_SHOWN_BYTES = 16384  # the arrays whose words are kept (1024 of them at most: 16 MiB)


@lru_cache(maxsize=1024)
def _array_text(data: bytes, dtype: str, shape: tuple) -> str:
    """The words of the array these bytes hold: each draw's inputs and expected values are put
    into words once for a whole class, not once per student."""
    return _array_words(np.frombuffer(data, dtype=dtype).reshape(shape))


def _array_words(x: np.ndarray) -> str:
    if x.size > 24:  # a summary: printing big arrays is slow and nobody reads them
        head = ", ".join(show(v) for v in x.reshape(-1)[:4].tolist())
        stats = ""  # numpy's own words, in every language
        if x.dtype.kind in "biuf" and x.size:
            stats = f" min={show(x.min().item())} max={show(x.max().item())}"
        return f"ndarray shape={x.shape} dtype={x.dtype}{stats} [{head}, ...]"
    with np.printoptions(precision=8, linewidth=100):
        return np.array2string(x, separator=", ")


def _index(idx: tuple) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ("," if len(idx) == 1 else "") + ")"


# --------------------------------------------------------------------------- the checks

def _numeric(value: Any) -> tuple[Optional[np.ndarray], Optional[Mismatch]]:
    if value is None:
        return None, Mismatch("none")
    if isinstance(value, (str, bytes, dict)):
        return None, Mismatch("not_numeric", got=f"{type(value).__name__} {show(value)}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        return None, Mismatch("not_array", note=str(exc).split("\n")[0][:200])
    if arr.dtype.kind == "c":
        return None, Mismatch("complex")
    if arr.dtype.kind not in "biuf":
        return None, Mismatch("not_numeric", got=f"{type(value).__name__} {show(value)}")
    return arr, None


def _same_shape(arr: np.ndarray, exp: np.ndarray) -> tuple[np.ndarray, Optional[Mismatch]]:
    if arr.shape == exp.shape:
        return arr, None
    if exp.ndim == 0 and arr.size == 1:
        return arr.reshape(()), None
    transposed = arr.ndim == 2 and arr.shape == exp.shape[::-1]
    return arr, Mismatch("shape", expected=exp.shape, got=arr.shape, note=transposed)


def _first(mask: np.ndarray) -> tuple:
    return np.unravel_index(int(np.argmax(mask)), mask.shape) if mask.ndim else ()


def allclose(got: Any, expected: Any, tol: Tolerance, inputs: Optional[dict] = None) -> Optional[Mismatch]:
    exp = np.asarray(expected, dtype=np.float64)
    arr, problem = _numeric(got)
    if problem:
        return problem
    arr, problem = _same_shape(arr, exp)
    if problem:
        return problem
    arr = arr.astype(np.float64, copy=False)  # read only here
    with np.errstate(invalid="ignore", over="ignore"):
        # most values pass: every difference finite and within its bound (a NaN or inf anywhere,
        # expected or got, makes a difference NaN or inf, looked at below)
        diff = np.abs(arr - exp)
        if (diff <= tol.atol + tol.rtol * np.abs(exp)).all() and np.isfinite(diff).all():
            return None
    exp_finite = np.isfinite(exp)
    bad_finite = exp_finite & ~np.isfinite(arr)
    if bad_finite.any():
        idx = _first(bad_finite)
        return Mismatch("nonfinite", index=idx, expected=float(exp[idx]), got=float(arr[idx]),
                        bad=int(bad_finite.sum()), total=arr.size,
                        note="NaN" if np.isnan(arr[bad_finite]).any() else "inf")
    special_mismatch = ~exp_finite & ~((np.isnan(exp) & np.isnan(arr)) | (exp == arr))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.where(exp_finite, np.abs(arr - exp), 0.0)
        bound = tol.atol + tol.rtol * np.abs(np.where(exp_finite, exp, 0.0))
        bad = (diff > bound) | special_mismatch
        if not bad.any():
            return None
        excess = np.where(bad, np.where(bound > 0, diff / bound, np.inf), -1.0)
        rel = np.where(exp != 0, diff / np.abs(exp), np.where(diff > 0, np.inf, 0.0))
    worst = _first(excess == excess.max()) if arr.ndim else ()
    first = _first(bad) if arr.ndim else ()
    return Mismatch("values", index=worst, expected=float(exp[worst]), got=float(arr[worst]),
                    first=first if first != worst else None, first_values=(float(exp[first]), float(arr[first])),
                    abs=float(diff[worst]), rel=float(rel[worst]), tolerance=tol, bad=int(bad.sum()),
                    total=arr.size, shape=arr.shape, max_abs=float(diff.max()),
                    max_rel=float(np.max(rel[exp_finite])) if exp_finite.any() else float("nan"))


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


def exact(got: Any, expected: Any, tol: Optional[Tolerance] = None, inputs: Optional[dict] = None,
          path: str = "result") -> Optional[Mismatch]:
    """Equal values of the same family; lists and tuples are both sequences."""
    if got is None and expected is not None:
        return Mismatch("none", path=path)
    if isinstance(got, np.ndarray) and got.ndim == 0:
        got = got[()]
    fam_exp, fam_got = _family(expected), _family(got)
    if fam_exp == "array" or (fam_got == "array" and fam_exp == "sequence"):
        return _exact_array(got, np.asarray(expected), path)
    if fam_exp != fam_got and not {fam_exp, fam_got} <= {"int", "float"}:
        return Mismatch("type", path=path, expected=type(expected).__name__, got=f"{type(got).__name__} {show(got)}")
    if fam_exp == "sequence" or isinstance(expected, dict):
        return _exact_container(got, expected, path)
    return None if _same(got, expected) else Mismatch("differ", path=path, expected=expected, got=got)


def _same(got: Any, expected: Any) -> bool:
    """Equal, NaN equal to NaN."""
    return got == expected or (_family(expected) == "float" and np.isnan(expected) and np.isnan(got))


def _exact_container(got: Any, expected: Any, path: str) -> Optional[Mismatch]:
    """A sequence or dict of the same length or keys, and equal items."""
    if isinstance(expected, dict):
        if set(got) != set(expected):
            return Mismatch("keys", path=path, expected=sorted(expected), got=sorted(got))
        return _first_problem((got[k], expected[k], f"{path}[{k!r}]") for k in expected)
    if len(got) != len(expected):
        return Mismatch("length", path=path, expected=len(expected), got=len(got))
    return _first_problem((g, e, f"{path}[{i}]") for i, (g, e) in enumerate(zip(got, expected)))


def _first_problem(items: Any) -> Optional[Mismatch]:
    for got, expected, path in items:
        problem = exact(got, expected, path=path)
        if problem:
            return problem
    return None


def _exact_array(got: Any, exp: np.ndarray, path: str) -> Optional[Mismatch]:
    arr, problem = _numeric(got) if exp.dtype.kind in "biuf" else (np.asarray(got), None)
    if problem:
        return problem
    if arr.shape != exp.shape:
        return Mismatch("shape", path=path, expected=exp.shape, got=arr.shape, note=False)
    if exp.dtype.kind == "b" and arr.dtype.kind != "b":
        return Mismatch("type", path=path, expected="bool array", got=f"{arr.dtype} array")
    bad = arr != exp
    if not np.any(bad):
        return None
    idx = _first(np.asarray(bad))
    return Mismatch("array_differ", path=path, index=idx, expected=exp[idx], got=arr[idx],
                    bad=int(np.sum(bad)), total=arr.size, shape=arr.shape)


def _lines(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in str(text).strip().splitlines()]
    return [line for line in lines if line]


def text(got: Any, expected: Any, tol: Optional[Tolerance] = None, inputs: Optional[dict] = None) -> Optional[Mismatch]:
    if not isinstance(got, str):
        return Mismatch("type", path="output", expected="str", got=type(got).__name__)
    g, e = _lines(got), _lines(expected)
    for n, (gl, el) in enumerate(zip(g, e), start=1):
        if gl != el:
            return Mismatch("line", index=(n,), expected=el, got=gl)
    if len(g) != len(e):
        return Mismatch("lines", expected=len(e), got=len(g))
    return None


def run_check(name: str, got: Any, expected: Any, tol: Tolerance, custom: Optional[Callable] = None,
              inputs: Optional[dict] = None) -> Optional[Mismatch]:
    """Run a named check; a course's own (driver) check gives its words, kept as they are."""
    if name in CHECKS:
        return CHECKS[name](got, expected, tol, inputs or {})
    if custom is None:
        raise KeyError(name)
    words = custom(got, expected, inputs or {})
    return Mismatch("custom", note=words) if words else None


FLOAT32_RTOL = 2.0 ** -20  # a few units in the last place of a float32 (eps 2**-23), relative


def float32_only(got: Any, expected: Any, tol: Tolerance) -> bool:
    """Whether a failing value is single precision (float32 or float16) and differs from the expected
    values by no more than that precision: then the formula is right and the dtype is the difference."""
    arr = np.asarray(got) if isinstance(got, (np.ndarray, np.generic)) else None
    if arr is None or arr.dtype not in (np.float32, np.float16):
        return False
    exp = np.asarray(expected, dtype=np.float64)
    if arr.shape != exp.shape:
        return False
    rtol = max(tol.rtol, FLOAT32_RTOL if arr.dtype == np.float32 else 2.0 ** -8)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.allclose(arr.astype(np.float64), exp, rtol=rtol, atol=tol.atol, equal_nan=True))


def matches(got: Any, wrong: Any, check: str, tol: Tolerance) -> bool:
    """Whether a failing value equals a known wrong answer, by the check's `mistakes_by` (a course's
    own check: exact)."""
    if wrong is None:
        return False
    registered = CHECKS.get(check)
    by = CHECKS[(registered.mistakes_by or registered.name) if registered else "exact"]
    try:
        return by(got, wrong, tol, {}) is None
    except Exception:
        return False


# --------------------------------------------------------------------------- the words

def _values(m: Mismatch, lang: str) -> str:
    return t(lang, "values_at", exp=show(m.expected), got=show(m.got))


def _words_values(m: Mismatch, lang: str, hidden: bool) -> str:
    tol = m.tolerance
    if m.total == 1 and not hidden:
        return t(lang, "scalar", exp=show(m.expected), got=show(m.got), abs=m.abs, rel=m.rel,
                 rtol=tol.rtol, atol=tol.atol)
    lines = [t(lang, "tol_header", rtol=tol.rtol, atol=tol.atol)]
    if m.total > 1:
        lines.append(t(lang, "mismatched", bad=m.bad, total=m.total, pct=100.0 * m.bad / m.total))
    if hidden:
        return "\n".join(lines + ([t(lang, "shape_right", shape=m.shape)] if m.total > 1 else []))
    if m.first is not None:
        lines.append(t(lang, "first_diff", idx=_index(m.first)) + t(lang, "values_at", exp=show(m.first_values[0]),
                                                                    got=show(m.first_values[1])))
    return "\n".join(lines + [t(lang, "worst", idx=_index(m.index)) + _values(m, lang),
                              t(lang, "max_abs", v=m.max_abs), t(lang, "max_rel", v=m.max_rel)])


def _words_shape(m: Mismatch, lang: str, hidden: bool) -> str:
    return t(lang, "shape", exp=m.expected, got=m.got) + (t(lang, "transposed") if m.note else "")


def _words_nonfinite(m: Mismatch, lang: str, hidden: bool) -> str:
    base = t(lang, "nonfinite", what=m.note, n=m.bad, total=m.total, idx=_index(m.index))
    return base if hidden else base + _values(m, lang)


def _words_array(m: Mismatch, lang: str, hidden: bool) -> str:
    base = t(lang, "array_diff", path=m.path, bad=m.bad, total=m.total, idx=_index(m.index))
    return base if hidden else base + _values(m, lang)


def _words_differ(m: Mismatch, lang: str, hidden: bool) -> str:
    base = t(lang, "exact_diff", path=m.path)
    return base if hidden else base + _values(m, lang)


def _words_line(m: Mismatch, lang: str, hidden: bool) -> str:
    base = t(lang, "text_line", n=m.index[0])
    return base if hidden else base + t(lang, "values_at", exp=repr(m.expected), got=repr(m.got))


def _words_count(key: str) -> Callable[[Mismatch, str, bool], str]:
    def words(m: Mismatch, lang: str, hidden: bool) -> str:
        base = t(lang, key, path=m.path, got=m.got)
        return base if hidden else base + t(lang, "expected_n", exp=m.expected)
    return words


# The kinds every check may report (no value, not numbers, a wrong type or shape), and a course's
# own check's words; each check's own kinds come with its registration below.
WORDS.update({
    "none": lambda m, lang, hidden: t(lang, "none"),
    "not_numeric": lambda m, lang, hidden: t(lang, "not_numeric", got=m.got),
    "not_array": lambda m, lang, hidden: t(lang, "not_array", err=m.note),
    "complex": lambda m, lang, hidden: t(lang, "complex"),
    "type": lambda m, lang, hidden: t(lang, "exact_type", path=m.path, exp=m.expected, got=m.got),
    "shape": _words_shape,
    "custom": lambda m, lang, hidden: str(m.note),
})
register_check("allclose", words={"values": _words_values, "nonfinite": _words_nonfinite})(allclose)
register_check("exact", words={
    "keys": lambda m, lang, hidden: t(lang, "exact_keys", path=m.path, exp=m.expected, got=m.got),
    "array_differ": _words_array, "differ": _words_differ, "length": _words_count("exact_len")})(exact)
register_check("text", words={"line": _words_line, "lines": _words_count("text_lines")}, mistakes_by="exact")(text)


def describe(m: Mismatch, lang: str, hidden: bool = False) -> str:
    """The mismatch in words; `hidden` keeps out every value the answer could be read from."""
    return WORDS[m.kind](m, lang, hidden)
