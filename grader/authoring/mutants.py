"""Mutants of a reference solution: small AST edits of the code a student writes.

Each mutant is the reference file with one edit (an operator swapped, a constant off by one,
a term dropped, an axis changed, ``<`` for ``<=``, a sign dropped, a return value replaced),
applied only to the lines a student writes (those that differ from the template) inside the
functions a stage calls. The edit is spliced into the original text, so a mutant's diff is
the one changed line.

Why not a mutation library: mutmut and cosmic-ray mutate a whole project and run its test
command per mutant (a session database, a test runner, a config file); here the "tests" are
the grader's own sandboxed runs and one file is mutated, so the operators are kept here, small.
"""

from __future__ import annotations

import ast
import copy
import difflib
import random
from dataclasses import dataclass
from typing import Iterator, Optional

SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
              ast.FloorDiv: ast.Div, ast.MatMult: ast.Mult, ast.Mod: ast.FloorDiv}
SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SWAP_CALL = {"sum": "mean", "mean": "sum", "max": "min", "min": "max", "argmax": "argmin", "argmin": "argmax",
             "maximum": "minimum", "minimum": "maximum", "tanh": "sinh", "exp": "expm1", "sqrt": "square"}
MODULE = "<module>"


@dataclass(frozen=True)
class Mutant:
    id: str  # function:line:col:operator, stable while the reference's lines stay put
    function: str
    operator: str
    source: str
    diff: str


@dataclass(frozen=True)
class _Edit:
    node: ast.AST
    operator: str
    text: str


def student_lines(reference: str, template: Optional[str]) -> set[int]:
    """1-based line numbers of the reference that are not in the template (what a student writes)."""
    ref_lines = reference.splitlines()
    if template is None:
        return set(range(1, len(ref_lines) + 1))
    out: set[int] = set()
    matcher = difflib.SequenceMatcher(None, template.splitlines(), ref_lines, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1 + 1, j2 + 1))
    return out


def functions(tree: ast.Module) -> dict[str, list[ast.AST]]:
    """Qualified name -> the nodes to mutate: every def (methods as Class.name), and
    ``<module>`` for top-level statements that are not definitions."""
    out: dict[str, list[ast.AST]] = {MODULE: []}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[stmt.name] = [stmt]
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"{stmt.name}.{item.name}"] = [item]
        elif not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out[MODULE].append(stmt)
    return out


def reached(tree: ast.Module, names: set[str]) -> set[str]:
    """The functions a stage reaches from identifiers in its calls (closing over calls
    inside them): ``student`` reaches everything, a class reaches its ``__init__``, a
    method name reaches every method of that name."""
    table = functions(tree)
    if "student" in names:
        return set(table)
    done: set[str] = set()
    todo = set(names)
    while todo:
        name = todo.pop()
        for qual in table:
            short = qual.rsplit(".", 1)[-1]
            if qual in done or qual == MODULE:
                continue
            if short == name or qual == f"{name}.__init__":
                done.add(qual)
                todo |= identifiers(*table[qual]) - done
    return done


def identifiers(*nodes: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                out.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                out.add(sub.attr)
    return out


def _edits(node: ast.AST) -> Iterator[_Edit]:
    """Every single-operator mutation of one node (not of its children)."""
    for kind, handler in _HANDLERS:
        if isinstance(node, kind):
            yield from handler(node)
            return


def _augassign_edits(node: ast.AugAssign) -> Iterator[_Edit]:
    if type(node.op) in SWAP_BINOP:
        new = copy.copy(node)
        new.op = SWAP_BINOP[type(node.op)]()
        yield _Edit(node, f"{type(node.op).__name__}-to-{type(new.op).__name__}", ast.unparse(new))


def _compare_edits(node: ast.Compare) -> Iterator[_Edit]:
    if len(node.ops) == 1 and type(node.ops[0]) in SWAP_CMP:
        new = copy.copy(node)
        new.ops = [SWAP_CMP[type(node.ops[0])]()]
        yield _Edit(node, f"{type(node.ops[0]).__name__}-to-{type(new.ops[0]).__name__}", _paren(new))


def _unary_edits(node: ast.UnaryOp) -> Iterator[_Edit]:
    if isinstance(node.op, (ast.USub, ast.Not)):
        yield _Edit(node, "drop-sign" if isinstance(node.op, ast.USub) else "drop-not", _paren(node.operand))


def _keyword_edits(node: ast.keyword) -> Iterator[_Edit]:
    if node.arg == "axis" and isinstance(node.value, (ast.Constant, ast.UnaryOp)):
        yield _Edit(node, "axis-changed", "axis=None")


def _return_edits(node: ast.Return) -> Iterator[_Edit]:
    if node.value is not None and not _is_none(node.value):
        yield _Edit(node, "return-none", "return None")


def _binop_edits(node: ast.BinOp) -> Iterator[_Edit]:
    """The operator swapped; the right or the left term dropped (a - b -> -b, a / b -> 1 / b)."""
    if type(node.op) in SWAP_BINOP:
        new = copy.copy(node)
        new.op = SWAP_BINOP[type(node.op)]()
        yield _Edit(node, f"{type(node.op).__name__}-to-{type(new.op).__name__}", _paren(new))
    if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return
    yield _Edit(node, "drop-right-term", _paren(node.left))
    if _is_one(node.left):
        return
    if isinstance(node.op, (ast.Add, ast.Mult)):
        left_dropped: ast.AST = node.right
    elif isinstance(node.op, ast.Sub):
        left_dropped = ast.UnaryOp(ast.USub(), node.right)
    else:
        left_dropped = ast.BinOp(ast.Constant(1), ast.Div(), node.right)
    yield _Edit(node, "drop-left-term", _paren(left_dropped))


def _call_edits(node: ast.Call) -> Iterator[_Edit]:
    """A numpy function swapped for its sibling (np.sum -> np.mean, ...); len(x) off by one."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if isinstance(func, ast.Attribute) and name in SWAP_CALL:
        new = copy.copy(node)
        new.func = ast.Attribute(func.value, SWAP_CALL[name], ast.Load())
        yield _Edit(node, f"{name}-to-{SWAP_CALL[name]}", _paren(new))
    elif name == "len" and isinstance(func, ast.Name):
        yield _Edit(node, "len-minus-one", _paren(ast.BinOp(node, ast.Sub(), ast.Constant(1))))


def _constant_edits(node: ast.Constant) -> Iterator[_Edit]:
    value = node.value
    if isinstance(value, bool):
        yield _Edit(node, "bool-flipped", repr(not value))
    elif isinstance(value, (int, float)):
        yield _Edit(node, "constant-plus-one", _paren(ast.Constant(value + 1)))
        if value != 0:
            yield _Edit(node, "constant-minus-one", _paren(ast.Constant(value - 1)))


def _is_one(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value == 1


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _paren(node: ast.AST) -> str:
    text = ast.unparse(node)
    simple = isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) or (
        isinstance(node, ast.Constant) and not (isinstance(node.value, (int, float)) and node.value < 0))
    return text if simple else f"({text})"


def _splice(source: str, node: ast.AST, text: str) -> str:
    """Replace the node's span (ast offsets are UTF-8 byte columns) with text."""
    lines = source.splitlines(keepends=True)
    first, last = node.lineno - 1, node.end_lineno - 1
    head = lines[first].encode("utf-8")[:node.col_offset].decode("utf-8")
    tail = lines[last].encode("utf-8")[node.end_col_offset:].decode("utf-8")
    return "".join(lines[:first]) + head + text + tail + "".join(lines[last + 1:])


def _docstring_ids(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def mutants(source: str, filename: str, names: set[str], template: Optional[str] = None) -> list[Mutant]:
    """Every mutant of the student-written lines of the functions reached from `names`."""
    tree = ast.parse(source)
    lines = student_lines(source, template)
    table = functions(tree)
    skip = _docstring_ids(tree)
    out: list[Mutant] = []
    seen: set[str] = set()
    for qual in sorted(reached(tree, names)):
        for root in table[qual]:
            for node in ast.walk(root):
                if id(node) in skip or getattr(node, "lineno", None) not in lines:
                    continue
                for edit in _edits(node):
                    mutant = _make(source, filename, qual, edit)
                    if mutant is not None and mutant.source not in seen:
                        seen.add(mutant.source)
                        out.append(mutant)
    return out


def _make(source: str, filename: str, qual: str, edit: _Edit) -> Optional[Mutant]:
    text = _splice(source, edit.node, edit.text)
    if text == source:
        return None
    try:
        compile(text, filename, "exec")
    except SyntaxError:
        return None
    diff = "".join(difflib.unified_diff(source.splitlines(keepends=True), text.splitlines(keepends=True),
                                        f"reference/{filename}", f"mutant/{filename}", n=1))
    node = edit.node
    return Mutant(f"{qual}:{node.lineno}:{node.col_offset}:{edit.operator}", qual, edit.operator, text, diff)


_HANDLERS = ((ast.BinOp, _binop_edits), (ast.AugAssign, _augassign_edits), (ast.Compare, _compare_edits),
             (ast.UnaryOp, _unary_edits), (ast.Constant, _constant_edits), (ast.keyword, _keyword_edits),
             (ast.Call, _call_edits), (ast.Return, _return_edits))


def sample(items: list[Mutant], cap: int, seed: int) -> list[Mutant]:
    """At most `cap` mutants, chosen with a fixed seed (the same every run), in source order."""
    if cap <= 0 or len(items) <= cap:
        return list(items)
    keep = set(random.Random(seed).sample(range(len(items)), cap))
    return [m for i, m in enumerate(items) if i in keep]
