"""``grade release COURSE --out DIR``: a student kit and an autograder bundle.

- ``DIR/autograder/``: the full course (``stages/``, ``reference/``, ``student_template/``),
  for the places only the instructor controls: batch grading, Gradescope, a private
  repository for the Classroom action.
- ``DIR/student/``: what students may see: ``student_template/``, the stage specs with their
  public cases only (known mistakes keep name and hint, not their ``value`` code), the
  drivers cut down to what the public cases call, the support files, ``frozen/`` (the
  reference's values over the public cases, computed here by the normal engine with the
  kit's seed) and ``kit.json``. Grading against it (``grade WORK --course DIR/student``)
  needs no reference: see ``Grader._frozen_expected``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

from grader.course.folder import FROZEN_DIR, KIT_FILE, Course, load_course
from grader.errors import SpecError
from grader.course.kit import write_frozen, write_kit_file
from grader.options import shared
from grader.messages import t
from grader.course.spec import StageSpec, load_spec, read_yaml

__all__ = ["register", "run", "release", "prune_driver", "ReleaseError"]

COURSE_PARTS = ("stages", "reference", "student_template")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store", ".ipynb_checkpoints")


class ReleaseError(Exception):
    """A one-line reason the release cannot be written (exit status 2)."""


# --- specs: public cases only --------------------------------------------------------------


def public_data(raw: dict) -> Optional[dict]:
    """A spec's YAML data with its hidden cases left out; None when no case is public.

    A known mistake's `value` (reference-side code) becomes `frozen: true`.
    """
    cases = [dict(c) for c in raw.get("cases", []) if not c.get("hidden")]
    if not cases:
        return None
    for case in cases:
        case["mistakes"] = [{**{k: v for k, v in m.items() if k != "value"}, "frozen": True} if "value" in m
                            else m for m in case.get("mistakes", [])]
        if not case["mistakes"]:
            del case["mistakes"]
    forms = _public_forms(raw.get("forms", []), cases)
    kept = {f["name"] for f in forms}
    cases = [c for c in cases if c.get("form") is None or c["form"] in kept]
    return {**raw, "cases": cases, "forms": forms}


def _public_forms(forms: list, cases: list[dict]) -> list:
    """Each original form over its public cases only, its points scaled to the kit's public total
    (a form with no public case is left out: the kit's students are graded in the book's form)."""
    public = {c["name"] for c in cases}
    total = sum(float(c["points"]) for c in cases if c.get("form") is None)
    kept = []
    for form in forms:
        points = {name: float(p) for name, p in form.get("cases", {}).items() if name in public}
        if points and total > 0:
            scale = total / sum(points.values())
            kept.append({**form, "cases": {name: p * scale for name, p in points.items()}})
    return kept


def _driver_roots(specs: list[StageSpec]) -> dict[str, set[str]]:
    """driver file -> the names its public cases call or check with (`driver.NAME`)."""
    roots: dict[str, set[str]] = {}
    for spec in specs:
        if not spec.driver:
            continue
        names = roots.setdefault(spec.driver, set())
        for case in spec.cases:
            for text in [case.call, case.check, *[o.check or "" for o in case.outputs]]:
                tree = ast.parse(text or "0", mode="eval")
                names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                          and isinstance(n.value, ast.Name) and n.value.id == "driver"}
                if text.startswith("driver."):
                    names.add(text.split(".", 1)[1])
    return roots


# --- drivers: only what the public cases use -----------------------------------------------


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return {n.id for tgt in targets for n in ast.walk(tgt) if isinstance(n, ast.Name)}


def _uses(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def prune_driver(source: str, roots: set[str]) -> str:
    """The driver without the top-level functions, classes and constants no root needs.

    Known-mistake helpers (wrong variants computed with reference algorithms) and data only
    hidden cases use are dropped. Imports and top-level statements that define nothing
    (calls, `if`, loops) stay, with what they use; an assignment nothing uses goes.
    """
    body = ast.parse(source).body
    kept = set(roots)
    for node in body:  # statements that are not definitions always run: what they use stays
        if not _defines(node) and not isinstance(node, (ast.Import, ast.ImportFrom)):
            kept |= _uses(node)
    changed = True
    while changed:
        changed = False
        for node in body:
            if _defines(node) & kept and not _uses(node) <= kept:
                kept |= _uses(node)
                changed = True
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in body:
        names = _defines(node)
        if names and not names & kept:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            drop.update(range(first - 1, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


# --- the release ---------------------------------------------------------------------------


def _fresh(folder: Path, lang: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ReleaseError(t(lang, "release_exists", folder=folder))


def _with_mistake_values(kit: StageSpec, cases: list) -> StageSpec:
    """The kit's spec as written (its cases draw the inputs), with the mistakes' values back for freezing."""
    return dataclasses.replace(kit, cases=[dataclasses.replace(k, mistakes=c.mistakes)
                                           for k, c in zip(kit.cases, cases)])


def _write_specs(course: Course, dest: Path) -> tuple[list[StageSpec], list[dict]]:
    """Write the kit's public specs; return them as read back, with the mistakes' values (for freezing)."""
    (dest / "stages").mkdir(parents=True)
    full, summary = [], []
    for spec in course.stages:
        raw = read_yaml(spec.path)
        kit = public_data(raw)
        if kit is None:
            continue
        path = dest / "stages" / spec.path.name
        path.write_text(yaml.safe_dump(kit, sort_keys=False, allow_unicode=True, default_flow_style=None,
                                       width=100), encoding="utf-8")
        public = _with_mistake_values(load_spec(path), [c for c in spec.cases if not c.hidden])
        full.append(dataclasses.replace(public, path=spec.path))
        summary.append({"number": spec.number, "slug": spec.slug, "file": spec.file,
                        "public_cases": len(public.cases), "hidden_cases": len(spec.cases) - len(public.cases)})
    return full, summary


def _write_drivers_and_support(course: Course, specs: list[StageSpec], dest: Path) -> None:
    for name, roots in _driver_roots(specs).items():
        target = dest / "stages" / "drivers" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(prune_driver(course.root.joinpath("stages", "drivers", name).read_text("utf-8"), roots),
                          encoding="utf-8")
    for name in sorted({n for s in specs for n in s.support}):
        target = dest / "stages" / "support" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(course.support_file(name), target)


def _freeze(course: Course, specs: list[StageSpec], seed: int, dest: Path) -> None:
    """Run the reference through the engine over the public cases, with the kit's seed."""
    from grader.engine import Grader

    with Grader(course=Course(root=course.root, stages=tuple(specs)), seed=seed) as grader:
        for spec in specs:
            expected = grader.expected(spec)
            if expected.error:
                raise ReleaseError(f"stage {spec.number} {spec.slug}: {expected.error}")
            write_frozen(dest / FROZEN_DIR, spec.slug, expected.records)


def release(course_dir: Optional[str], out: Path, seed: Optional[int] = None,
            lang: str = "en") -> tuple[Path, Path]:
    """Write OUT/student and OUT/autograder; return both folders."""
    course = load_course(course_dir)
    if course.frozen is not None:
        raise ReleaseError(t(lang, "kit_not_bundle", root=course.root))
    student, bundle = Path(out) / "student", Path(out) / "autograder"
    _fresh(student, lang)
    _fresh(bundle, lang)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    for part in COURSE_PARTS:
        if (course.root / part).is_dir():
            shutil.copytree(course.root / part, bundle / part, ignore=_IGNORE, dirs_exist_ok=True)
    specs, summary = _write_specs(course, student)
    _write_drivers_and_support(course, specs, student)
    shutil.copytree(course.template, student / "student_template", ignore=_IGNORE, dirs_exist_ok=True)
    _freeze(course, specs, seed, student)
    (student / "README.md").write_text(t("en", "kit_readme") + "\n\n" + t("zh", "kit_readme") + "\n",
                                       encoding="utf-8")
    write_kit_file(student / KIT_FILE, course.root.name, seed, summary)  # last: marks the kit complete
    return student, bundle


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "release", parents=[shared("course", "lang")], help="write a student kit (public cases, frozen values) and an autograder bundle",
        description="Write DIR/student/ (template, public cases, their expected values frozen, no reference "
                    "code) and DIR/autograder/ (the full course, for batch grading, Gradescope and a private "
                    "Classroom course repository).")
    p.add_argument("course_dir", nargs="?", default=None, metavar="COURSE",
                   help="the course folder, or give it with --course (default: $GRADE_COURSE or the checkout's)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write student/ and autograder/")
    p.add_argument("--seed", type=int, default=None, help="the seed of the public cases' inputs (default: random)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        student, bundle = release(getattr(args, "course_dir", None) or args.course, Path(args.out), args.seed, args.lang)
    except (ReleaseError, SpecError, OSError) as exc:
        print(f"grade release: {exc}", file=sys.stderr)
        return 2
    print(t(args.lang, "release_done", student=student, bundle=bundle))
    return 0
