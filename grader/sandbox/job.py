"""What the grader asks of a sandbox and what comes back: a run's job, its limits, its outcome."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from grader.contents import Contents
from grader.limits import PLATFORM, Limits

# The platform's caps, read from the one record (grader/limits.py); a job carries its stage's own.
OUTPUT_KEEP = PLATFORM.output_keep_bytes
COPY_CAP = PLATFORM.copy_bytes
PIDS_MAX = PLATFORM.pids
MEMORY_SLACK = PLATFORM.memory_slack_bytes
ERROR_CAP = PLATFORM.error_bytes


DEMOTE_CPU_S = PLATFORM.step_aside_cpu_s


def demote_after() -> float:
    """CPU-seconds after which a submission's run drops to idle priority and frees its worker
    (the platform's `step_aside_cpu_s`, or `$GRADE_DEMOTE_CPU_S`)."""
    try:
        return max(0.0, float(os.environ.get("GRADE_DEMOTE_CPU_S", DEMOTE_CPU_S)))
    except ValueError:
        return DEMOTE_CPU_S


def wall_backstop(limits: "Limits") -> float:
    """Wall seconds after which a run is stopped whatever it did: its limit counts its own time (CPU,
    and wall time less the time it waited for a CPU), and a run at idle priority may wait for the
    CPU a long while, so this is wide."""
    return limits.backstop_factor * limits.time_s + limits.backstop_extra_s


class SandboxError(Exception):
    """The grader could not run the job at all (not the submission's fault)."""


@dataclass
class Job:
    """One run: a module file of a workspace, and the calls to make on it."""

    source: Path  # the workspace folder to copy
    file: str  # the module to import, e.g. "metrics.py"
    cases: list[dict]  # {"key", "call", "seed", "inputs": encoded tree, "mistakes": {name: expr}}
    limits: Limits
    seed: int
    trusted: bool = False  # the reference: no audit hook, no privilege drop
    support: list[Path] = field(default_factory=list)
    driver_source: Optional[str] = None
    requires: tuple[str, ...] = ()  # modules the stage needs (torch, sympy); the reference's server preloads them
    inputs_key: Optional[str] = None  # runs with the same key share one copy of the inputs
    forbidden: list[Path] = field(default_factory=list)
    contents: Optional[Contents] = None  # the submission's one walk (made from `source` when None)
    module_text: Optional[str] = None  # `file` as the run imports it, read once (grader/sources.py)
    stage: str = ""  # the stage's slug, for `grade batch --profile` (Sandbox.stats["stages"])


@dataclass
class Outcome:
    """What a run left: import result, per-case records, how it ended, its output."""

    imported: Optional[dict]
    cases: dict[str, dict]
    killed: Optional[str]  # "timeout" | "memory" | "output" | None
    exit_code: Optional[int]
    signal: Optional[int]
    wall_s: float
    cpu_s: float
    peak_mb: float
    output: str
    runner_error: Optional[str] = None
    missing_file: bool = False
    timeline: dict = field(default_factory=dict)  # wall-clock marks of the run's phases
    queued_s: float = 0.0  # time the run waited for its sandbox (busy with the submission's other stages)

    def output_between(self, start: Optional[int], end: Optional[int]) -> str:
        if start is None:
            return ""
        chunk = self._raw[start:end] if end is not None else self._raw[start:]
        return chunk[:OUTPUT_KEEP].decode("utf-8", errors="replace")

    _raw: bytes = b""
