"""Which advice fits what was seen: pure decisions, no I/O.

- ``import_advice``: what to add to "X could not be imported": the list of provided packages
  for a missing module; "move it under `if __name__ == '__main__':`" only for code that may
  move: never for an import line, never in a stage whose file must compute at the top
  (``toplevel_ok``, e.g. the M-P neuron's ``y``);
- ``error_mistake_hint``: a stage's known mistake recognised by its error (e.g. a scalar
  ``if`` given a whole array), also when the error happened while the file was imported;
- ``case_hint_applies``: a case's hint is shown only when its condition can have been seen:
  not for a function that is missing or not started, not when the grader's driver refused
  the value (its own message says what was wrong).
"""

from __future__ import annotations

import ast
import re
from typing import Iterable, Optional

from grader.messages import t

MODULE_ERRORS = ("ModuleNotFoundError", "ImportError")
UNSTARTED = ("NotImplementedError",)
_IMPORT_LINE = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\s)")


def is_import_line(source: Optional[str], line: Optional[int]) -> bool:
    """Whether line `line` of `source` belongs to an import statement."""
    if not source or not line:
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        lines = source.splitlines()
        return 0 < line <= len(lines) and bool(_IMPORT_LINE.match(lines[line - 1]))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno <= line <= (node.end_lineno or node.lineno):
            return True
    return False


def may_move_under_main(source: Optional[str], line: Optional[int], toplevel_ok: bool) -> bool:
    """Whether "move it under `if __name__ == '__main__':`" is right for the failing top-level line."""
    return not toplevel_ok and not is_import_line(source, line)


def import_advice(error: dict, source: Optional[str], toplevel_ok: bool, lang: str) -> str:
    """The sentence added after an import failure (may be empty)."""
    if error.get("type") in MODULE_ERRORS:
        return t(lang, "import_module")
    if may_move_under_main(source, error.get("line"), toplevel_ok):
        return t(lang, "import_toplevel")
    return ""


def error_mistake_hint(mistakes: Iterable, error: dict, lang: str) -> Optional[str]:
    """The hint of the first known mistake whose `error` pattern matches "Type: message"."""
    text = f"{error.get('type', '')}: {error.get('message', '')}"
    for mistake in mistakes:
        pattern = getattr(mistake, "error", None)
        if pattern and re.search(pattern, text):
            return mistake.hint.get(lang)
    return None


def case_hint_applies(error: Optional[dict], missing_name: bool, driver_refused: bool = False) -> bool:
    """Whether a case's general hint may be shown for this verdict."""
    if missing_name or driver_refused:
        return False
    return not (error and error.get("type") in UNSTARTED)


_MISSING = (
    ("NameError", re.compile(r"name '(\w+)' is not defined")),
    ("AttributeError", re.compile(r"object has no attribute '(\w+)'")),
)


def missing_name(error: dict, call: str) -> Optional[str]:
    """The function/method the case calls that the submission does not define, if that is the error.

    A NameError for a name in the call, or an AttributeError for `.name` in it (a method that
    was never written, e.g. ActivationFunction().tanh).
    """
    for kind, pattern in _MISSING:
        if error.get("type") != kind or (kind == "AttributeError" and error.get("line")):
            continue  # an AttributeError inside the student's own code is theirs to read as it is
        m = pattern.search(str(error.get("message", "")))
        if m and (m.group(1) in call if kind == "NameError" else f".{m.group(1)}" in call):
            return m.group(1)
    return None
