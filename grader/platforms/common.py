"""What the platform subcommands share: which stages to grade, and grading them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from grader.course.folder import Course, split_refs
from grader.course.spec import StageSpec
from grader.verdict import Report


def select_stages(course: Course, path: Optional[Path], refs: Sequence[str]) -> list[StageSpec]:
    """The stage specs to grade: the named ones, else those whose file is in `path`, else all.

    Grading every stage when no stage file is present keeps the maximum score meaningful
    (an empty repository scores 0 of the course's points, not 0 of 0)."""
    refs = split_refs(refs)  # the workflow template's `stages: ""` arrives as [""]: no stage named
    if refs:
        return sorted(course.select(refs), key=lambda s: s.number)
    present = [s for s in course.stages if path is not None and (Path(path) / s.file).is_file()]
    return present or list(course.stages)


def needs_torch(specs: Iterable[Any]) -> bool:
    return any("torch" in (getattr(s, "requires", None) or []) for s in specs)


def grade_report(submission: Path, course_root: Optional[Path], specs: Sequence[StageSpec], *,
                 seed: Optional[int] = None, lang: str = "en", run_as: Optional[str] = None) -> Report:
    """Grade `submission` for `specs` with the engine.

    `run_as` names the user the uid sandbox runs student code as (Gradescope's ``student``);
    without it each submission's sandbox has a uid of its own."""
    from grader.engine import Grader

    with Grader(course=course_root, seed=seed, lang=lang) as g:
        if run_as:
            set_run_as(g.sandbox, run_as, lang)
        return g.grade(Path(submission), [s.slug for s in specs])


def set_run_as(sandbox: Any, user: str, lang: str = "en") -> None:
    """The uid sandbox runs submissions as `user`; bubblewrap needs no user (it says so)."""
    from grader.messages import t
    from grader.sandbox import uid_backend

    if getattr(sandbox, "backend", None) != "uid":
        print(t(lang, "run_as_bwrap", user=user), file=sys.stderr)
        return
    uid = uid_backend.user_uid(user)
    if uid is None:
        print(t(lang, "run_as_missing", user=user), file=sys.stderr)
        return
    sandbox.run_as = uid
