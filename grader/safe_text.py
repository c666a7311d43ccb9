"""Student text made inert: no control character from a submission (exception messages,
printed output, file and folder names, student ids) reaches a terminal, an HTML, Markdown,
CSV or JUnit file as itself.

Terminal escape sequences (``ESC [2J``, ``ESC ]...BEL``) are removed whole; carriage returns,
bells, NUL, other C0 and C1 controls and the Unicode bidirectional overrides, isolates and
marks (which reorder what a reader sees, e.g. U+202E) are removed; newlines and tabs stay (a
message may have several lines). Each output format then does its own escaping (HTML, XML,
Markdown, CSV formulas).
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from typing import Any, Optional

# ANSI/VT sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \\), two-byte ESC x.
_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
# C0 controls but \t and \n, DEL, C1 controls, bidi embeddings/overrides/isolates and marks.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: Any) -> str:
    """The text without terminal sequences and unsafe characters; ``\\r\\n`` read as a newline."""
    if text is None:
        return ""
    text = str(text)
    if not _UNSAFE.search(text):  # ESC, CSI and CR are all unsafe: most text is clean as it is
        return text
    return _UNSAFE.sub("", _SEQUENCE.sub("", text.replace("\r\n", "\n")))


def one_line(text: Any, limit: int = 0) -> str:
    """clean(text) on one line (whitespace runs become one space), cut to `limit` when set,
    at a word boundary when one lies in the second half."""
    out = " ".join(clean(text).split())
    if not limit or len(out) <= limit:
        return out
    cut = out[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 2 else cut).rstrip() + "…"

_PLAIN = frozenset({int, float, bool, type(None)})


def clean_all(value: Any, drop: frozenset[str] = frozenset()) -> Any:
    """Every string inside `value` (dicts, lists, dataclasses such as a Report) cleaned; the
    dataclass fields named in `drop` are not copied (they take their defaults): for a reader
    that never reads them (the overview never shows a case's details)."""
    if type(value) in _PLAIN:  # most of a report: scores, times, flags
        return value
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: clean_all(v, drop) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean_all(v, drop) for v in value)
    names = _init_fields(type(value))
    if names is not None:
        # what dataclasses.replace does when every field is given, without its checks
        return type(value)(**{name: clean_all(getattr(value, name), drop) for name in names if name not in drop})
    return value


@lru_cache(maxsize=None)
def _init_fields(cls: type) -> Optional[tuple[str, ...]]:
    """The fields a dataclass's constructor takes (none for any other type): asked once a type."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init) if dataclasses.is_dataclass(cls) else None


_WORKFLOW_COMMAND = re.compile(r"^(\s*)::", re.M)
_LEGACY_COMMAND = re.compile(r"##\[")


def no_workflow_commands(text: Any) -> str:
    """clean(text) where no line can be read as a GitHub Actions workflow command.

    The Actions runner (actions/runner, ActionCommand.cs) acts on a log line that starts
    with ``::`` after leading whitespace (``::notice``, ``::add-mask``, ``::stop-commands``...)
    and, in the older syntax, on ``##[command]data`` anywhere in a line: a student's exception
    message holding ``\n::notice title=Autograding complete::Points 27/27`` would print a forged
    notice. The leading ``::`` of each such line becomes ``: :`` and every ``##[`` becomes
    ``# #[``; the text stays readable."""
    return _LEGACY_COMMAND.sub("# #[", _WORKFLOW_COMMAND.sub(r"\1: :", clean(text)))
