"""Accepted answers: files a student may hand in for a stage, each with the score it must get.

They live with the course, beside the specs: ``stages/accepted/<slug>/answers.yaml`` lists the
answers of stage `<slug>` (files in the same folder: the answers the course's platform accepted,
right-but-different ones such as ``np.heaviside`` steps, float32 or sympy implementations):

    - file: seed002.py
      about: seed 002's worked answer, as the course's platform accepted it
      score: 8                      # the points it must get (omitted: full marks)
      loses:                        # the cases it loses on purpose, each with words its
        large-magnitudes: "inf/inf" # message or hint must hold (the mistake named)

``grade check-course`` grades every answer (``check``) and reports a finding for any that scores
other than declared, loses another case, or loses a case without the declared words. They are
the instructor's: ``grade release`` never puts them in a student kit.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from grader.authoring.sentences import lt
from grader.course.folder import Course
from grader.course.spec import SpecError, StageSpec, read_yaml
from grader.verdict import StageResult

FOLDER = "accepted"
MANIFEST = "answers.yaml"


@dataclass(frozen=True)
class Answer:
    slug: str
    path: Path
    about: str = ""
    score: Optional[float] = None  # None: full marks
    loses: dict[str, str] = field(default_factory=dict)  # case -> words its message or hint holds

    @property
    def name(self) -> str:
        return f"{self.slug}/{self.path.name}"


def folder(course: Course) -> Path:
    return course.root / "stages" / FOLDER


def _answer(slug: str, where: Path, entry: Any) -> Answer:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise SpecError(f"{where}: each answer is a mapping with a `file`")
    path = where.parent / entry["file"]
    if path.parent != where.parent or not path.is_file():
        raise SpecError(f"{where}: {entry['file']!r} is not a file of {where.parent.name}/")
    loses = entry.get("loses") or {}
    score = entry.get("score")
    if not isinstance(loses, dict) or not all(isinstance(v, str) for v in loses.values()) \
            or (score is not None and not isinstance(score, (int, float))):
        raise SpecError(f"{where}: {entry['file']}: `score` is a number and `loses` maps case names to words")
    return Answer(slug, path, str(entry.get("about") or ""), None if score is None else float(score),
                  {str(k): v for k, v in loses.items()})


def load(course: Course) -> dict[str, list[Answer]]:
    """Every stage's accepted answers (slug -> answers); SpecError for a broken manifest."""
    out: dict[str, list[Answer]] = {}
    slugs = {s.slug for s in course.stages}
    for manifest in sorted(folder(course).glob(f"*/{MANIFEST}")):
        slug = manifest.parent.name
        if slug not in slugs:
            raise SpecError(f"{manifest}: no stage has the slug {slug!r}")
        entries = read_yaml(manifest) or []
        if not isinstance(entries, list):
            raise SpecError(f"{manifest}: a list of answers is expected")
        out[slug] = [_answer(slug, manifest, e) for e in entries]
    return out


def grade(grader: Any, spec: StageSpec, answer: Answer) -> StageResult:
    """The answer graded as the student's file of its stage, in a workspace of its own."""
    with tempfile.TemporaryDirectory(prefix="grade-accepted-") as tmp:
        work = Path(tmp) / "submission"
        work.mkdir()
        shutil.copyfile(answer.path, work / spec.file)
        return grader.grade_stage(work, spec)


def findings(answer: Answer, result: StageResult, lang: str) -> list[str]:
    """What differs from what the manifest declares (empty: the answer scores as declared)."""
    want = result.max_score if answer.score is None else answer.score
    lost = {c.name: c for c in result.cases if c.status != "passed"}
    out = []
    if abs(result.score - want) > 1e-9 or set(lost) != set(answer.loses):
        first = next((c for n, c in lost.items() if n not in answer.loses), None)
        why = f"{first.name}: {first.message}" if first else \
            ", ".join(sorted(set(answer.loses) - set(lost))) or result.message
        out.append(lt(lang, "accepted_score", answer=answer.name, got=result.score, max=result.max_score,
                      want=want, why=why))
    for name, words in answer.loses.items():
        case = lost.get(name)
        if case is not None and words not in f"{case.message}\n{case.hint or ''}":
            out.append(lt(lang, "accepted_words", answer=answer.name, case=name, words=words, msg=case.message))
    return out
