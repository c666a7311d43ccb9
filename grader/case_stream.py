"""Verdicts case by case: each case of a stage told as soon as the run has sent its records,
judged by the same pure code as the stage's result (grader/judging/judge.py `finished_cases`).

The engine makes one `CaseStream` per stage graded with `Grader.grade(on_case=)`. While the
run goes on, `listen` hears the run so far (grader/sandbox/records.py `Streamed`) and tells the
cases that are complete, in order. When the stage is judged, `finish` tells the cases not told
yet from its result: a stage that cannot stream (its import failed, original forms, the
reference not ready, a listener that failed) is told whole at its end, never wrongly. Each
case is told once; the stage's result stays the authoritative one.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable

from grader.course.spec import StageSpec
from grader.sandbox.job import Outcome
from grader.verdict import CaseResult, CaseVerdict, StageResult

OnCase = Callable[[CaseVerdict], None]
# (expected records, the run so far, the first case not told) -> the cases finished from there on
Judge = Callable[[object, Outcome, int], list[CaseResult]]


class CaseStream:
    def __init__(self, spec: StageSpec, on_case: OnCase):
        self.spec, self.on_case = spec, on_case
        self.told = 0
        self.stopped = False  # nothing more is told while the run goes on
        self._lock = threading.Lock()

    def listen(self, reference: Future, judge: Judge) -> Callable[[Outcome], None]:
        """What the sandbox calls with the run so far (from the thread that reads the run). Until the
        reference's records are there, the run so far waits; they tell it when they come (never
        blocking the thread that reads the run)."""
        latest: list[Outcome] = []

        def tell_finished() -> None:
            with self._lock:
                if self.stopped or not latest or not reference.done():
                    return
                expected = reference.result()
                if getattr(expected, "error", None):
                    self.stopped = True
                    return
                try:
                    for case in judge(expected, latest[-1], self.told):
                        self._tell(case, True)
                except Exception:  # told at the stage's end instead (where a failure is not hidden)
                    self.stopped = True

        def heard(outcome: Outcome) -> None:
            with self._lock:
                latest[:] = [outcome]
            tell_finished()
        reference.add_done_callback(lambda _done: tell_finished())
        return heard

    def finish(self, result: StageResult) -> None:
        """The stage is judged: its cases not told yet, from its result."""
        with self._lock:
            self.stopped = True
            for case in result.cases[self.told:]:
                self._tell(case, False)

    def _tell(self, case: CaseResult, streamed: bool) -> None:
        self.on_case(CaseVerdict(self.spec.number, self.spec.slug, self.told, case, streamed))
        self.told += 1
