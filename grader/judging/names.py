"""The names a student's file defines, read from its text (never run): what "did you mean" needs.

Pure and bounded: the text is hostile input, parsed with ``ast`` (no code runs) and read only
when it is small enough; a file that does not parse defines nothing we can name.

- ``defined_names``: every class, function, method and top-level assignment of the file, and
  the names assigned only inside a function or an ``if __name__ == '__main__':`` block;
- ``near_miss``: the defined name a missing one was most likely meant to be (`sigmiod`, `tahn`,
  `Sigmoid`, `ActivationFunctions`), or None;
- ``called_name``: the function a case's call ends in (`forward` for `TinyNet(...).forward(x, t)`).
"""

from __future__ import annotations

import ast
import difflib
import functools
from dataclasses import dataclass
from typing import Optional

MAX_SOURCE = 1_000_000  # characters parsed at most
CUTOFF = 0.7  # difflib's similarity above which a name is a near miss


@dataclass(frozen=True)
class Names:
    top: frozenset[str] = frozenset()     # defined where an import reaches them (module and class level)
    nested: frozenset[str] = frozenset()  # assigned only inside a function or under `if __name__ == ...`


def _targets(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return set()


def _main_guard(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "__main__" in ast.dump(node.test)


def _reachable(body: list[ast.stmt], out: set[str]) -> None:
    """Names an import defines: module level (inside plain if/try blocks too) and class bodies."""
    for node in body:
        out |= _targets(node)
        if isinstance(node, ast.ClassDef):
            _reachable(node.body, out)
        elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _main_guard(node):
            for part in ("body", "orelse", "finalbody"):
                _reachable(getattr(node, part, []) or [], out)
            for handler in getattr(node, "handlers", []):
                _reachable(handler.body, out)


@functools.lru_cache(maxsize=256)
def defined_names(source: Optional[str]) -> Names:
    if not source or len(source) > MAX_SOURCE:
        return Names()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Names()
    top: set[str] = set()
    _reachable(tree.body, top)
    every = set().union(*(_targets(n) for n in ast.walk(tree)))
    return Names(frozenset(top), frozenset(every - top))


def near_miss(name: str, source: Optional[str], exclude: frozenset[str] = frozenset()) -> Optional[str]:
    """The name the file defines instead of `name`: same letters in another case, else the closest
    spelling; never one of `exclude` (the names the stage calls for itself)."""
    top = sorted(defined_names(source).top - {name} - exclude)
    same_case = [n for n in top if n.lower() == name.lower()]
    if same_case:
        return same_case[0]
    lowered = {n.lower(): n for n in top if not n.startswith("__")}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=CUTOFF)
    return lowered[close[0]] if close else None


def only_nested(name: str, source: Optional[str]) -> bool:
    """Whether the file assigns `name` only where an import does not reach (a function, a main block)."""
    return name in defined_names(source).nested


@functools.lru_cache(maxsize=512)
def call_names(call: str) -> frozenset[str]:
    """Every name and attribute a call expression uses (`TinyNet`, `forward`, `x`...)."""
    try:
        tree = ast.parse(call, mode="eval")
    except SyntaxError:
        return frozenset()
    return frozenset(n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(tree)
                     if isinstance(n, (ast.Name, ast.Attribute)))


@functools.lru_cache(maxsize=512)
def called_name(call: str) -> Optional[str]:
    """The function or method a call expression calls last: `forward` in `TinyNet(...).forward(x, t)`."""
    try:
        tree = ast.parse(call, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.Call):
        return None
    func = tree.func
    if isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name) and func.value.id == "driver"):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None
