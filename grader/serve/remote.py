"""Grading a service's submissions on the Dask cluster of `grade batch --scheduler`.

`ClusterGrader` stands where the worker's local Grader stands (course, lang, grade): the
submission folder travels as zip bytes to grader.batch.cluster.grade_submission, which
grades it with the cluster worker's warm Grader (same course and grader checked by
fingerprint first). The stage verdicts come back together, when the task ends (then each
case's, before its stage's).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from grader.course.folder import load_course
from grader.verdict import CaseVerdict, Report, StageResult

TASK_TIMEOUT_S = 600


class ClusterGrader:
    def __init__(self, address: str, course_dir: Optional[str], seed: int, lang: str):
        from grader.batch import cluster

        self.course = load_course(course_dir)
        self.seed, self.lang = seed, lang
        self.client = cluster.connect(address, lang)
        self.expect = cluster.check_workers(self.client, self.course.root, lang)

    def __enter__(self) -> "ClusterGrader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.close()

    def grade(self, folder: Path, stages: Sequence[int], on_stage: Optional[Callable[[StageResult], None]] = None,
              on_case: Optional[Callable[[CaseVerdict], None]] = None) -> Report:
        """The stages graded on the cluster; their cases are told (`on_case`) when the task ends,
        each before its stage (the cluster's task streams nothing back while it runs)."""
        from grader.batch import cluster

        request = {"course_dir": str(self.course.root), "seed": self.seed, "lang": self.lang,
                   "stages": [int(s) for s in stages], "expect": self.expect}
        future = self.client.submit(cluster.grade_submission, cluster.pack(folder), request, pure=False)
        out = json.loads(future.result(timeout=TASK_TIMEOUT_S))
        if "done" not in out:
            raise RuntimeError(out.get("crash") or out.get("refused") or f"worker {out.get('worker')} differs")
        report = Report.from_dict(out["done"])  # the report with details (grader.batch.cluster.grade_submission)
        for stage in report.stages:
            for index, case in enumerate(stage.cases if on_case is not None else []):
                on_case(CaseVerdict(stage.number, stage.slug, index, case, streamed=False))
            if on_stage is not None:
                on_stage(stage)
        return report
