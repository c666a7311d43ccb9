"""The grading flow: spec -> cases -> sandboxed runs -> comparison -> verdicts.

``Grader`` holds what a grading session shares: the course, the seed, the sandbox's fork
servers and the reference's results (computed once per stage and seed, outside the
student's process). ``Grader.grade`` is thread-safe; batch grading calls it from many
threads at once.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
import secrets
import signal
import threading
import time
import types
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from grader import checks
from grader.course import PACKAGE_DIR, Course, bundled_course, load_course
from grader.inputs import draw_inputs
from grader.messages import size_text, t
from grader.sandbox import OUTPUT_CAP, Job, Limits, Outcome, Sandbox, SandboxError
from grader.spec import Case, StageSpec, check_of, resolve_tolerance
from grader.verdict import CaseResult, Report, StageResult

REFERENCE_TIME_FACTOR = 3.0


@dataclass
class Draw:
    """One draw of one case: its key in the run, its inputs and the call's seed."""

    key: str
    case_index: int
    repeat: int
    inputs: dict[str, Any]
    seed: int


@dataclass
class Expected:
    draws: list[Draw]
    records: dict[str, dict]
    error: Optional[str] = None


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def missing_requirement(spec: StageSpec) -> Optional[str]:
    """The first module the stage requires that is not installed."""
    for name in spec.requires:
        if (not torch_available()) if name == "torch" else importlib.util.find_spec(name) is None:
            return name
    return None


class Grader:
    def __init__(self, course: Union[str, Path, Course, None] = None, seed: Optional[int] = None,
                 lang: str = "en", workers: int = 2, fork_server: bool = True, sandbox: Optional[Sandbox] = None,
                 forbidden: Sequence[Union[str, Path]] = ()):
        """`forbidden`: more folders no submission may read (e.g. the other students' work)."""
        self.sandbox = sandbox or Sandbox(workers=workers, fork_server=fork_server)
        self.forbidden = [Path(p).resolve() for p in forbidden]
        self.sandbox.warm()  # fork servers import numpy while the course loads
        try:
            self.course = course if isinstance(course, Course) else load_course(course)
        except Exception:
            self.sandbox.close()
            raise
        self.seed = int(seed) if seed is not None else secrets.randbelow(2**31)
        self.lang = lang
        self._expected: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._refs = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="reference")
        self._runs = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="student")
        self._drivers: dict[str, types.ModuleType] = {}
        self._draws: dict[str, list[Draw]] = {}

    # -- session ----------------------------------------------------------------------------

    def close(self) -> None:
        self._runs.shutdown(wait=True, cancel_futures=True)
        self._refs.shutdown(wait=True, cancel_futures=True)
        self.sandbox.close()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- public -------------------------------------------------------------------------------

    def select(self, submission: Path, refs: Optional[Sequence[Union[str, int]]] = None) -> list[StageSpec]:
        """The stages to grade: those asked for, or every stage whose file is present."""
        if refs:
            chosen = []
            for ref in refs:
                spec = self.course.find(ref)
                if spec not in chosen:
                    chosen.append(spec)
            return chosen
        return [s for s in self.course.stages if (submission / s.file).is_file()]

    def grade(self, submission: Union[str, Path], stages: Optional[Sequence[Union[str, int]]] = None) -> Report:
        sub = Path(submission).resolve()
        specs = self.select(sub, stages)
        self.sandbox.warm(source=sub)  # the submission's own sandbox starts now, alongside the reference runs
        for spec in specs:
            self._expected_for(spec)  # start the reference runs early
        futures = [self._runs.submit(self.grade_stage, sub, spec) for spec in specs]
        report = Report(submission=str(submission), course=str(self.course.root), seed=self.seed, lang=self.lang)
        try:
            report.stages = [f.result() for f in futures]
        finally:
            self.sandbox.release(sub)  # the submission's sandboxes stop; no later submission shares them
        return report

    def grade_stage(self, submission: Path, spec: StageSpec) -> StageResult:
        started = time.perf_counter()
        result = self._grade_stage(submission, spec)
        result.duration_s = time.perf_counter() - started
        return result

    # -- reference ----------------------------------------------------------------------------

    def _expected_for(self, spec: StageSpec) -> Future:
        with self._lock:
            if spec.slug not in self._expected:
                self._expected[spec.slug] = self._refs.submit(self._run_reference, spec)
            return self._expected[spec.slug]

    def draws(self, spec: StageSpec) -> list[Draw]:
        """Every case's inputs for this session's seed (drawn once, shared by all runs)."""
        with self._lock:
            if spec.slug not in self._draws:
                self._draws[spec.slug] = self._make_draws(spec)
            return self._draws[spec.slug]

    def _make_draws(self, spec: StageSpec) -> list[Draw]:
        out = []
        for i, case in enumerate(spec.cases):
            for rep in range(case.repeat):
                seq = np.random.SeedSequence([self.seed, spec.number, i, rep])
                out.append(Draw(f"c{i}r{rep}", i, rep, draw_inputs(case, self.seed, spec.number, i, rep),
                                int(seq.generate_state(1)[0])))
        return out

    def _job(self, spec: StageSpec, source: Path, draws: list[Draw], trusted: bool) -> Job:
        cases = []
        for d in draws:
            case = spec.cases[d.case_index]
            entry = {"key": d.key, "call": case.call, "seed": d.seed, "inputs": d.inputs}
            if trusted:
                entry["mistakes"] = {m.name: m.value for m in case.mistakes if m.value is not None}
            cases.append(entry)
        factor = REFERENCE_TIME_FACTOR if trusted else 1.0
        driver = self.course.driver_file(spec)
        return Job(
            source=source, file=spec.file, cases=cases, seed=self.seed, trusted=trusted,
            limits=Limits(time_s=spec.limits.time_s * factor, memory_mb=int(spec.limits.memory_mb * factor)),
            support=[self.course.support_file(n) for n in spec.support],
            driver_source=driver.read_text(encoding="utf-8") if driver else None,
            requires=tuple(spec.requires),
            inputs_key=f"{spec.slug}-{self.seed}",
            forbidden=[self.course.root / "stages", self.course.reference, PACKAGE_DIR,
                       bundled_course() / "stages", bundled_course() / "reference", *self.forbidden],
        )

    def _run_reference(self, spec: StageSpec) -> Expected:
        draws = self.draws(spec)
        outcome = self.sandbox.run(self._job(spec, self.course.reference, draws, trusted=True))
        imp = outcome.imported or {}
        if imp.get("error") or outcome.imported is None:
            why = (imp.get("error") or {}).get("message") or outcome.runner_error or outcome.killed or "it did not run"
            return Expected(draws, {}, error=t(self.lang, "reference_failed", case="(import)", why=why))
        for d in draws:
            rec = outcome.cases.get(d.key)
            if rec is None or "error" in rec:
                why = (rec or {}).get("error", {}).get("message") or outcome.killed or "no result"
                return Expected(draws, {}, error=t(self.lang, "reference_failed", case=spec.cases[d.case_index].name,
                                                   why=why))
        return Expected(draws, outcome.cases)

    # -- one stage ----------------------------------------------------------------------------

    def _stage(self, spec: StageSpec, status: str, message: str, cases: list[CaseResult]) -> StageResult:
        return StageResult(number=spec.number, slug=spec.slug, title=spec.title.get(self.lang), status=status,
                           score=0.0, max_score=spec.max_score, message=message, cases=cases)

    def _all_cases(self, spec: StageSpec, status: str, message: str) -> list[CaseResult]:
        return [CaseResult(c.name, status, 0.0, float(c.points), c.hidden, message) for c in spec.cases]

    def _grade_stage(self, submission: Path, spec: StageSpec) -> StageResult:
        lang = self.lang
        if not (submission / spec.file).is_file():
            msg = t(lang, "missing_file", file=spec.file)
            return self._stage(spec, "error", msg, self._all_cases(spec, "error", t(lang, "not_run", why=msg)))
        missing = missing_requirement(spec)
        if missing:
            msg = t(lang, "needs_torch") if missing == "torch" else t(lang, "needs_module", name=missing)
            return self._stage(spec, "error", msg, self._all_cases(spec, "error", msg))
        reference = self._expected_for(spec)  # runs alongside the student's run
        try:
            outcome = self.sandbox.run(self._job(spec, submission, self.draws(spec), trusted=False))
        except (SandboxError, OSError) as exc:
            msg = t(lang, "sandbox_failed", why=str(exc))
            return self._stage(spec, "error", msg, self._all_cases(spec, "error", msg))
        expected = reference.result()
        if expected.error:
            return self._stage(spec, "error", expected.error, self._all_cases(spec, "error", expected.error))
        return self._judge(spec, expected, outcome)

    def _stop_message(self, spec: StageSpec, outcome: Outcome) -> tuple[str, str]:
        """Why a run ended early: (case status, message)."""
        lang = self.lang
        if outcome.killed == "timeout":
            return "timeout", t(lang, "timeout", limit=spec.limits.time_s)
        if outcome.killed == "memory":
            return "error", t(lang, "memory", limit=size_text(spec.limits.memory_mb * 2**20))
        if outcome.killed == "output":
            return "error", t(lang, "output", limit=size_text(OUTPUT_CAP))
        if outcome.signal == signal.SIGXCPU:
            return "timeout", t(lang, "cpu", limit=spec.limits.time_s + 1)
        if outcome.signal == signal.SIGXFSZ:
            return "error", t(lang, "output", limit="the file size limit")
        if outcome.signal is not None:
            how = f"killed by signal {signal.Signals(outcome.signal).name}"
        elif outcome.runner_error:
            how = outcome.runner_error.strip().splitlines()[-1]
        else:
            how = f"exit code {outcome.exit_code}, e.g. os._exit()"
        return "error", t(lang, "crashed", how=how)

    def _judge(self, spec: StageSpec, expected: Expected, outcome: Outcome) -> StageResult:
        lang = self.lang
        imp = outcome.imported
        details = {"file": spec.file, "peak_mb": round(outcome.peak_mb, 1), "wall_s": round(outcome.wall_s, 4),
                   "warnings": (imp or {}).get("warnings", []),
                   "output": outcome.output_between(0, (imp or {}).get("output_end"))}
        if imp is None or imp.get("error"):
            if imp is None:
                _, msg = self._stop_message(spec, outcome)
            else:
                msg = self._import_message(spec, imp["error"])
                details["traceback"] = imp["error"].get("traceback", "")
            result = self._stage(spec, "error", msg,
                                 self._all_cases(spec, "error", t(lang, "not_run", why=t(lang, "import_failed"))))
            result.details = details
            return result

        cases: list[CaseResult] = []
        stopped = False
        run_s = imp.get("duration_s", 0.0)
        for i, case in enumerate(spec.cases):
            draws = [d for d in expected.draws if d.case_index == i]
            verdict: Optional[CaseResult] = None
            duration = 0.0
            for d in draws:
                rec = outcome.cases.get(d.key)
                if rec is None:
                    status, msg = ("error", t(lang, "not_run", why=t(lang, "earlier_stop"))) if stopped \
                        else self._stop_message(spec, outcome)
                    stopped = True
                    verdict = CaseResult(case.name, status, 0.0, float(case.points), case.hidden, msg)
                    break
                duration += rec.get("duration_s", 0.0)
                verdict = self._judge_draw(spec, case, d, rec, expected.records[d.key], outcome, len(draws))
                if verdict is not None:
                    break
            if verdict is None:
                verdict = CaseResult(case.name, "passed", float(case.points), float(case.points), case.hidden,
                                     t(lang, "passed"))
                last = outcome.cases.get(draws[-1].key, {}) if draws else {}
                verdict.details = self._details(case, draws[-1], last, expected.records[draws[-1].key], outcome) \
                    if draws else {}
            verdict.duration_s = duration
            run_s += duration
            cases.append(verdict)

        n_failed = sum(c.status != "passed" for c in cases)
        missing = [c for c in cases if c.details.get("missing_name")]
        if missing and len(missing) == len(cases):
            status, message = "error", missing[0].message
        elif n_failed:
            status, message = "failed", t(lang, "stage_failed", failed=n_failed, n=len(cases))
        else:
            status, message = "passed", t(lang, "stage_passed", n=len(cases))
        result = self._stage(spec, status, message, cases)
        result.score = float(sum(c.score for c in cases))
        result.run_s = run_s
        result.details = details
        return result

    def _import_message(self, spec: StageSpec, error: dict) -> str:
        lang, line = self.lang, error.get("line")
        where = t(lang, "at_line", line=line) if line else ""
        if error["type"] in ("SyntaxError", "IndentationError", "TabError"):
            return t(lang, "syntax_error", file=spec.file, line=line or "?", msg=error["message"].split(" (")[0])
        if error["type"] == "SystemExit":
            return t(lang, "import_exit", file=spec.file, where=where)
        msg = t(lang, "import_error", file=spec.file, kind=error["type"], msg=error["message"], where=where)
        if error["type"] in ("ModuleNotFoundError", "ImportError"):
            return msg + t(lang, "import_module")
        return msg + t(lang, "import_toplevel")

    def _details(self, case: Case, draw: Draw, rec: dict, ref: dict, outcome: Outcome) -> dict:
        out: dict[str, Any] = {
            "output": outcome.output_between(rec.get("output_start"), rec.get("output_end")),
            "warnings": rec.get("warnings", []),
        }
        if "value" in rec:
            out["got"] = checks.show(rec["value"])
        if "error" in rec:
            out["traceback"] = rec["error"].get("traceback", "")
        if not case.hidden:
            out["call"] = case.call
            out["inputs"] = {k: checks.show(v) for k, v in draw.inputs.items()}
            out["expected"] = checks.show(ref.get("value"))
        return out

    def _judge_draw(self, spec: StageSpec, case: Case, draw: Draw, rec: dict, ref: dict, outcome: Outcome,
                    n_draws: int) -> Optional[CaseResult]:
        """None when this draw passes; otherwise the case's verdict."""
        lang = self.lang
        details: dict[str, Any] = {}
        hint = None
        if "error" in rec:
            err = rec["error"]
            where = t(lang, "at_line", line=err["line"]) if err.get("line") else ""
            if err["type"] == "NotImplementedError":
                msg = t(lang, "not_implemented", where=where)
            elif err["type"] == "EncodeError":
                msg = t(lang, "encode", msg=err["message"])
            elif err["type"] == "NameError" and (m := re.search(r"name '(\w+)' is not defined", err["message"])) \
                    and m.group(1) in case.call:
                msg = t(lang, "missing_name", file=spec.file, name=m.group(1))
                details["missing_name"] = m.group(1)
            else:
                msg = t(lang, "exception", kind=err["type"], msg=err["message"], where=where)
            for mistake in case.mistakes:
                if mistake.error and re.search(mistake.error, f"{err['type']}: {err['message']}"):
                    hint = mistake.hint.get(lang)
                    break
            status = "error"
        else:
            msg, hint = self._compare(spec, case, draw, rec["value"], ref, details)
            if msg is None:
                return None
            status = "failed"
        details = {**self._details(case, draw, rec, ref, outcome), **details}  # only failing draws get details
        if n_draws > 1:
            msg = t(lang, "draw", i=draw.repeat + 1, n=n_draws, msg=msg)
        hint = hint or (case.hint.get(lang) if case.hint else None) or (spec.hint.get(lang) if spec.hint else None)
        return CaseResult(case.name, status, 0.0, float(case.points), case.hidden, msg, hint, details=details)

    def _split(self, case: Case, value: Any) -> tuple[Optional[dict], Optional[str]]:
        names = [o.name for o in case.outputs]
        if len(names) == 1:
            return {names[0]: value}, None
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            if missing:
                return None, t(self.lang, "output_missing", name=missing[0])
            return {n: value[n] for n in names}, None
        if isinstance(value, (list, tuple)) and len(value) == len(names):
            return dict(zip(names, value)), None
        got = len(value) if isinstance(value, (list, tuple)) else 1
        return None, t(self.lang, "output_count", got=got, exp=len(names), names=", ".join(names))

    def _compare(self, spec: StageSpec, case: Case, draw: Draw, value: Any, ref: dict,
                 details: dict) -> tuple[Optional[str], Optional[str]]:
        lang = self.lang
        got, problem = self._split(case, value)
        if problem:
            return problem, None
        exp, _ = self._split(case, ref["value"])
        for output in case.outputs:
            check = check_of(case, output)
            tol = resolve_tolerance(spec, case, output)
            custom = self._driver_check(spec, check) if check.startswith("driver.") else None
            if custom is not None and "lang" in inspect.signature(custom).parameters:
                custom = functools.partial(custom, lang=lang)
            problem = checks.run_check(check, got[output.name], exp[output.name], tol, lang, custom, draw.inputs,
                                       reveal=not case.hidden)
            if problem is None:
                continue
            if len(case.outputs) > 1:
                problem = t(lang, "in_output", name=output.name, msg=problem)
            for mistake in case.mistakes:
                if mistake.value is None or (mistake.output or case.outputs[0].name) != output.name:
                    continue
                wrong = ref.get("mistakes", {}).get(mistake.name)
                if wrong is not None and len(case.outputs) > 1 and mistake.output is None:
                    wrong_parts, _ = self._split(case, wrong)
                    wrong = (wrong_parts or {}).get(output.name)
                if checks.matches(got[output.name], wrong, check, tol):
                    details["mistake"] = mistake.name
                    return problem, mistake.hint.get(lang)
            return problem, None
        return None, None

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


def grade(submission: Union[str, Path], stages: Optional[Sequence[Union[str, int]]] = None, *,
          course: Union[str, Path, None] = None, seed: Optional[int] = None, lang: str = "en") -> Report:
    """Grade one submission in a one-off session."""
    with Grader(course=course, seed=seed, lang=lang) as grader:
        return grader.grade(submission, stages)
