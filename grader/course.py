"""A course folder: stage specs, drivers, support files, reference and template workspaces."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from grader.spec import SpecError, StageSpec, load_spec

ENV_VAR = "GRADE_COURSE"
PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_course() -> Path:
    """The course shipped with the package: the checkout's root, or the copy inside a wheel."""
    checkout = PACKAGE_DIR.parent
    if (checkout / "stages").is_dir() and (checkout / "reference").is_dir():
        return checkout
    return PACKAGE_DIR / "_course"


@dataclass(frozen=True)
class Course:
    root: Path
    stages: tuple[StageSpec, ...]

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def template(self) -> Path:
        return self.root / "student_template"

    def support_file(self, name: str) -> Path:
        return self.root / "stages" / "support" / name

    def driver_file(self, spec: StageSpec) -> Optional[Path]:
        return self.root / "stages" / "drivers" / spec.driver if spec.driver else None

    def find(self, ref: Union[str, int]) -> StageSpec:
        """A stage by number (``6``, ``"06"``) or slug (``"steepest-descent"``)."""
        text = str(ref).strip()
        for spec in self.stages:
            if (text.isdigit() and int(text) == spec.number) or text == spec.slug:
                return spec
        known = ", ".join(f"{s.number} ({s.slug})" for s in self.stages)
        raise KeyError(f"unknown stage {text!r}; the course has: {known}")

    def select(self, refs: Iterable[Union[str, int]]) -> list[StageSpec]:
        """The stages named by `refs`, in the order given, each once: numbers, slugs,
        comma- or space-separated lists (``"1,2 tanh"``) and ranges (``"1-3"``).
        Raises KeyError (one line for the user) for an unknown stage."""
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


def load_course(path: Union[str, Path, None] = None) -> Course:
    """Load every ``stages/*.yaml`` of a course; raise SpecError for anything broken."""
    root = Path(path or os.environ.get(ENV_VAR) or bundled_course()).resolve()
    folder = root / "stages"
    if not folder.is_dir():
        raise SpecError(f"{root}: not a course folder (no stages/ folder inside)")
    specs = [load_spec(p) for p in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))]
    if not specs:
        raise SpecError(f"{folder}: no stage specs (*.yaml) found")
    _check_course(root, specs)
    return Course(root=root, stages=tuple(sorted(specs, key=lambda s: s.number)))


def _check_course(root: Path, specs: list[StageSpec]) -> None:
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
        if not (root / "reference" / spec.file).is_file():
            raise SpecError(f"{where}: file: reference/{spec.file} does not exist (every stage needs a reference solution)")
