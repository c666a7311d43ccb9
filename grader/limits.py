"""Every cap the grader puts on a submission, in one record: `Limits`, with the platform's defaults.

A stage overrides the fields marked per-stage in its YAML (``limits: {time_s: 60, output_bytes:
2097152}``), validated by the spec loader like any other field (file and field in the error); the
others hold for the whole platform. ``PLATFORM`` is the record with every default; a stage's own
record is ``spec.limits``, and the sandbox receives it with each job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _stage(default: float, doc: str) -> Any:
    """A cap a stage may set in its YAML (a positive number)."""
    return field(default=default, metadata={"gt": 0, "doc": doc})


def _platform(default: int, doc: str) -> Any:
    """A cap of the platform: not read from a stage's YAML."""
    return field(default=default, metadata={"parse": False, "doc": doc})


@dataclass(frozen=True)
class Limits:
    """The caps of one run of a stage (per-stage fields) and of the platform (the others)."""

    # per stage (YAML `limits:`)
    time_s: float = _stage(20.0, "seconds of the run's own time for the whole stage run (import and every case): "
                                 "its CPU-seconds, and its wall time less the time it waited for a CPU")
    memory_mb: int = _stage(1024, "MiB of memory above the fork server's baseline")
    output_bytes: int = _stage(1 << 20, "bytes of stdout+stderr a run may print before it is stopped")
    output_keep_bytes: int = _stage(16 << 10, "bytes of the printed output kept for the report, per case and import")
    result_bytes: int = _stage(256 << 20, "bytes of arrays a run may send back")
    records_bytes: int = _stage(16 << 20, "bytes of JSON records a run may send back")
    # the platform's
    error_bytes: int = _platform(64 << 10, "bytes of the child's own error report")
    copy_bytes: int = _platform(50 << 20, "bytes of a submission folder; a larger one is refused, a larger file left out")
    entries: int = _platform(10_000, "files and folders of a submission the grader looks at; more is refused")
    source_bytes: int = _platform(8 << 20, "bytes of one student file the grader reads (notes, cache keys)")
    pids: int = _platform(64, "processes a sandbox may hold at once")
    memory_slack_bytes: int = _platform(64 << 20, "bytes a sandbox may use above its baseline plus memory_mb")
    work_tmpfs_bytes: int = _platform(512 << 20, "bytes of the writable /work of one sandbox")
    tmp_tmpfs_bytes: int = _platform(64 << 20, "bytes of the writable /tmp of one sandbox")
    zip_members: int = _platform(2000, "files in one student's .zip")
    zip_file_bytes: int = _platform(20 << 20, "bytes of one file unpacked from a student's .zip")
    zip_total_bytes: int = _platform(100 << 20, "bytes unpacked from one student's .zip")
    step_aside_cpu_s: float = _platform(1.0, "CPU-seconds after which a submission's run drops to idle priority "
                                             "and frees its batch worker ($GRADE_DEMOTE_CPU_S)")
    backstop_factor: int = _platform(10, "a run is stopped past this many times its time_s of wall-clock time ...")
    backstop_extra_s: int = _platform(30, "... plus these seconds, whatever its own time (docs/sandbox.md)")


PLATFORM = Limits()


def stage_fields() -> list[str]:
    """The names a stage's YAML may set under `limits:`."""
    return [f.name for f in fields(Limits) if f.metadata.get("parse", True)]
