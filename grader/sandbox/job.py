"""What the grader asks of a sandbox and what comes back: a run's job, its limits, its outcome."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

OUTPUT_CAP = 1 << 20  # bytes of stdout+stderr a run may print before it is stopped
OUTPUT_KEEP = 16 << 10  # bytes of it kept for the report, per case and for the import
COPY_CAP = 50 << 20  # a submission folder larger than this is refused
PIDS_MAX = 64  # processes a sandbox may hold at once
MEMORY_SLACK = 64 << 20  # bytes a sandbox may use above its fork server's baseline plus the stage's limit
RECORDS_CAP = 16 << 20  # bytes of JSON records a run may send back
ERROR_CAP = 64 << 10


DEMOTE_CPU_S = 2.0  # CPU-seconds after which a submission's run steps aside (GRADE_DEMOTE_CPU_S)


def demote_after() -> float:
    """CPU-seconds after which a submission's run drops to idle priority and frees its worker."""
    try:
        return max(0.0, float(os.environ.get("GRADE_DEMOTE_CPU_S", DEMOTE_CPU_S)))
    except ValueError:
        return DEMOTE_CPU_S


def wall_backstop(limits: "Limits") -> float:
    """Wall seconds after which a run is stopped whatever it did: its limit counts its own time (CPU,
    and wall time less the time it waited for a CPU), and a run at idle priority may wait for the
    CPU a long while, so this is wide."""
    return 10 * limits.time_s + 30


class SandboxError(Exception):
    """The grader could not run the job at all (not the submission's fault)."""


@dataclass
class Limits:
    time_s: float
    memory_mb: int
    output_bytes: int = OUTPUT_CAP
    result_bytes: int = 256 << 20


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
