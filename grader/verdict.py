"""The verdicts: what a report says about each case, each stage and the whole submission.

Typed: a `Status` enum (str-valued, so the JSON stays plain strings), real fields for what
the engine and the overview read (`missing_name`, `mistake`), and `details` only for what a
person reads (inputs, expected, got, traceback, printed output). `to_dict`/`from_dict` are
the JSON contract of ``grade --format json`` (README) and of the batch cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Optional

from grader import __version__


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __hash__(self) -> int:  # equal to its string, so it finds "passed" in a dict
        return hash(self.value)

    @classmethod
    def of(cls, value: Any) -> "Status":
        """A status from JSON; anything unknown is an error."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.ERROR


@dataclass
class CaseResult:
    name: str
    status: Status
    score: float
    max_score: float
    hidden: bool
    message: str
    hint: Optional[str] = None
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # inputs, expected, got, traceback, output
    mistake: Optional[str] = None       # the known mistake this failure matches
    missing_name: Optional[str] = None  # the called name the file does not define

    def __post_init__(self) -> None:
        self.status = Status.of(self.status)

    def to_dict(self, details: bool = False) -> dict:
        out = {
            "name": self.name, "status": self.status.value, "score": self.score, "max_score": self.max_score,
            "hidden": self.hidden, "message": self.message, "hint": self.hint,
            "duration_s": round(self.duration_s, 6),
        }
        if details:
            out["details"] = {**self.details, **({"mistake": self.mistake} if self.mistake else {})}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CaseResult":
        det = dict(d.get("details") or {})
        mistake = det.pop("mistake", None) or d.get("mistake")
        return cls(name=str(d.get("name", "")), status=Status.of(d.get("status")), score=_f(d.get("score")),
                   max_score=_f(d.get("max_score")), hidden=bool(d.get("hidden")),
                   message=str(d.get("message") or ""), hint=d.get("hint"), duration_s=_f(d.get("duration_s")),
                   details=det, mistake=mistake if isinstance(mistake, str) else None)


@dataclass
class StageResult:
    number: int
    slug: str
    title: str
    status: Status  # passed | failed | error
    score: float
    max_score: float
    message: str
    duration_s: float = 0.0
    run_s: float = 0.0  # time spent inside the submission's code
    cases: list[CaseResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # file, output, warnings, peak memory

    def __post_init__(self) -> None:
        self.status = Status.of(self.status)

    def to_dict(self, details: bool = False) -> dict:
        out = {
            "number": self.number, "slug": self.slug, "title": self.title, "status": self.status.value,
            "score": self.score, "max_score": self.max_score, "message": self.message,
            "duration_s": round(self.duration_s, 6), "run_s": round(self.run_s, 6),
            "cases": [c.to_dict(details) for c in self.cases],
        }
        if details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StageResult":
        return cls(number=d.get("number"), slug=str(d.get("slug") or ""), title=str(d.get("title") or ""),
                   status=Status.of(d.get("status")), score=_f(d.get("score")), max_score=_f(d.get("max_score")),
                   message=str(d.get("message") or ""), duration_s=_f(d.get("duration_s")),
                   run_s=_f(d.get("run_s")), cases=[CaseResult.from_dict(c) for c in d.get("cases") or []],
                   details=dict(d.get("details") or {}))


@dataclass
class Report:
    submission: str
    course: str
    seed: Optional[int]
    lang: str
    stages: list[StageResult] = field(default_factory=list)
    grader_version: str = __version__
    notes: list[str] = field(default_factory=list)  # said once under the summary (e.g. a kit's limits)

    @property
    def score(self) -> float:
        return round(sum(s.score for s in self.stages), 6)

    @property
    def max_score(self) -> float:
        return round(sum(s.max_score for s in self.stages), 6)

    @property
    def full_marks(self) -> bool:
        return all(s.status == Status.PASSED for s in self.stages)

    def to_dict(self, details: bool = False) -> dict:
        return {
            "submission": self.submission, "course": self.course, "seed": self.seed,
            "score": self.score, "max_score": self.max_score, "lang": self.lang,
            "grader_version": self.grader_version,
            "stages": [s.to_dict(details) for s in self.stages],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Report":
        return cls(submission=str(d.get("submission") or ""), course=str(d.get("course") or ""),
                   seed=d.get("seed"), lang=str(d.get("lang") or "en"),
                   stages=[StageResult.from_dict(s) for s in d.get("stages") or []],
                   grader_version=str(d.get("grader_version") or __version__),
                   notes=[str(n) for n in d.get("notes") or []])


def _f(x: Any) -> float:
    try:
        return float(x or 0)
    except (TypeError, ValueError):
        return 0.0
