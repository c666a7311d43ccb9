"""A course folder: stage specs, drivers, support files, reference and template workspaces.

The grader package holds no course. A course is found, in this order: ``--course DIR``,
``$GRADE_COURSE``, a student kit around the current folder or the submission (a folder holding
``kit.json``, never one at or below the submission itself,
see grader/course/kit.py), and, when the grader runs from a source checkout, the checkout's own
example course. A student kit is a course without ``reference/``: its expected values are
frozen in ``frozen/`` and ``Course.frozen`` points there.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from grader import PACKAGE_DIR
from grader.errors import UnknownStage
from grader.course.spec import SpecError, StageSpec, load_spec

ENV_VAR = "GRADE_COURSE"
KIT_FILE = "kit.json"
FROZEN_DIR = "frozen"


def checkout_course() -> Optional[Path]:
    """The example course of the source checkout the grader runs from, if it does."""
    checkout = PACKAGE_DIR.parent
    if (checkout / "stages").is_dir() and (checkout / "reference").is_dir() and (checkout / "grader").is_dir():
        return checkout
    return None


def platform_folder(root: Optional[Path]) -> Optional[Path]:
    """A course's ``stages/platform/`` (None without a course)."""
    return root / "stages" / "platform" if root is not None else None


def bundled_course() -> Path:
    """Kept for callers that forbid the example course's folders: the checkout, or a path that does not exist."""
    return checkout_course() or PACKAGE_DIR / "_no_course"


def find_kit(start: Union[str, Path, None]) -> Optional[Path]:
    """The student kit that holds `start` (a submission or workspace folder), if any."""
    if start is None:
        return None
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / KIT_FILE).is_file() and (folder / "stages").is_dir():
            return folder
    return None


def student_kit(submission: Union[str, Path, None]) -> Optional[Path]:
    """The kit around the current folder, else around the submission; never one the
    submission supplies itself (a kit at or below the submission folder could hold any
    "expected" values and points): SpecError then, so no grade is forged."""
    from grader.messages import t

    kit = find_kit(Path.cwd()) or find_kit(submission)
    if kit is None or submission is None:
        return kit
    own = Path(submission).resolve()
    if kit == own or own in kit.parents:
        raise SpecError(t(os.environ.get("GRADE_LANG", "en"), "kit_in_submission", kit=str(kit)))
    return kit


def course_root(path: Union[str, Path, None] = None, near: Union[str, Path, None] = None) -> Path:
    """Where the course is: see the module's docstring for the order; SpecError when nowhere."""
    from grader.messages import t

    chosen = path or os.environ.get(ENV_VAR) or student_kit(near) or checkout_course()
    if not chosen:
        raise SpecError(t(os.environ.get("GRADE_LANG", "en"), "no_course"))
    return Path(chosen).resolve()


@dataclass(frozen=True)
class Course:
    root: Path
    stages: tuple[StageSpec, ...]
    frozen: Optional[Path] = None  # a student kit: the reference's records, frozen at release
    kit_seed: Optional[int] = None  # the seed the public cases were drawn with at release

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def template(self) -> Path:
        return self.root / "student_template"

    def support_file(self, name: str) -> Path:
        return self.root / "stages" / "support" / name

    @property
    def platform(self) -> Path:
        """The original platform's files, at its paths (seen read-only in every run)."""
        return platform_folder(self.root)

    def standin_files(self) -> list[Path]:
        """The stand-ins (``stages/standins/*.py``: tensorflow, torchvision...) every run's working copy gets."""
        folder = self.root / "stages" / "standins"
        return sorted(folder.glob("*.py")) if folder.is_dir() else []

    def driver_file(self, spec: StageSpec) -> Optional[Path]:
        return self.root / "stages" / "drivers" / spec.driver if spec.driver else None

    def find(self, ref: Union[str, int]) -> StageSpec:
        """A stage by number (``6``, ``"06"``) or slug (``"steepest-descent"``)."""
        text = str(ref).strip()
        for spec in self.stages:
            if (text.isdigit() and int(text) == spec.number) or text == spec.slug:
                return spec
        raise UnknownStage(text, ", ".join(f"{s.number} ({s.slug})" for s in self.stages))

    def select(self, refs: Iterable[Union[str, int]]) -> list[StageSpec]:
        """The stages named by `refs`, in the order given, each once: numbers, slugs,
        comma- or space-separated lists (``"1,2 tanh"``) and ranges (``"1-3"``).
        Raises UnknownStage (a KeyError; ``words(lang)`` for the user) for an unknown stage."""
        chosen: list[StageSpec] = []
        for part in split_refs(refs):
            span = re.fullmatch(r"(\d+)-(\d+)", part)
            if span:
                lo, hi = int(span.group(1)), int(span.group(2))
                self.find(lo), self.find(hi)  # both ends must be stages
                specs = [s for s in self.stages if lo <= s.number <= hi]
            else:
                specs = [self.find(part)]
            chosen += [s for s in specs if s not in chosen]
        return chosen


def split_refs(refs: Iterable[Union[str, int]]) -> list[str]:
    """``["1 2", "3,tanh"]`` -> ``["1", "2", "3", "tanh"]``."""
    return [p for ref in refs or () for p in re.split(r"[\s,]+", str(ref)) if p]


def load_course(path: Union[str, Path, None] = None, near: Union[str, Path, None] = None) -> Course:
    """Load every ``stages/*.yaml`` of a course (or kit); raise SpecError for anything broken.

    `near`: a submission or workspace folder, to find the student kit it sits in.
    """
    root = course_root(path, near)
    folder = root / "stages"
    if not folder.is_dir():
        raise SpecError(f"{root}: not a course folder (no stages/ folder inside)")
    specs = [load_spec(p) for p in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))]
    if not specs:
        raise SpecError(f"{folder}: no stage specs (*.yaml) found")
    seed = _kit_seed(root)
    _check_course(root, specs, kit=seed is not None)
    return Course(root=root, stages=tuple(sorted(specs, key=lambda s: s.number)),
                  frozen=root / FROZEN_DIR if seed is not None else None, kit_seed=seed)


def _kit_seed(root: Path) -> Optional[int]:
    """The release seed of a student kit; None for a full course."""
    path = root / KIT_FILE
    if not path.is_file():
        return None
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"{path}: not a valid kit file ({exc})") from None


def _check_course(root: Path, specs: list[StageSpec], kit: bool = False) -> None:
    numbers: dict[int, Path] = {}
    slugs: dict[str, Path] = {}
    for spec in specs:
        where = spec.path
        if spec.number in numbers:
            raise SpecError(f"{where}: number: {spec.number} is already used by {numbers[spec.number].name}")
        if spec.slug in slugs:
            raise SpecError(f"{where}: slug: {spec.slug!r} is already used by {slugs[spec.slug].name}")
        numbers[spec.number], slugs[spec.slug] = where, where
        for name in spec.support:
            if not (root / "stages" / "support" / name).is_file():
                raise SpecError(f"{where}: support: stages/support/{name} does not exist")
        if spec.driver and not (root / "stages" / "drivers" / spec.driver).is_file():
            raise SpecError(f"{where}: driver: stages/drivers/{spec.driver} does not exist")
        if kit:
            if not (root / FROZEN_DIR / f"{spec.slug}.jsonl").is_file():
                raise SpecError(f"{where}: {FROZEN_DIR}/{spec.slug}.jsonl does not exist (the kit is incomplete)")
        elif not (root / "reference" / spec.file).is_file():
            raise SpecError(f"{where}: file: reference/{spec.file} does not exist (every stage needs a reference solution)")
