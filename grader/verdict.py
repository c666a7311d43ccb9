"""The verdicts: what a report says about each case, each stage and the whole submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from grader import __version__


@dataclass
class CaseResult:
    name: str
    status: str  # passed | failed | error | timeout
    score: float
    max_score: float
    hidden: bool
    message: str
    hint: Optional[str] = None
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # inputs, expected, got, traceback, output

    def to_dict(self, details: bool = False) -> dict:
        out = {
            "name": self.name, "status": self.status, "score": self.score, "max_score": self.max_score,
            "hidden": self.hidden, "message": self.message, "hint": self.hint,
            "duration_s": round(self.duration_s, 6),
        }
        if details:
            out["details"] = self.details
        return out


@dataclass
class StageResult:
    number: int
    slug: str
    title: str
    status: str  # passed | failed | error
    score: float
    max_score: float
    message: str
    duration_s: float = 0.0
    run_s: float = 0.0  # time spent inside the submission's code
    cases: list[CaseResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # file, output, warnings, peak memory

    def to_dict(self, details: bool = False) -> dict:
        out = {
            "number": self.number, "slug": self.slug, "title": self.title, "status": self.status,
            "score": self.score, "max_score": self.max_score, "message": self.message,
            "duration_s": round(self.duration_s, 6), "run_s": round(self.run_s, 6),
            "cases": [c.to_dict(details) for c in self.cases],
        }
        if details:
            out["details"] = self.details
        return out


@dataclass
class Report:
    submission: str
    course: str
    seed: int
    lang: str
    stages: list[StageResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said once under the summary (e.g. a kit's limits)

    @property
    def score(self) -> float:
        return round(sum(s.score for s in self.stages), 6)

    @property
    def max_score(self) -> float:
        return round(sum(s.max_score for s in self.stages), 6)

    @property
    def full_marks(self) -> bool:
        return all(s.status == "passed" for s in self.stages)

    def to_dict(self, details: bool = False) -> dict:
        return {
            "submission": self.submission, "course": self.course, "seed": self.seed,
            "score": self.score, "max_score": self.max_score, "lang": self.lang,
            "grader_version": __version__,
            "stages": [s.to_dict(details) for s in self.stages],
            "notes": list(self.notes),
        }
