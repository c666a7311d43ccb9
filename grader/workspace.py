"""``grade init DIR [--stage ...]``: a student workspace from the course's template.

Copies, from the course's ``student_template/``, the files of the chosen stages (all
stages when none is named), the support files those stages list under ``support:`` (taken
from ``stages/support/``, the trusted copies) and the Classroom workflow
``.github/workflows/classroom.yml``. With no ``--stage`` the whole template is copied.
Nothing is overwritten: when a target exists the command names it and exits 2 before
writing anything.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["register", "run", "plan_workspace", "init_workspace", "WorkspaceError"]

WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
_SKIP = {"__pycache__", ".DS_Store", ".ipynb_checkpoints"}


class WorkspaceError(Exception):
    """A one-line reason the workspace cannot be created (exit status 2)."""


def _template_files(template: Path) -> list[Path]:
    out = []
    for p in sorted(template.rglob("*")):
        rel = p.relative_to(template)
        if p.is_file() and not any(part in _SKIP or part.endswith(".pyc") for part in rel.parts):
            out.append(rel)
    return out


def _chosen(course: Any, template: Path, stage_refs: Sequence[str]) -> tuple[list[Any], list[Path]]:
    """The chosen stage specs and the template files they need (every file when none is chosen)."""
    if not stage_refs:
        return list(course.stages), _template_files(template)
    try:
        specs = sorted(course.select(stage_refs), key=lambda s: s.number)
    except KeyError as exc:
        raise WorkspaceError(str(exc.args[0]) if exc.args else str(exc)) from None
    rels: list[Path] = []
    for spec in specs:
        rel = Path(spec.file)
        if not (template / rel).is_file():
            raise WorkspaceError(f"student_template/{rel} (stage {spec.number} {spec.slug}) does not exist")
        if rel not in rels:
            rels.append(rel)
    if (template / WORKFLOW).is_file():
        rels.append(WORKFLOW)
    return specs, rels


def plan_workspace(course: Any, stage_refs: Sequence[str] = ()) -> tuple[list[tuple[Path, Path]], list[Any]]:
    """[(source, relative target)] to copy, and the chosen stage specs. The stages' support
    files (layers.py) come from the course's stages/support/, the one trusted copy."""
    template = course.root / "student_template"
    if not template.is_dir():
        raise WorkspaceError(f"the course has no student_template/ folder ({template})")
    specs, rels = _chosen(course, template, stage_refs)
    support_rels = list(dict.fromkeys(Path(name) for spec in specs for name in getattr(spec, "support", None) or []))
    plan = [(template / rel, rel) for rel in rels if rel not in support_rels]
    plan += [(course.root / "stages" / "support" / rel, rel) for rel in support_rels]
    return plan, specs


def _workflow_text(text: str, specs: Sequence[Any], all_stages: bool) -> str:
    """The workflow with its `stages:` input set to the chosen stages."""
    if all_stages:
        return text
    value = " ".join(str(s.number) for s in specs)
    return re.sub(r'(?m)^(\s*stages:\s*)""', lambda m: f'{m.group(1)}"{value}"', text, count=1)


def init_workspace(dest: Path, course: Any, stage_refs: Sequence[str] = ()) -> list[Path]:
    """Create the workspace in `dest`; the relative paths written. Refuses to overwrite."""
    dest = Path(dest)
    plan, specs = plan_workspace(course, stage_refs)
    if dest.exists() and not dest.is_dir():
        raise WorkspaceError(f"{dest} exists and is not a folder")
    for _, rel in plan:
        target = dest / rel
        if target.exists() or target.is_symlink():
            raise WorkspaceError(f"{target} already exists; not overwriting it (remove it or choose another folder)")
    written = []
    for src, rel in plan:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == WORKFLOW:
            text = _workflow_text(src.read_text(encoding="utf-8"), specs, not stage_refs)
            with open(target, "x", encoding="utf-8") as fh:
                fh.write(text)
        else:
            with open(src, "rb") as fin, open(target, "xb") as fout:
                shutil.copyfileobj(fin, fout)
            shutil.copymode(src, target)
        written.append(rel)
    return written


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "init", help="create a student workspace from the course template",
        description="Create a student workspace in DIR: the template files of the chosen stages "
                    "(all when no --stage), their support files and the GitHub Classroom workflow. "
                    "Existing files are never overwritten.")
    p.add_argument("dir", help="the folder to create or fill")
    p.add_argument("--stage", "-s", dest="stages", action="extend", nargs="+", default=[], metavar="N|SLUG",
                   help="stage numbers, slugs or ranges like 1-3; repeatable, or comma separated")
    p.add_argument("--course", default=None, help="course folder (default: the bundled course)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from grader.course import load_course

    try:
        course = load_course(getattr(args, "course", None), near=args.dir)  # or the kit DIR is made in
        written = init_workspace(Path(args.dir), course, args.stages)
    except WorkspaceError as exc:
        print(f"grade init: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a broken course (SpecError) and the like
        print(f"grade init: {exc}", file=sys.stderr)
        return 2
    print(f"Created {len(written)} file(s) in {args.dir}:")
    for rel in written:
        print(f"  {rel.as_posix()}")
    return 0
