"""The verdicts: what a report says about each case, each stage and the whole submission.

Typed: a `Status` enum (str-valued, so the JSON stays plain strings), real fields for what
the engine and the overview read (`missing_name`, `mistake`), and `details` only for what a
person reads (inputs, expected, got, traceback, printed output). `to_dict`/`from_dict` are
the JSON contract of ``grade --format json`` (README) and of the batch cache.
"""

from __future__ import annotations

import shlex
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
    not_started: bool = False           # the student's function still raises NotImplementedError
    near_miss: Optional[str] = None     # what the file defines instead of missing_name (`sigmiod`)

    @property
    def unstarted(self) -> bool:
        """Nothing of the student's own yet: a function not started, or not defined at all (a
        misspelt one, `sigmiod` for `sigmoid`, is work in progress)."""
        return self.not_started or (self.missing_name is not None and self.near_miss is None)

    def __post_init__(self) -> None:
        self.status = Status.of(self.status)

    def to_dict(self, details: bool = False) -> dict:
        out = {
            "name": self.name, "status": self.status.value, "score": self.score, "max_score": self.max_score,
            "hidden": self.hidden, "message": self.message, "hint": self.hint,
            "duration_s": round(self.duration_s, 6),
        }
        if self.not_started:
            out["not_started"] = True
        if self.missing_name is not None:
            out["missing_name"] = self.missing_name
        if self.near_miss:
            out["near_miss"] = self.near_miss
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
                   details=det, mistake=mistake if isinstance(mistake, str) else None,
                   not_started=bool(d.get("not_started")),
                   missing_name=d.get("missing_name") if isinstance(d.get("missing_name"), str) else None,
                   near_miss=d.get("near_miss") if isinstance(d.get("near_miss"), str) else None)


class Progress(str, Enum):
    """How far a student got with a stage: what the summary counts."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    NOT_STARTED = "not_started"

    def __str__(self) -> str:
        return self.value


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
    hint: Optional[str] = None  # a known mistake seen in the stage's own error (an import failure), shown labelled
    run_s: float = 0.0  # time spent inside the submission's code
    wait_s: float = 0.0  # time spent waiting: for the submission's sandbox (its other stages), for the reference
    cases: list[CaseResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # file, output, warnings, peak memory
    unstarted: bool = False  # nothing to grade yet (no file for a stage asked for)
    grader_fault: bool = False  # not run for a reason of the grader's (reference, sandbox, a missing library)

    def __post_init__(self) -> None:
        self.status = Status.of(self.status)

    @property
    def progress(self) -> Progress:
        """Done (full marks), not started (every case unstarted, or no file), else in progress."""
        if self.status == Status.PASSED:
            return Progress.DONE
        if self.unstarted or (self.cases and all(c.unstarted for c in self.cases)):
            return Progress.NOT_STARTED
        return Progress.IN_PROGRESS

    def to_dict(self, details: bool = False) -> dict:
        out = {
            "number": self.number, "slug": self.slug, "title": self.title, "status": self.status.value,
            "score": self.score, "max_score": self.max_score, "message": self.message, "hint": self.hint,
            "duration_s": round(self.duration_s, 6), "run_s": round(self.run_s, 6), "wait_s": round(self.wait_s, 6),
            "progress": self.progress.value, "cases": [c.to_dict(details) for c in self.cases],
        }
        if self.unstarted:
            out["unstarted"] = True
        if self.grader_fault:
            out["grader_fault"] = True
        if details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StageResult":
        return cls(number=d.get("number"), slug=str(d.get("slug") or ""), title=str(d.get("title") or ""),
                   status=Status.of(d.get("status")), score=_f(d.get("score")), max_score=_f(d.get("max_score")),
                   message=str(d.get("message") or ""), duration_s=_f(d.get("duration_s")),
                   hint=d.get("hint") if isinstance(d.get("hint"), str) else None,
                   run_s=_f(d.get("run_s")), wait_s=_f(d.get("wait_s")), cases=[CaseResult.from_dict(c) for c in d.get("cases") or []],
                   details=dict(d.get("details") or {}), unstarted=bool(d.get("unstarted")),
                   grader_fault=bool(d.get("grader_fault")))


@dataclass
class Report:
    submission: str
    course: str
    seed: Optional[int]
    lang: str
    stages: list[StageResult] = field(default_factory=list)
    grader_version: str = __version__
    notes: list[str] = field(default_factory=list)  # said once under the summary (e.g. a kit's limits)
    reproduce: str = ""  # the command that reruns this grading as printed (set by the CLI)
    course_hash: str = ""  # the content hash of the course that graded it (grader/course/digest.py)
    sandbox: str = ""  # the sandbox the submission ran in: "bwrap", "uid" or "none" (grader/sandbox/isolation.py)

    @property
    def score(self) -> float:
        return round(sum(s.score for s in self.stages), 6)

    @property
    def max_score(self) -> float:
        return round(sum(s.max_score for s in self.stages), 6)

    @property
    def full_marks(self) -> bool:
        return all(s.status == Status.PASSED for s in self.stages)

    def progress_counts(self) -> dict[Progress, int]:
        """How many stages are done, in progress, not started (every key present)."""
        counts = {p: 0 for p in Progress}
        for stage in self.stages:
            counts[stage.progress] += 1
        return counts

    def reproduce_command(self) -> str:
        """The shell command that grades the same stages with the same seed, as it can be pasted."""
        if self.reproduce:
            return self.reproduce
        return command_line(self.submission or ".", [s.number for s in self.stages], self.seed)

    def to_dict(self, details: bool = False) -> dict:
        return {
            "submission": self.submission, "course": self.course, "course_hash": self.course_hash, "seed": self.seed,
            "reproduce": self.reproduce_command(),
            "score": self.score, "max_score": self.max_score, "lang": self.lang,
            "grader_version": self.grader_version,
            "stages": [s.to_dict(details) for s in self.stages],
            "notes": list(self.notes),
            "sandbox": self.sandbox,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Report":
        """The report `to_dict` wrote. A "reproduce" that only says what `reproduce_command` derives
        is not kept: it follows the report's submission and stages as they are later set (a cluster
        worker's temporary folder becomes the student's path, the stages not handed in are added)."""
        report = cls(submission=str(d.get("submission") or ""), course=str(d.get("course") or ""),
                     seed=d.get("seed"), lang=str(d.get("lang") or "en"),
                     stages=[StageResult.from_dict(s) for s in d.get("stages") or []],
                     grader_version=str(d.get("grader_version") or __version__),
                     notes=[str(n) for n in d.get("notes") or []],
                     course_hash=str(d.get("course_hash") or ""), sandbox=str(d.get("sandbox") or ""))
        given = str(d.get("reproduce") or "")
        report.reproduce = "" if given == report.reproduce_command() else given
        return report


def stage_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3,5": what `--stage` reads back."""
    nums = sorted(set(int(n) for n in numbers))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)


def command_line(submission: str, stages: list[int], seed: Optional[int], extra: tuple[str, ...] = ()) -> str:
    """`grade PATH --stage 1-3 --seed N ...`, every word quoted for a POSIX shell."""
    words = ["grade", submission]
    if stages:
        words += ["--stage", stage_ranges(stages)]
    if seed is not None:
        words += ["--seed", str(seed)]
    return " ".join(shlex.quote(w) for w in [*words, *extra])


def _f(x: Any) -> float:
    try:
        return float(x or 0)
    except (TypeError, ValueError):
        return 0.0


@dataclass
class CaseVerdict:
    """One case's verdict told on its own (`Grader.grade(on_case=)`, `grade serve` streams them):
    its stage, its place among the stage's cases, and whether it came while the run went on
    (else from the stage's result, when the stage could not be told case by case)."""

    stage: int
    slug: str
    index: int
    case: CaseResult
    streamed: bool = True

    def to_dict(self, details: bool = False) -> dict:
        return {"stage": self.stage, "slug": self.slug, "index": self.index, "streamed": self.streamed,
                "case": self.case.to_dict(details)}
