"""The grading flow: spec -> cases -> sandboxed runs -> judge -> verdicts.

``Grader`` holds what a grading session shares: the course, the seed, the sandbox's fork
servers and the reference's results (computed once per stage and seed, outside the
student's process). ``Grader.grade`` is thread-safe; batch grading calls it from many
threads at once.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import secrets
import threading
import time
import types
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from grader.case_stream import CaseStream, OnCase
from grader.contents import Contents, Submission, notes as contents_notes, problem as contents_problem
from grader.judging import checks, judge
from grader import PACKAGE_DIR
from grader.course.digest import course_hash
from grader.course.folder import Course, bundled_course, course_root, load_course, platform_folder
from grader.import_once import ImportMemo, run_by_file
from grader.course.inputs import Draw, make_draws
from grader.course import reference_cache
from grader.course.kit import kit_notes, read_frozen
from grader.messages import t
from grader.sandbox import Job, Outcome, Sandbox, SandboxError
from grader.sources import Source, find_source, missing_file_advice, read_source
from grader.course.spec import SpecError, StageSpec
from grader.verdict import CaseResult, Report, StageResult

REFERENCE_TIME_FACTOR = 3.0
RUN_THREADS = 64  # stage threads per worker, started as needed (see Grader.__init__)


@dataclass
class Expected:
    draws: list[Draw]
    records: dict[str, dict]
    error: Optional[str] = None


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _same_text(text: str, template: Optional[str]) -> bool:
    """The same file, whatever its line endings and the newlines at its end."""
    def norm(x: str) -> str:
        return x.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    return template is not None and norm(text) == norm(template)


def _platform_of(course: Union[str, Path, Course, None]) -> Optional[Path]:
    """The course's platform files folder, before the course is loaded (None when there is no course)."""
    if isinstance(course, Course):
        return course.platform
    try:
        return platform_folder(course_root(course))
    except SpecError:
        return None  # load_course says why, next


def missing_requirement(spec: StageSpec) -> Optional[str]:
    """The first module the stage requires that is not installed."""
    for name in spec.requires:
        if (not torch_available()) if name == "torch" else importlib.util.find_spec(name) is None:
            return name
    return None


class Grader:
    # A stage file identical to the course template's is "not started" without a run: exact,
    # because `grade check-course` checks that each template file earns nothing (beside the
    # reference's other files too); check-course itself sets this off to run them.
    trust_templates = True

    def __init__(self, course: Union[str, Path, Course, None] = None, seed: Optional[int] = None,
                 lang: str = "en", workers: int = 2, fork_server: bool = True, sandbox: Optional[Sandbox] = None,
                 forbidden: Sequence[Union[str, Path]] = (), zygote: bool = False):
        """`forbidden`: more folders no submission may read (e.g. the other students' work).
        `zygote`: fork every sandbox's server from a worker's zygote (a batch; see grader/sandbox/zygote.py)."""
        self.sandbox = sandbox or Sandbox(workers=workers, fork_server=fork_server, platform=_platform_of(course),
                                          zygote=zygote)
        self.forbidden = [Path(p).resolve() for p in forbidden]
        self.sandbox.warm()  # fork servers import numpy while the course loads
        try:
            self.course = course if isinstance(course, Course) else load_course(course)
            for spec in self.course.stages:
                checks.validate(spec)  # every check it names is registered (or the course's own)
        except Exception:
            self.sandbox.close()
            raise
        if self.course.frozen is None:  # the uid sandbox sees the machine's files: the answers must be private
            try:
                self.sandbox.guard([self.course.root, bundled_course(), *self.forbidden], lang)
            except Exception:
                self.sandbox.close()
                raise
        self.seed = int(seed) if seed is not None else secrets.randbelow(2**31)
        self.seed_asked = int(seed) if seed is not None else None
        if self.course.frozen is not None:  # a student kit: its public cases were drawn with its seed
            self.seed = self.course.kit_seed  # (it holds their values for no other seed: the note says so)
        self.lang = lang
        self._expected: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._refs = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="reference")
        # Stage runs wait for their submission's own sandbox (one per submission in a batch), so
        # a stage queued behind another student's endless loop must not hold a thread that the
        # other students' stages need: waiting threads cost nothing, the sandboxes bound the CPU.
        # Enough for every stage of the students graded at once, and of those whose runs stepped
        # aside (a looping student's 13 other stages wait for its sandbox).
        self._runs = ThreadPoolExecutor(max_workers=RUN_THREADS * max(1, workers), thread_name_prefix="student")
        self._drivers: dict[str, types.ModuleType] = {}
        self._draws: dict[str, list[Draw]] = {}
        self._templates: dict[str, Optional[str]] = {}

    # -- session ----------------------------------------------------------------------------

    @functools.cached_property
    def course_hash(self) -> str:
        """The content hash of the course (said in every machine-readable output)."""
        return course_hash(self.course.root)

    def close(self) -> None:
        """Stop the session. The sandboxes go first: a run still going (a batch's Ctrl-C while a
        looper, stepped aside to idle priority, waits for a CPU that never comes) ends now, not at
        its wall backstop, and then its thread can be joined."""
        for pool in (self._runs, self._refs):
            pool.shutdown(wait=False, cancel_futures=True)
        self.sandbox.close()
        for pool in (self._runs, self._refs):
            pool.shutdown(wait=True)

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- public -------------------------------------------------------------------------------

    def select(self, submission: Path, refs: Optional[Sequence[Union[str, int]]] = None) -> list[StageSpec]:
        """The stages to grade: those asked for, or every stage whose file is present."""
        if refs:
            return self.course.select(refs)
        return [s for s in self.course.stages if find_source(submission, s.file)]

    def grade(self, submission: Union[str, Path], stages: Optional[Sequence[Union[str, int]]] = None,
              contents: Optional[Contents] = None, handed_in: Optional[dict[str, str]] = None,
              on_stage: Optional[Callable[[StageResult], None]] = None,
              on_case: Optional[OnCase] = None) -> Report:
        """`contents`: the submission's walk when the caller made it already (the batch's cache key);
        `handed_in`: {name in the folder: the name the student gave the file} for a lone file;
        `on_stage`: called with each stage's result as soon as it is judged (`grade serve` streams them);
        `on_case`: called with each case's verdict as soon as the run has sent its records, once per
        case, in order, all before the stage's `on_stage` (grader/case_stream.py)."""
        sub = Path(submission).resolve()
        specs = self.select(sub, stages)
        self.sandbox.warm(source=sub)  # the submission's own sandbox starts now, alongside the reference runs
        for spec in specs:
            self._expected_for(spec)  # start the reference runs early
        memo = ImportMemo()  # one import per file: the stages of a file share a failed import
        handed = Submission(sub, contents, handed_in)  # one walk, each file read once, for every stage

        def start(spec: StageSpec) -> Future:
            if on_stage is None and on_case is None:
                return self._runs.submit(self.grade_stage, handed, spec, memo)
            return self._runs.submit(self._grade_and_tell, handed, spec, memo, on_stage, on_case)
        futures = run_by_file(specs, start)
        report = Report(submission=str(submission), course=str(self.course.root), seed=self.seed, lang=self.lang,
                        course_hash=self.course_hash, sandbox=self.sandbox.backend or "none")
        try:
            report.stages = [f.result() for f in futures]
        finally:
            self.sandbox.release(sub)  # the submission's sandbox stops; no later submission shares it
        report.notes = (kit_notes(self.course, self.lang, self.seed_asked)
                        + contents_notes(handed.contents, self.lang))
        return report

    def grade_stage(self, submission: Union[Path, Submission], spec: StageSpec,
                    memo: Optional[ImportMemo] = None, stream: Optional[CaseStream] = None) -> StageResult:
        started = time.perf_counter()
        handed = submission if isinstance(submission, Submission) else Submission(Path(submission))
        result = self._grade_stage(handed, spec, memo, stream)
        result.duration_s = time.perf_counter() - started
        return result

    def _grade_and_tell(self, submission: Submission, spec: StageSpec, memo: ImportMemo,
                        on_stage: Optional[Callable[[StageResult], None]],
                        on_case: Optional[OnCase]) -> StageResult:
        """A stage graded, its cases told to `on_case` (as they come) and the stage to `on_stage`,
        before its future resolves (so before grade() returns)."""
        stream = CaseStream(spec, on_case) if on_case is not None else None
        result = self.grade_stage(submission, spec, memo, stream)
        if stream is not None:
            stream.finish(result)
        if on_stage is not None:
            on_stage(result)
        return result

    # -- reference ----------------------------------------------------------------------------

    def _expected_for(self, spec: StageSpec) -> Future:
        with self._lock:
            if spec.slug not in self._expected:
                self._expected[spec.slug] = self._refs.submit(self._run_reference, spec)
            return self._expected[spec.slug]

    def expected(self, spec: StageSpec) -> Expected:
        """The reference's records for this session's draws (`grade release` freezes them)."""
        return self._expected_for(spec).result()

    def draws(self, spec: StageSpec) -> list[Draw]:
        """Every case's inputs for this session's seed (drawn once, shared by all runs)."""
        with self._lock:
            if spec.slug not in self._draws:
                self._draws[spec.slug] = make_draws(spec, self.seed)
            return self._draws[spec.slug]

    def _job(self, spec: StageSpec, source: Path, draws: list[Draw], trusted: bool,
             handed: Optional[Submission] = None) -> Job:
        cases = []
        for d in draws:
            case = spec.cases[d.case_index]
            entry = {"key": d.key, "call": case.call, "seed": d.seed, "inputs": d.inputs}
            if trusted:
                entry["mistakes"] = {m.name: m.value for m in case.mistakes if m.value is not None}
            cases.append(entry)
        # which original form the file has (spec `forms:`): each form's test, after the cases
        cases += [{"key": judge.form_key(f), "call": f.when, "seed": self.seed, "inputs": {}} for f in spec.forms]
        factor = REFERENCE_TIME_FACTOR if trusted else 1.0
        driver = self.course.driver_file(spec)
        return Job(
            source=source, file=spec.file, cases=cases, seed=self.seed, trusted=trusted,
            limits=replace(spec.limits, time_s=spec.limits.time_s * factor, memory_mb=int(spec.limits.memory_mb * factor)),
            support=[self.course.support_file(n) for n in spec.support] + self.course.standin_files(),
            driver_source=driver.read_text(encoding="utf-8") if driver else None,
            requires=tuple(spec.requires),
            inputs_key=f"{spec.slug}-{self.seed}",
            forbidden=[self.course.root / "stages", self.course.reference, PACKAGE_DIR,
                       bundled_course() / "stages", bundled_course() / "reference", *self.forbidden],
            contents=handed.contents if handed else None,
            module_text=_module_text(handed, spec.file),
            stage=spec.slug,
        )

    def _run_reference(self, spec: StageSpec) -> Expected:
        """The reference's records: from the machine's cache (grader/course/reference_cache.py), else run."""
        draws = self.draws(spec)
        if self.course.frozen is not None:
            return self._frozen_expected(spec, draws)
        job = self._job(spec, self.course.reference, draws, trusted=True)
        cache = reference_cache.folder()
        digest = reference_cache.key(spec, job) if cache else ""
        stored = reference_cache.get(cache, spec.slug, digest, [d.key for d in draws]) if cache else None
        if stored is not None:
            return Expected(draws, stored)
        try:
            outcome = self.sandbox.run(job)
        except (SandboxError, OSError) as exc:
            return Expected(draws, {}, error=t(self.lang, "sandbox_failed", why=without_host_paths(str(exc))))
        problem = self._reference_problem(spec, draws, outcome)
        if problem:
            return Expected(draws, {}, error=problem)
        if cache:
            reference_cache.put(cache, spec.slug, digest, outcome.cases)
        return Expected(draws, outcome.cases)

    def _reference_problem(self, spec: StageSpec, draws: list[Draw], outcome: Outcome) -> Optional[str]:
        """Why the reference's run cannot serve as the expected values (the course's fault), or None."""
        imp = outcome.imported or {}
        if imp.get("error") or outcome.imported is None:
            why = (imp.get("error") or {}).get("message") or outcome.runner_error or outcome.killed \
                or t(self.lang, "did_not_run")
            return t(self.lang, "reference_failed", case="(import)", why=why)
        for d in draws:
            rec = outcome.cases.get(d.key)
            if rec is None or "error" in rec:
                why = (rec or {}).get("error", {}).get("message") or outcome.killed or t(self.lang, "no_result")
                return t(self.lang, "reference_failed", case=spec.cases[d.case_index].name, why=why)
        return None

    def _frozen_expected(self, spec: StageSpec, draws: list[Draw]) -> Expected:
        """A student kit: the reference's records frozen at release, instead of running reference/."""
        records = read_frozen(self.course.frozen, spec.slug)
        missing = [d for d in draws if d.key not in records]
        if missing:
            why = f"{self.course.frozen.name}/{spec.slug}.jsonl has no record {missing[0].key}"
            return Expected(draws, {}, error=t(self.lang, "reference_failed",
                                               case=spec.cases[missing[0].case_index].name, why=why))
        return Expected(draws, records)

    # -- one stage ----------------------------------------------------------------------------

    def _grade_stage(self, handed: Submission, spec: StageSpec, memo: Optional[ImportMemo] = None,
                     stream: Optional[CaseStream] = None) -> StageResult:
        lang = self.lang
        refused = contents_problem(handed.contents, spec.file, spec.support, lang)  # the student's doing
        if refused:
            return judge.not_run(spec, lang, refused, t(lang, "not_run", why=refused))
        source = handed.source(spec.file)  # the file, a notebook standing in for it, any case: read once
        if source is None or source.text is None:
            msg = t(lang, "missing_file", file=spec.file) + missing_file_advice(
                handed.folder, spec.file, lang, taken=[s.file for s in self.course.stages])
            result = judge.not_run(spec, lang, msg, t(lang, "not_run", why=msg))
            result.unstarted = True
            return result
        if self.trust_templates and _same_text(source.text, self._template_text(spec.file)):
            return judge.template_unchanged(spec, lang)
        missing = missing_requirement(spec)
        if missing:
            return _graders_fault(judge.not_run(spec, lang, t(lang, "needs_torch") if missing == "torch"
                                                else t(lang, "needs_module", name=missing)))
        reference = self._expected_for(spec)  # runs alongside the student's run
        listen = None if stream is None else stream.listen(reference, functools.partial(self._finished, spec, source))
        try:
            outcome = self._run_student(spec, handed, memo, listen)
        except (SandboxError, OSError) as exc:
            why = without_host_paths(str(exc))
            return _graders_fault(judge.not_run(spec, lang, t(lang, "sandbox_failed", why=why)))
        asked = time.perf_counter()
        expected = reference.result()
        waited = outcome.queued_s + time.perf_counter() - asked
        if expected.error:
            return _graders_fault(judge.not_run(spec, lang, expected.error))
        result = judge.judge(spec, expected.draws, expected.records, outcome, lang,
                             custom=functools.partial(self._driver_check, spec), source=source)
        result.wait_s = waited
        return result

    def _template_text(self, filename: str) -> Optional[str]:
        """The course template's copy of a stage file (None when the course has none)."""
        with self._lock:
            if filename not in self._templates:
                source = read_source(self.course.template, filename) if self.course.template.is_dir() else None
                self._templates[filename] = source.text if source is not None else None
            return self._templates[filename]

    def _run_student(self, spec: StageSpec, handed: Submission, memo: Optional[ImportMemo] = None,
                     listen: Optional[Callable[[Outcome], None]] = None) -> Outcome:
        """The student's run; with a `memo`, a failed import of the same file by another stage stands in.
        `listen` hears the run so far each time it sends a record (the stage's CaseStream)."""
        def start() -> Outcome:
            job = self._job(spec, handed.folder, self.draws(spec), trusted=False, handed=handed)
            return self.sandbox.run(job) if listen is None else self.sandbox.run(job, listen)
        return memo.run(spec, start) if memo is not None else start()

    def _finished(self, spec: StageSpec, source: Optional[Source], expected: Expected, outcome: Outcome,
                  start: int) -> list[CaseResult]:
        """The cases the run so far has finished, from the `start`-th on (judged as in the end)."""
        return judge.finished_cases(spec, expected.draws, expected.records, outcome, self.lang,
                                    custom=functools.partial(self._driver_check, spec), source=source, start=start)

    def _driver_check(self, spec: StageSpec, check: str):
        """A `driver.NAME` check: trusted course code, run here in the grader."""
        path = self.course.driver_file(spec)
        with self._lock:
            module = self._drivers.get(spec.slug)
            if module is None:
                module = types.ModuleType(f"grade_driver_{spec.slug.replace('-', '_')}")
                exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
                self._drivers[spec.slug] = module
        return getattr(module, check.split(".", 1)[1])


def _graders_fault(result: StageResult) -> StageResult:
    """A stage not run for a reason of the grader's, not the student's (a batch says whose)."""
    result.grader_fault = True
    return result


def _module_text(handed: Optional[Submission], filename: str) -> Optional[str]:
    source = handed.source(filename) if handed is not None else None
    return source.text if source is not None else None


_HOST_PATH = re.compile(r"(?<![\w.])/(?:[^\s/'\"]+/)+([^\s/'\"]+)")


def without_host_paths(text: str) -> str:
    """A grader error as a student may read it: every absolute path cut to its last part
    (``/tmp/grade-runs-x/staging/job-3/work/layers.py`` -> ``layers.py``)."""
    return _HOST_PATH.sub(lambda m: m.group(1), text)


def grade(submission: Union[str, Path], stages: Optional[Sequence[Union[str, int]]] = None, *,
          course: Union[str, Path, None] = None, seed: Optional[int] = None, lang: str = "en") -> Report:
    """Grade one submission in a one-off session."""
    with Grader(course=course, seed=seed, lang=lang) as grader:
        return grader.grade(submission, stages)
