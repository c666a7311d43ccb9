"""``grade init DIR [--stage ...]``: a student workspace from the course's template.

Copies, from the course's ``student_template/``, the files of the chosen stages (all
stages when none is named), the support files those stages list under ``support:`` (taken
from ``stages/support/``, the trusted copies), the Classroom workflow
``.github/workflows/classroom.yml`` and a short ``README.md`` (in ``--lang``) when the
folder has none. With no ``--stage`` the whole template is copied.

Run again on an existing workspace it adds the new stages (next week's exercise): a file
already there is never overwritten, it is kept and named; the changes made to existing files
are the workflow's ``stages:`` list and the assignment (``.grade.json``, the stages chosen so
far), which gain the new stages. Plain ``grade`` in the workspace grades the assigned stages
(``assigned``), not every stage whose file is there (stages 1-3 share ``activation.py``). It
ends by printing the command to run next.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from grader.errors import UnknownStage
from grader.options import shared
from grader.messages import t
from grader.verdict import command_line

__all__ = ["register", "run", "plan_workspace", "init_workspace", "InitResult", "WorkspaceError"]

WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
ASSIGNMENT = ".grade.json"  # {"stages": [1, 4, 5]}: what `grade init --stage` assigned
ASSIGNMENT_CAP = 64 * 1024
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
    specs = sorted(course.select(stage_refs), key=lambda s: s.number)  # UnknownStage: run() words it
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


@dataclass
class InitResult:
    """What `init_workspace` did: files written, files kept as they were, the workflow's new stages."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    workflow_stages: Optional[str] = None  # set when an existing workflow's `stages:` gained stages

    def __iter__(self):  # a result reads as the list of files written, as before
        return iter(self.written)


_STAGES_LINE = re.compile(r'(?m)^(\s*stages:\s*)"([^"\n]*)"')


def _merged_workflow(text: str, specs: Sequence[Any]) -> Optional[str]:
    """An existing workflow whose `stages:` list gains the chosen stages; None when nothing changes
    (no such line, or "" which grades every stage already)."""
    m = _STAGES_LINE.search(text)
    if not m or not m.group(2).strip():
        return None
    have = m.group(2).split()
    new = [str(s.number) for s in specs if str(s.number) not in have]
    if not new:
        return None
    value = " ".join(sorted(have + new, key=lambda x: (not x.isdigit(), int(x) if x.isdigit() else 0, x)))
    return text[:m.start(2)] + value + text[m.end(2):]


def _copy(src: Path, target: Path, rel: Path, specs: Sequence[Any], all_stages: bool, lang: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if rel == WORKFLOW:
        text = _workflow_text(src.read_text(encoding="utf-8"), specs, all_stages)
        text = re.sub(r"(?m)^(\s*lang:\s*)en\s*$", lambda m: m.group(1) + lang, text, count=1)
        with open(target, "x", encoding="utf-8") as fh:
            fh.write(text)
    else:
        with open(src, "rb") as fin, open(target, "xb") as fout:
            shutil.copyfileobj(fin, fout)
        shutil.copymode(src, target)


def init_workspace(dest: Path, course: Any, stage_refs: Sequence[str] = (), lang: str = "en") -> InitResult:
    """Create or extend the workspace in `dest`. Never overwrites: existing files are kept."""
    dest = Path(dest)
    plan, specs = plan_workspace(course, stage_refs)
    if dest.exists() and not dest.is_dir():
        raise WorkspaceError(f"{dest} exists and is not a folder")
    result = InitResult()
    for src, rel in plan:
        target = dest / rel
        if target.exists() or target.is_symlink():
            result.kept.append(rel)
            if rel == WORKFLOW and stage_refs and target.is_file() and not target.is_symlink():
                result.workflow_stages = _update_workflow(target, specs)
            continue
        _copy(src, target, rel, specs, not stage_refs, lang)
        result.written.append(rel)
    dest.mkdir(parents=True, exist_ok=True)
    if _record_assignment(dest, course, specs if stage_refs else list(course.stages), bool(stage_refs)):
        result.written.append(Path(ASSIGNMENT))
    if not any(p.name.lower().startswith("readme") for p in dest.iterdir()):
        with open(dest / "README.md", "x", encoding="utf-8") as fh:
            fh.write(t(lang, "init.readme"))
        result.written.append(Path("README.md"))
    return result


def assigned(folder: Path) -> list[int]:
    """The stage numbers `grade init --stage` recorded in a workspace ([] when none, or unreadable).
    The student's own file: it chooses what plain `grade` grades there, never a batch's stages."""
    from grader.fsutil import read_bounded

    path = Path(folder) / ASSIGNMENT
    if not path.is_file() or path.is_symlink():
        return []
    try:
        data = json.loads((read_bounded(path, ASSIGNMENT_CAP) or b"").decode("utf-8"))
    except (OSError, ValueError):
        return []
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, list):
        return []
    return sorted({n for n in stages if isinstance(n, int) and not isinstance(n, bool)})


def _record_assignment(dest: Path, course: Any, specs: Sequence[Any], chosen: bool) -> bool:
    """Add the chosen stages to the workspace's assignment (written only when stages were chosen,
    or to widen one already there); True when the file is new."""
    have = assigned(dest)
    path = dest / ASSIGNMENT
    if (not chosen and not have) or path.is_symlink():
        return False
    new = not path.exists()
    known = {s.number for s in course.stages}
    numbers = sorted((set(have) & known) | {s.number for s in specs})
    text = json.dumps({"stages": numbers, "about": "the stages `grade` grades here (grade init --stage N adds one)"})
    path.write_text(text + "\n", encoding="utf-8")
    return new


def _update_workflow(target: Path, specs: Sequence[Any]) -> Optional[str]:
    merged = _merged_workflow(target.read_text(encoding="utf-8"), specs)
    if merged is None:
        return None
    target.write_text(merged, encoding="utf-8")
    return _STAGES_LINE.search(merged).group(2)


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "init", parents=[shared("stage", "course", "lang")], help="create a student workspace from the course template, or add stages to one",
        description="Create a student workspace in DIR: the template files of the chosen stages "
                    "(all when no --stage), their support files, the GitHub Classroom workflow and a "
                    "README. Run it again with --stage N to add next week's exercise: existing files "
                    "are never overwritten.")
    p.add_argument("dir", help="the folder to create or fill")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from grader.course.folder import load_course

    lang = getattr(args, "lang", "en")
    try:
        course = load_course(getattr(args, "course", None), near=args.dir)  # or the kit DIR is made in
        result = init_workspace(Path(args.dir), course, args.stages, lang)
        specs = course.select(args.stages) if args.stages else []
    except WorkspaceError as exc:
        print(f"grade init: {exc}", file=sys.stderr)
        return 2
    except UnknownStage as exc:
        print(f"grade init: {exc.words(lang)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a broken course (SpecError) and the like
        print(f"grade init: {exc}", file=sys.stderr)
        return 2
    print(_summary(args.dir, result, specs, lang))
    return 0


def _summary(folder: str, result: InitResult, specs: Sequence[Any], lang: str) -> str:
    """What was created, what was kept, and the command to run next."""
    lines = [t(lang, "init.created", n=len(result.written), dir=folder)] if result.written \
        else [t(lang, "init.nothing_new", dir=folder)]
    lines += [f"  {rel.as_posix()}" for rel in result.written]
    if result.kept:
        lines.append(t(lang, "init.kept", n=len(result.kept)))
        lines += [f"  {rel.as_posix()}" for rel in result.kept]
    if result.workflow_stages is not None:
        lines.append(t(lang, "init.workflow_stages", file=WORKFLOW.as_posix(), stages=result.workflow_stages))
    first = next((s.file for s in sorted(specs, key=lambda s: s.number)), None)
    lines += ["", t(lang, "init.next", file=first or folder),
              "  " + command_line(folder, [s.number for s in specs], None)]
    return "\n".join(lines)
