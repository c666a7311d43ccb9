"""Judging: from a stage's spec, its draws, the reference's records and the student's run to
verdicts. Pure: no process, no file; `custom` hands over a course's own (driver) checks.
"""

from __future__ import annotations

import functools
import inspect
import re
import signal
from dataclasses import dataclass
from typing import Any, Callable, Optional

from grader import checks
from grader.inputs import Draw
from grader.messages import size_text, t
from grader.sandbox import OUTPUT_CAP, Outcome
from grader.spec import Case, StageSpec, check_of, resolve_tolerance
from grader.verdict import CaseResult, StageResult, Status

CustomChecks = Callable[[str], Callable]


@dataclass
class _Run:
    """What judging one stage reads."""

    spec: StageSpec
    lang: str
    outcome: Outcome
    reference: dict[str, dict]
    custom: Optional[CustomChecks]


# --------------------------------------------------------------------------- whole stages

def stage_result(spec: StageSpec, lang: str, status: Status, message: str,
                 cases: list[CaseResult]) -> StageResult:
    return StageResult(number=spec.number, slug=spec.slug, title=spec.title.get(lang), status=status,
                       score=float(sum(c.score for c in cases)), max_score=spec.max_score, message=message,
                       cases=cases)


def not_run(spec: StageSpec, lang: str, message: str, case_message: Optional[str] = None) -> StageResult:
    """A stage none of whose cases ran: every case an error."""
    cases = [CaseResult(c.name, Status.ERROR, 0.0, float(c.points), c.hidden, case_message or message)
             for c in spec.cases]
    return stage_result(spec, lang, Status.ERROR, message, cases)


def judge(spec: StageSpec, draws: list[Draw], reference: dict[str, dict], outcome: Outcome, lang: str,
          custom: Optional[CustomChecks] = None) -> StageResult:
    """The stage's verdict from the student's run and the reference's records (by draw key)."""
    imp = outcome.imported
    details = {"file": spec.file, "peak_mb": round(outcome.peak_mb, 1), "wall_s": round(outcome.wall_s, 4),
               "warnings": (imp or {}).get("warnings", []),
               "output": outcome.output_between(0, (imp or {}).get("output_end"))}
    if imp is None or imp.get("error"):
        if imp is None:
            _, msg = stop_message(spec, outcome, lang)
        else:
            msg = import_message(spec, imp["error"], lang)
            details["traceback"] = imp["error"].get("traceback", "")
        result = not_run(spec, lang, msg, t(lang, "not_run", why=t(lang, "import_failed")))
        result.details = details
        return result
    run = _Run(spec, lang, outcome, reference, custom)
    cases, run_s = _judge_cases(run, draws)
    result = _summary(spec, lang, cases)
    result.run_s = imp.get("duration_s", 0.0) + run_s
    result.details = details
    return result


def _summary(spec: StageSpec, lang: str, cases: list[CaseResult]) -> StageResult:
    n_failed = sum(c.status != Status.PASSED for c in cases)
    missing = [c for c in cases if c.missing_name]
    if missing and len(missing) == len(cases):
        return stage_result(spec, lang, Status.ERROR, missing[0].message, cases)
    if n_failed:
        return stage_result(spec, lang, Status.FAILED, t(lang, "stage_failed", failed=n_failed, n=len(cases)), cases)
    return stage_result(spec, lang, Status.PASSED, t(lang, "stage_passed", n=len(cases)), cases)


def stop_message(spec: StageSpec, outcome: Outcome, lang: str) -> tuple[Status, str]:
    """Why a run ended early: (case status, message)."""
    if outcome.killed == "timeout":
        return Status.TIMEOUT, t(lang, "timeout", limit=spec.limits.time_s)
    if outcome.killed == "memory":
        return Status.ERROR, t(lang, "memory", limit=size_text(spec.limits.memory_mb * 2**20))
    if outcome.killed == "output":
        return Status.ERROR, t(lang, "output", limit=size_text(OUTPUT_CAP))
    if outcome.signal == signal.SIGXCPU:
        return Status.TIMEOUT, t(lang, "cpu", limit=spec.limits.time_s + 1)
    if outcome.signal == signal.SIGXFSZ:
        return Status.ERROR, t(lang, "output", limit=t(lang, "file_size_limit"))
    if outcome.signal is not None:
        how = t(lang, "killed_by", signal=signal.Signals(outcome.signal).name)
    elif outcome.runner_error:
        how = outcome.runner_error.strip().splitlines()[-1]
    else:
        how = t(lang, "exit_code", code=outcome.exit_code)
    return Status.ERROR, t(lang, "crashed", how=how)


def import_message(spec: StageSpec, error: dict, lang: str) -> str:
    line = error.get("line")
    where = t(lang, "at_line", line=line) if line else ""
    if error["type"] in ("SyntaxError", "IndentationError", "TabError"):
        return t(lang, "syntax_error", file=spec.file, line=line or "?", msg=error["message"].split(" (")[0])
    if error["type"] == "SystemExit":
        return t(lang, "import_exit", file=spec.file, where=where)
    msg = t(lang, "import_error", file=spec.file, kind=error["type"], msg=error["message"], where=where)
    if error["type"] in ("ModuleNotFoundError", "ImportError"):
        return msg + t(lang, "import_module")
    return msg + t(lang, "import_toplevel")


# --------------------------------------------------------------------------- cases

def _judge_cases(run: _Run, draws: list[Draw]) -> tuple[list[CaseResult], float]:
    cases: list[CaseResult] = []
    stopped = False
    run_s = 0.0
    for i, case in enumerate(run.spec.cases):
        verdict, stopped = _judge_case(run, case, [d for d in draws if d.case_index == i], stopped)
        run_s += verdict.duration_s
        cases.append(verdict)
    return cases, run_s


def _judge_case(run: _Run, case: Case, draws: list[Draw], stopped: bool) -> tuple[CaseResult, bool]:
    """The case's verdict (its first failing draw decides) and whether the run had stopped."""
    duration = 0.0
    for d in draws:
        rec = run.outcome.cases.get(d.key)
        if rec is None:
            status, msg = (Status.ERROR, t(run.lang, "not_run", why=t(run.lang, "earlier_stop"))) if stopped \
                else stop_message(run.spec, run.outcome, run.lang)
            return CaseResult(case.name, status, 0.0, float(case.points), case.hidden, msg,
                              duration_s=duration), True
        duration += rec.get("duration_s", 0.0)
        verdict = _judge_draw(run, case, d, rec, len(draws))
        if verdict is not None:
            verdict.duration_s = duration
            return verdict, stopped
    verdict = CaseResult(case.name, Status.PASSED, float(case.points), float(case.points), case.hidden,
                         t(run.lang, "passed"), duration_s=duration)
    if draws:
        last = draws[-1]
        verdict.details = _details(case, last, run.outcome.cases.get(last.key, {}), run.reference[last.key],
                                   run.outcome)
    return verdict, stopped


def _details(case: Case, draw: Draw, rec: dict, ref: dict, outcome: Outcome) -> dict:
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


def _judge_draw(run: _Run, case: Case, draw: Draw, rec: dict, n_draws: int) -> Optional[CaseResult]:
    """None when this draw passes; otherwise the case's verdict."""
    lang, spec, ref = run.lang, run.spec, run.reference[draw.key]
    missing = mistake = None
    if "error" in rec:
        msg, missing = _error_words(spec, case, rec["error"], lang)
        hint = _error_hint(case, rec["error"], lang)
        status = Status.ERROR
    else:
        found = _compare(run, case, draw, rec["value"], ref)
        if found is None:
            return None
        msg, hint, mistake = found
        status = Status.FAILED
    if n_draws > 1:
        msg = t(lang, "draw", i=draw.repeat + 1, n=n_draws, msg=msg)
    if unstarted(rec, missing):
        hint = None  # hints only for what happened: an unstarted function gets "not implemented" alone
    else:
        hint = hint or (case.hint.get(lang) if case.hint else None) or (spec.hint.get(lang) if spec.hint else None)
    return CaseResult(case.name, status, 0.0, float(case.points), case.hidden, msg, hint,
                      details=_details(case, draw, rec, ref, run.outcome), mistake=mistake, missing_name=missing)


def unstarted(rec: dict, missing_name: Optional[str]) -> bool:
    """The student has not started this function: not implemented, or not defined at all."""
    return rec.get("error", {}).get("type") == "NotImplementedError" or missing_name is not None


def _error_words(spec: StageSpec, case: Case, err: dict, lang: str) -> tuple[str, Optional[str]]:
    """An exception in words, and the called name the file lacks (a NameError on it)."""
    where = t(lang, "at_line", line=err["line"]) if err.get("line") else ""
    if err["type"] == "NotImplementedError":
        return t(lang, "not_implemented", where=where), None
    if err["type"] == "EncodeError":
        return t(lang, "encode", msg=err["message"]), None
    m = re.search(r"name '(\w+)' is not defined", err["message"]) if err["type"] == "NameError" else None
    if m and m.group(1) in case.call:
        return t(lang, "missing_name", file=spec.file, name=m.group(1)), m.group(1)
    return t(lang, "exception", kind=err["type"], msg=err["message"], where=where), None


def _error_hint(case: Case, err: dict, lang: str) -> Optional[str]:
    for mistake in case.mistakes:
        if mistake.error and re.search(mistake.error, f"{err['type']}: {err['message']}"):
            return mistake.hint.get(lang)
    return None


# --------------------------------------------------------------------------- values

def _split(case: Case, value: Any, lang: str) -> tuple[Optional[dict], Optional[str]]:
    names = [o.name for o in case.outputs]
    if len(names) == 1:
        return {names[0]: value}, None
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            return None, t(lang, "output_missing", name=missing[0])
        return {n: value[n] for n in names}, None
    if isinstance(value, (list, tuple)) and len(value) == len(names):
        return dict(zip(names, value)), None
    got = len(value) if isinstance(value, (list, tuple)) else 1
    return None, t(lang, "output_count", got=got, exp=len(names), names=", ".join(names))


def _custom(run: _Run, check: str) -> Optional[Callable]:
    if not check.startswith("driver.") or run.custom is None:
        return None
    fn = run.custom(check)
    if "lang" in inspect.signature(fn).parameters:
        fn = functools.partial(fn, lang=run.lang)
    return fn


def _compare(run: _Run, case: Case, draw: Draw, value: Any,
             ref: dict) -> Optional[tuple[str, Optional[str], Optional[str]]]:
    """None when every output passes; else (message, hint, known mistake's name)."""
    lang = run.lang
    got, problem = _split(case, value, lang)
    if problem:
        return problem, None, None
    exp, _ = _split(case, ref["value"], lang)
    for output in case.outputs:
        check = check_of(case, output)
        tol = resolve_tolerance(run.spec, case, output)
        found = checks.run_check(check, got[output.name], exp[output.name], tol, _custom(run, check), draw.inputs)
        if found is None:
            continue
        msg = checks.describe(found, lang, hidden=case.hidden)
        if len(case.outputs) > 1:
            msg = t(lang, "in_output", name=output.name, msg=msg)
        mistake = _known_mistake(case, output.name, got[output.name], ref, check, tol, lang)
        return msg, mistake.hint.get(lang) if mistake else None, mistake.name if mistake else None
    return None


def _known_mistake(case: Case, output: str, got: Any, ref: dict, check: str, tol: Any, lang: str) -> Any:
    """The known mistake (spec `mistakes:`) whose wrong value the student returned."""
    for mistake in case.mistakes:
        if mistake.value is None or (mistake.output or case.outputs[0].name) != output:
            continue
        wrong = ref.get("mistakes", {}).get(mistake.name)
        if wrong is not None and len(case.outputs) > 1 and mistake.output is None:
            wrong_parts, _ = _split(case, wrong, lang)
            wrong = (wrong_parts or {}).get(output)
        if checks.matches(got, wrong, check, tol):
            return mistake
    return None
