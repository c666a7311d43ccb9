"""The house's rules (ARCHITECTURE.md): no import back up a layer, no import circle.

Every `import grader...` counts, also the ones inside a function (a lazy import is still a
dependency). Read from the source with `ast`: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "grader"
# Lowest first: a part may import its own layer and the layers below it, never one above.
LAYERS = [
    {"grader", "errors", "messages", "limits", "fsutil", "safe_text", "sources", "contents", "verdict", "options",
     "templates"},
    {"sandbox"},
    {"course"},
    {"judging"},
    {"engine", "import_once", "case_stream"},
    {"report"},
    {"authoring", "workspace"},
    {"batch"},
    {"platforms", "serve"},
    {"cli", "__main__"},
]
LAYER = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    """The folder (course, sandbox...) or top-level module (engine, cli...) a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "grader"


def imports(module: str) -> list[tuple[str, int]]:
    """The grader modules `module` imports (a `from X import name` of a submodule: that submodule)."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "grader"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "grader":
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES]
            found += [(name, node.lineno) for name in subs or [node.module]]
    return [(name, line) for name, line in found if name in MODULES]


def test_every_part_has_a_layer():
    assert {part_of(m) for m in MODULES} <= set(LAYER), {part_of(m) for m in MODULES} - set(LAYER)


def upward(edges: list[tuple[str, str, int]]) -> list[str]:
    """The (module, imported module, line) edges that go up a layer, as sentences."""
    return [f"{module}:{line} imports {target} (a layer up)" for module, target, line in edges
            if LAYER[part_of(target)] > LAYER[part_of(module)]]


def test_no_import_goes_back_up_a_layer():
    assert upward([(m, t, line) for m in MODULES for t, line in imports(m)]) == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph` (strongly connected components of more than one module, or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports; a package's own submodules importing it (their parent,
    which Python runs first anyway) are not edges."""
    return {m: {t for t, _ in imports(m) if not (m.startswith(t + ".") and MODULES[t].name == "__init__.py")}
            for m in MODULES}


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_rules_bite():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert upward([("grader.course.spec", "grader.judging.checks", 3), ("grader.cli", "grader.batch", 1)]) == \
        ["grader.course.spec:3 imports grader.judging.checks (a layer up)"]
    # the real graph is read: judging's checks import course's spec, and batch's package its run
    assert any(t == "grader.course.spec" for t, _ in imports("grader.judging.checks"))
    assert "grader.batch.run" in import_graph()["grader.batch"]
    assert sum(map(len, import_graph().values())) > 150


def test_architecture_md_names_every_part():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert [part for part in LAYER if part not in text] == []


def test_one_name_one_thing():
    """No two public classes of the package share a name (`Limits` once meant three things)."""
    where: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where.setdefault(node.name, []).append(module)
    assert {name: mods for name, mods in where.items() if len(mods) > 1} == {}
    assert len(where) > 30


def test_no_function_over_60_lines_or_8_parameters():
    """The developers' guide's size rule, for every function of the package (self and cls aside)."""
    too_big = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                named = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
                params = len([a for a in named if a not in ("self", "cls")])
                lines = node.end_lineno - node.lineno + 1
                if lines > 60 or params > 8:
                    too_big.append(f"{module}.{node.name}: {lines} lines, {params} parameters")
    assert too_big == []
