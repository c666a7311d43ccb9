"""Import once per submission: the stages that read the same file share its import outcome.

Stages 1-3 all import ``activation.py``. Of the stages a submission has for one file, the
one with the largest limits runs first (the file's *leader*); the others start once its run
has ended. When the leader's import failed (it raised, hung, crashed or crossed a limit),
that outcome stands for every other stage of the file whose limits are no larger: one run,
one limit spent, one message. When the import succeeded, the other stages run as usual.
Each stage keeps its own limits: a failure is reused only where it would have happened
under the stage's own limit.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import Future, as_completed
from typing import Callable, Optional, Sequence

from grader.sandbox.job import Outcome
from grader.course.spec import StageSpec


def import_failed(outcome: Outcome) -> bool:
    return outcome.imported is None or bool(outcome.imported.get("error"))


def _limits(spec: StageSpec) -> tuple[float, int]:
    return (spec.limits.time_s, spec.limits.memory_mb)


class ImportMemo:
    """One submission's failed imports: file -> (the stage that found it, its outcome)."""

    def __init__(self) -> None:
        self._failed: dict[str, tuple[StageSpec, Outcome]] = {}
        self._lock = threading.Lock()

    def record(self, spec: StageSpec, outcome: Outcome) -> None:
        if import_failed(outcome):
            with self._lock:
                self._failed.setdefault(spec.file, (spec, outcome))

    def run(self, spec: StageSpec, start: Callable[[], Outcome]) -> Outcome:
        """The failed import this stage would meet too, else the outcome of `start()` (recorded)."""
        shared = self.reuse(spec)
        if shared is not None:
            return shared[1]
        outcome = start()
        self.record(spec, outcome)
        return outcome

    def reuse(self, spec: StageSpec) -> Optional[tuple[StageSpec, Outcome]]:
        """The failed import this stage would meet too, with the stage that met it, or None."""
        with self._lock:
            found = self._failed.get(spec.file)
        if found is None or found[0].slug == spec.slug:
            return None
        leader, outcome = found
        if outcome.killed == "timeout" or outcome.signal == signal.SIGXCPU:
            return found if spec.limits.time_s <= leader.limits.time_s else None
        if outcome.killed == "memory":
            return found if spec.limits.memory_mb <= leader.limits.memory_mb else None
        return found  # raised, exited, crashed, flooded the output: the same under any limit


def leaders(specs: Sequence[StageSpec]) -> dict[str, StageSpec]:
    """Per file, the stage that imports it first: the largest limits, then the lowest number."""
    out: dict[str, StageSpec] = {}
    for spec in specs:
        best = out.get(spec.file)
        if best is None or _limits(spec) > _limits(best):
            out[spec.file] = spec
    return out


def run_by_file(specs: Sequence[StageSpec], submit: Callable[[StageSpec], Future]) -> list[Future]:
    """Start each file's leader now and the file's other stages once the leader has ended.

    Returns one future per stage, in the order of `specs`. The waiting happens in the
    calling thread, so a pool that runs the stages never waits on itself."""
    first = leaders(specs)
    futures: dict[str, Future] = {spec.slug: submit(spec) for spec in first.values()}
    file_of = {futures[spec.slug]: file for file, spec in first.items()}
    for done in as_completed(list(file_of)):
        for spec in specs:
            if spec.file == file_of[done] and spec.slug not in futures:
                futures[spec.slug] = submit(spec)
    return [futures[spec.slug] for spec in specs]
