"""Naming what a student's function returned, when it is not the kind of value the stage needs.

Pure functions over decoded results (never code from the run): ``kind`` names a value
("a tuple of 2 items (ndarray, tuple)", "None", "a list of 3 items"), ``kind_problem`` turns a
wrong kind into the sentence a student can act on ("returned a tuple of 2 items (ndarray,
tuple); return only the array"), and ``raised_by_driver`` tells an exception the grader's own
driver raised about the student's value from one the student's code raised.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np

from grader.messages import t

ITEMS_NAMED = 4  # item kinds listed in "a tuple of N items (...)"


def type_name(value: Any) -> str:
    """The short name a student knows: ndarray, list, tuple, float, int, None..."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return "ndarray"
    if isinstance(value, np.generic):
        return type(value.item()).__name__ if np.ndim(value) == 0 else "ndarray"
    return type(value).__name__


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def kind(value: Any, lang: str = "en") -> str:
    """The kind of a value, with the kinds of a sequence's items: 'a tuple of 2 items (ndarray, tuple)'."""
    name = type_name(value)
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        items = ", ".join(type_name(v) for v in value[:ITEMS_NAMED]) + (", ..." if len(value) > ITEMS_NAMED else "")
        return t(lang, "kind_sequence", a=_article(name), name=name, n=len(value), s="s" * (len(value) != 1),
                 items=f" ({items})" if value else "")
    if isinstance(value, np.ndarray):
        return t(lang, "kind_array", shape=value.shape)
    return t(lang, "kind_value", a=_article(name), name=name)


def _numeric_sequence(value: Any) -> bool:
    """Whether numpy reads it as an array of numbers (a list of floats, nested lists of equal length...)."""
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (ValueError, TypeError):
        return False


def kind_problem(got: Any, expected: Any, lang: str) -> Optional[str]:
    """What is wrong with the kind of `got` when an ndarray like `expected` was needed; None when its kind fits.

    - None: "returned None ...";
    - a tuple or list holding an array (e.g. ``return y, y.shape``): "returned a tuple of 2 items
      (ndarray, tuple); return only the array";
    - a list (or tuple) of numbers: "returned a list where an ndarray is expected" (said next to the
      numeric comparison, which still decides);
    - anything else that is not numbers: "returned a str where an ndarray is expected".
    """
    if not isinstance(expected, np.ndarray) or expected.ndim == 0:
        return None
    if got is None:
        return t(lang, "none")
    if isinstance(got, np.ndarray):
        return None
    if isinstance(got, (list, tuple)) and any(isinstance(v, np.ndarray) and v.ndim for v in got) \
            and not _numeric_sequence(got):
        return t(lang, "kind_extra_items", kind=kind(got, lang))
    return t(lang, "kind_instead", kind=kind(got, lang), exp=t(lang, "kind_value", a="an", name="ndarray"))


def with_kind(problem: str, got: Any, expected: Any, lang: str) -> tuple[str, bool]:
    """A failed check's message, led by the kind of value when that is the real problem.

    Returns (message, whether the kind alone is the problem: then hints about the formula do not apply).
    """
    named = kind_problem(got, expected, lang)
    if named is None:
        return problem, False
    if isinstance(got, (list, tuple)) and _numeric_sequence(got):
        return f"{problem}\n{named}", False  # the numbers decide; the kind is said as well
    return named, True


_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+', re.M)


def raised_by_driver(error: dict, student_file: str, driver_name: str = "driver.py") -> bool:
    """Whether an exception came from the grader's driver rather than from the student's code.

    Walking the traceback from the innermost frame outwards, library frames (numpy, torch...)
    are passed over; the first frame that is the driver's or the student file's decides. Such an
    exception describes the student's value (or is the grader's own failure); it is never
    reported as "your code raised ...". The traceback is text from the run, only read.
    """
    for path in reversed(_FRAME.findall(str(error.get("traceback") or ""))):
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        if name == student_file:
            return False
        if name == driver_name:
            return True
    return False
