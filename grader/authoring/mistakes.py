"""Known mistakes applied to the reference: each one's hint must appear.

A mistake with a ``value`` (a wrong formula) is applied through a copy of the course in
which every such mistake becomes its own case whose call is
``_lint_answer(lambda: CALL, lambda: VALUE, OUTPUT, NAMES)``. The copy's reference defines
``_lint_answer`` to return the right answer; the graded workspace (the reference plus a
``_lint_answer`` that returns the mistake's value) therefore answers exactly the mistake, and
its verdict must carry the mistake's hint. Mistakes given as an error pattern are checked
by the mutants instead (grader/authoring/check_course.py).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from grader.course.folder import Course
from grader.engine import Grader
from grader.authoring.sentences import lt
from grader.course.spec import Case, StageSpec

RIGHT = '''

def _lint_answer(right, wrong, output, names):  # added by grade check-course
    return right()
'''

WRONG = '''

def _lint_answer(right, wrong, output, names):  # added by grade check-course
    if output is None:
        return wrong()
    value, bad = right(), wrong()
    if isinstance(value, dict):
        return {**value, output: bad}
    value = list(value)
    value[names.index(output)] = bad
    return tuple(value)
'''


def _mistake_cases(spec: StageSpec) -> list[tuple[Case, Case, str]]:
    """(derived case, original case, mistake name) for every value mistake of the stage."""
    out = []
    for case in spec.cases:
        names = [o.name for o in case.outputs]
        for k, mistake in enumerate(m for m in case.mistakes if m.value is not None):
            output = mistake.output if len(names) > 1 else None
            call = f"_lint_answer(lambda: ({case.call}), lambda: ({mistake.value}), {output!r}, {names!r})"
            derived = dataclasses.replace(case, name=f"{case.name}-m{k}", call=call, repeat=1, hint=None)
            out.append((derived, case, mistake.name))
    return out


def check_value_mistakes(course: Course, specs: list[StageSpec], seed: int, lang: str,
                         session: Callable[[Course, int], Grader], checks: dict[str, Any]) -> None:  # checks: slug -> StageCheck
    plans = {s.slug: _mistake_cases(s) for s in specs}
    plans = {slug: plan for slug, plan in plans.items() if plan}
    if not plans:
        return
    with tempfile.TemporaryDirectory(prefix="grade-mistakes-") as tmp:
        root, work = Path(tmp) / "course", Path(tmp) / "work"
        derived = _derived_course(course, [s for s in specs if s.slug in plans], plans, root, work)
        with session(derived, seed) as grader:
            report = grader.grade(work, [s.slug for s in derived.stages])
    for stage in report.stages:
        for verdict, (_, case, name) in zip(stage.cases, plans[stage.slug]):
            mistake = next(m for m in case.mistakes if m.name == name)
            if verdict.status == "passed":
                checks[stage.slug].findings.append(lt(lang, "mistake_passes", mistake=name, case=case.name))
            elif verdict.hint != mistake.hint.get(lang):
                checks[stage.slug].findings.append(lt(lang, "mistake_no_hint", mistake=name, case=case.name,
                                                      hint=verdict.hint or "-"))


def _derived_course(course: Course, specs: list[StageSpec], plans: dict, root: Path, work: Path) -> Course:
    """A copy of the course (in root) whose stages hold only the mistake cases, and the workspace
    (work) that answers each mistake."""
    shutil.copytree(course.root / "stages", root / "stages")
    for folder in (root / "reference", work):
        shutil.copytree(course.reference, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for spec in specs:
        for folder, helper in ((root / "reference", RIGHT), (work, WRONG)):
            with open(folder / spec.file, "a", encoding="utf-8") as fh:
                fh.write(helper)
    derived = [dataclasses.replace(spec, cases=[d for d, _, _ in plans[spec.slug]]) for spec in specs]
    return Course(root=root, stages=tuple(derived))
