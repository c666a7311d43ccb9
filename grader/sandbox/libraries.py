"""Which of a worker's two zygotes a run forks from: the light one (numpy) or the full one (torch,
sympy, matplotlib too).

A fork server forked from the full zygote holds about 200 MB of its libraries' memory, and every
run it forks pays for copying that address space and tearing it down again: about 8 ms of CPU a
run, more than a numpy stage's own work. A run whose file (and the files of the submission it
imports) never imports a heavy library, and whose stage requires none, goes to the light server
instead. The choice is read from the source with ``ast``, never by running it, and it only
decides speed: a run on the light server that imports torch after all (``importlib``, ``exec``)
imports it itself and gets the same result, later.
"""

from __future__ import annotations

import ast
import re
from typing import Callable, Iterable, Optional

# what the full zygote holds (grader/sandbox/zygote.py LIBRARIES), and what imports it
HEAVY = frozenset({"torch", "torchvision", "sympy", "matplotlib", "pylab", "seaborn", "mpmath"})
MAX_FILES = 20  # local modules followed from one file, at most
MAX_BYTES = 1 << 20  # a larger file is assumed to need the full server (not parsed)


_MENTIONS = re.compile("|".join(sorted(HEAVY)) + r"|__import__|import_module")
_LOCAL = re.compile(r"^[ \t]*(?:from[ \t]+(\w+)|import[ \t]+([\w \t,.]+))", re.M)


def imported_names(text: str) -> Optional[set[str]]:
    """The top-level module names `text` imports anywhere (functions too); None if it cannot be read.
    A text that never mentions a heavy library is not parsed: its import lines are enough to
    follow the submission's own modules (a name missed there only costs speed)."""
    if len(text) > MAX_BYTES:
        return None
    if not _MENTIONS.search(text):
        names = set()
        for one, many in _LOCAL.findall(text):
            names.update([one] if one else [n.strip().split(".")[0].split()[0] for n in many.split(",") if n.strip()])
        return names
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()  # the run reports the error; it needs no library for that
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in (
                "__import__", "import_module"):
            return None  # a computed import: assume the worst
    return names


def needs_heavy(file: str, read: Callable[[str], Optional[str]], requires: Iterable[str] = (),
                driver: Optional[str] = None) -> bool:
    """Whether a run of `file` should fork from the full zygote. `read(name)` gives a file of the
    submission as text (None: not there); local modules it imports are followed."""
    if HEAVY & set(requires):
        return True
    if driver is not None and (imported_names(driver) or set()) & HEAVY:
        return True
    seen, todo = set(), [file]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if len(seen) > MAX_FILES:
            return True
        text = read(name)
        if text is None:
            continue
        names = imported_names(text)
        if names is None or names & HEAVY:
            return True
        todo.extend(f"{n}.py" for n in names)
    return False
