"""Judging: from a stage's spec, its draws, the reference's records and the student's run to
verdicts. Pure: no process, no file; `custom` hands over a course's own (driver) checks.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import signal
from dataclasses import dataclass
from typing import Any, Callable, Optional

from grader.judging import advice, checks, kinds, names
from grader.course.inputs import Draw
from grader.messages import known, size_text, t
from grader.sandbox.job import Outcome
from grader.sources import Source
from grader.course.spec import Case, Form, StageSpec, check_of, resolve_tolerance
from grader.verdict import CaseResult, StageResult, Status

CustomChecks = Callable[[str], Callable]
_SANDBOX_FILE = re.compile(r'File "[^"\n]*/job-\d+/work/([^"\n]+)"')  # a frame in the run's copy of the submission


@dataclass
class _Run:
    """What judging one stage reads."""

    spec: StageSpec
    lang: str
    outcome: Outcome
    reference: dict[str, dict]
    custom: Optional[CustomChecks]
    source: Optional[Source] = None  # the student's file as read (a notebook maps lines to cells)

    def where(self, line: Optional[int]) -> str:
        return where(self.source, line, self.lang)


# --------------------------------------------------------------------------- whole stages

def stage_result(spec: StageSpec, lang: str, status: Status, message: str,
                 cases: list[CaseResult]) -> StageResult:
    return StageResult(number=spec.number, slug=spec.slug, title=spec.title.get(lang), status=status,
                       score=float(sum(c.score for c in cases)), max_score=spec.max_score, message=message,
                       cases=cases)


def not_run(spec: StageSpec, lang: str, message: str, case_message: Optional[str] = None) -> StageResult:
    """A stage none of whose cases ran: every case an error."""
    cases = [CaseResult(c.name, Status.ERROR, 0.0, float(c.points), c.hidden, case_message or message)
             for c in spec.book_cases]
    return stage_result(spec, lang, Status.ERROR, message, cases)


def template_unchanged(spec: StageSpec, lang: str) -> StageResult:
    """The stage file is still the course's template (nothing was run): every case not started."""
    case_message = t(lang, "template_unchanged_case", file=spec.file)
    cases = [CaseResult(c.name, Status.FAILED, 0.0, float(c.points), c.hidden, case_message, not_started=True)
             for c in spec.book_cases]
    return stage_result(spec, lang, Status.FAILED, t(lang, "template_unchanged", file=spec.file), cases)


def judge(spec: StageSpec, draws: list[Draw], reference: dict[str, dict], outcome: Outcome, lang: str,
          custom: Optional[CustomChecks] = None, source: Optional[Source] = None) -> StageResult:
    """The stage's verdict from the student's run and the reference's records (by draw key)."""
    imp = outcome.imported
    details = {"file": spec.file, "peak_mb": round(outcome.peak_mb, 1), "wall_s": round(outcome.wall_s, 4),
               "warnings": (imp or {}).get("warnings", []),
               "output": outcome.output_between(0, (imp or {}).get("output_end")),
               "notes": [n.text(lang) for n in source.notes] if source else []}
    if imp is None or imp.get("error"):
        if imp is None:
            _, msg = stop_message(spec, outcome, lang)
        else:
            msg = import_message(spec, imp["error"], lang, source)
            details["traceback"] = own_paths(imp["error"].get("traceback", ""), spec, source)
        result = not_run(spec, lang, msg, t(lang, "not_run", why=t(lang, "import_failed")))
        result.hint = advice.error_mistake_hint([m for c in spec.cases for m in c.mistakes], imp["error"], lang) \
            if imp is not None else None
        result.details = details
        return result
    run = _Run(spec, lang, outcome, reference, custom, source)
    form = chosen_form(spec, outcome)
    if form is not None:  # the course's original form: its cases, and a note saying so
        details["notes"].append(form.note.get(lang))
    cases, run_s = _judge_cases(run, draws, form)
    result = _summary(spec, lang, cases)
    result.run_s = imp.get("duration_s", 0.0) + run_s
    result.details = details
    return result


def finished_cases(spec: StageSpec, draws: list[Draw], reference: dict[str, dict], outcome: Outcome, lang: str,
                   custom: Optional[CustomChecks] = None, source: Optional[Source] = None,
                   start: int = 0) -> list[CaseResult]:
    """While the run goes on: the verdicts of the cases from the `start`-th on whose every draw
    has its record in `outcome` (the run so far), in order, up to the first one not finished;
    each judged as `judge` judges it in the end (the records of earlier cases are all there, so
    the run had not stopped). None while the import has no record or failed (the stage is not
    run), nor for a stage with original forms (the form is chosen after the cases)."""
    imp = outcome.imported
    if spec.forms or imp is None or imp.get("error"):
        return []
    run = _Run(spec, lang, outcome, reference, custom, source)
    out: list[CaseResult] = []
    for i, case in _graded(spec, None)[start:]:
        mine = [d for d in draws if d.case_index == i]
        if any(d.key not in outcome.cases for d in mine):
            break
        out.append(_judge_case(run, case, mine, False)[0])
    return out


def _summary(spec: StageSpec, lang: str, cases: list[CaseResult]) -> StageResult:
    n_failed = sum(c.status != Status.PASSED for c in cases)
    missing = [c for c in cases if c.missing_name]
    if missing and len(missing) == len(cases):
        return stage_result(spec, lang, Status.ERROR, missing[0].message, cases)
    if cases and all(c.unstarted for c in cases):
        return stage_result(spec, lang, Status.FAILED, t(lang, "stage_not_started", n=len(cases)), cases)
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
        return Status.ERROR, t(lang, "output", limit=size_text(spec.limits.output_bytes))
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


def import_message(spec: StageSpec, error: dict, lang: str, source: Optional[Source] = None) -> str:
    line = error.get("line")
    at = where(source, line, lang)
    file = source.name if source is not None else spec.file  # what was handed in: homework.ipynb
    if error["type"] in ("SyntaxError", "IndentationError", "TabError"):
        text = error["message"].split(" (")[0]
        if source is not None and source.location(line):  # a notebook: "cell N, line M"
            return t(lang, "syntax_error_at", file=file, where=at, msg=text)
        return t(lang, "syntax_error", file=file, line=line or "?", msg=text)
    if error["type"] == "SystemExit":
        return t(lang, "import_exit", file=file, where=at)
    msg = t(lang, "import_error", file=file, kind=error["type"], msg=error["message"], where=at)
    return msg + advice.import_advice(error, source.text if source else None, spec.toplevel_ok, lang)


def own_paths(traceback: str, spec: StageSpec, source: Optional[Source]) -> str:
    """A traceback whose frames in the sandbox's copy of the submission name the student's own files
    (the stage file as handed in: `homework.ipynb`, `Activation.py`...), not the sandbox's paths."""
    if source is None:
        return traceback
    own = source.name if source.handed_in else str(source.path)  # a lone file: its name, not a temp folder

    def mine(m: re.Match) -> str:
        rel = m.group(1)
        return f'File "{own if rel == spec.file else source.path.parent / rel}"'
    return _SANDBOX_FILE.sub(mine, str(traceback))


def where(source: Optional[Source], line: Optional[int], lang: str) -> str:
    """" (line N)", or " (cell N, line M)" in a notebook; empty without a line."""
    if source is not None:
        return source.where(line, lang)
    return t(lang, "at_line", line=line) if line else ""


# --------------------------------------------------------------------------- cases

def form_key(form: Form) -> str:
    """The run's record of a form's test (`when`); no draw key looks like it."""
    return f"form:{form.name}"


def chosen_form(spec: StageSpec, outcome: Outcome) -> Optional[Form]:
    """The first original form whose test came back exactly True in the run; None: the book's form."""
    for form in spec.forms:
        if (outcome.cases.get(form_key(form)) or {}).get("value") is True:
            return form
    return None


def _graded(spec: StageSpec, form: Optional[Form]) -> list[tuple[int, Case]]:
    """(index, case) of the cases the form grades, each with its points in that form."""
    if form is None:
        return [(i, c) for i, c in enumerate(spec.cases) if c.form is None]
    return [(i, dataclasses.replace(c, points=form.cases[c.name])) for i, c in enumerate(spec.cases)
            if c.name in form.cases]


def _judge_cases(run: _Run, draws: list[Draw], form: Optional[Form] = None) -> tuple[list[CaseResult], float]:
    cases: list[CaseResult] = []
    stopped = False
    run_s = 0.0
    for i, case in _graded(run.spec, form):
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
            return _stopped(run, case, duration, stopped), True
        duration += rec.get("duration_s", 0.0)
        verdict = _judge_draw(run, case, d, rec, len(draws))
        if verdict is not None:
            verdict.duration_s = duration
            return verdict, stopped
    verdict = CaseResult(case.name, Status.PASSED, float(case.points), float(case.points), case.hidden,
                         t(run.lang, "passed"), duration_s=duration)
    if draws:
        last = draws[-1]
        verdict.details = _details(run, case, last, run.outcome.cases.get(last.key, {}))
    return verdict, stopped


def _stopped(run: _Run, case: Case, duration: float, stopped: bool) -> CaseResult:
    """The case the run stopped in (a timeout says how long it ran), or one after it."""
    if stopped:
        status, msg = Status.ERROR, t(run.lang, "not_run", why=t(run.lang, "earlier_stop"))
    elif run.outcome.killed == "timeout":
        duration = max(duration, time_in_last_case(run.outcome))
        status, msg = Status.TIMEOUT, t(run.lang, "timeout_ran", ran=duration, limit=run.spec.limits.time_s)
    else:
        status, msg = stop_message(run.spec, run.outcome, run.lang)
    return CaseResult(case.name, status, 0.0, float(case.points), case.hidden, msg, duration_s=duration)


def time_in_last_case(outcome: Outcome) -> float:
    """Wall time of the run not accounted for by the import and the finished cases: about how long
    the case it stopped in ran."""
    done = [(outcome.imported or {}).get("duration_s")] + [r.get("duration_s") for r in outcome.cases.values()]
    spent = sum(x for x in done if isinstance(x, (int, float)) and 0 <= x <= outcome.wall_s)  # the run's own words
    return min(outcome.wall_s, max(0.0, outcome.wall_s - spent))


def _details(run: _Run, case: Case, draw: Draw, rec: dict) -> dict:
    printed = run.outcome.output_between(rec.get("output_start"), rec.get("output_end"))
    # hidden means hidden in every format: what a hidden case printed may show its inputs
    out: dict[str, Any] = {"output_hidden": True} if case.hidden and printed else {"output": printed}
    out["warnings"] = rec.get("warnings", [])
    if "value" in rec:
        out["got"] = checks.show(rec["value"])
    if "error" in rec:
        out["traceback"] = own_paths(rec["error"].get("traceback", ""), run.spec, run.source)
    if not case.hidden:
        used = names_in(case.call)
        if case.call.startswith("driver."):  # the grader's own call: say what it asks of the student's code
            out["asks"] = asked(run, case, draw)
        else:
            out["call"] = case.call
        out["inputs"] = {k: checks.show(v) for k, v in draw.inputs.items() if k in used}
        out["expected"] = checks.show(run.reference[draw.key].get("value"))
    return out


@functools.lru_cache(maxsize=512)
def names_in(call: str) -> frozenset[str]:
    """Every name a call expression reads: the inputs it really passes."""
    return frozenset(n.id for n in ast.walk(ast.parse(call, mode="eval")) if isinstance(n, ast.Name))


def asked(run: _Run, case: Case, draw: Draw) -> str:
    """A call through the course's driver as what the student's code was asked to do: the spec's
    `shows:`, else a sentence naming the student's function (never the driver call)."""
    if case.shows is not None:
        return case.shows.get(run.lang)
    tree = ast.parse(case.call, mode="eval").body
    args = tree.args if isinstance(tree, ast.Call) else []
    named = [a.id for a in args if isinstance(a, ast.Name) and a.id not in draw.inputs and a.id != "student"]
    what = ", ".join(f"`{n}`" for n in named) or t(run.lang, "shows_code", file=run.spec.file)
    return t(run.lang, "shows_generic", what=what)


def _judge_draw(run: _Run, case: Case, draw: Draw, rec: dict, n_draws: int) -> Optional[CaseResult]:
    """None when this draw passes; otherwise the case's verdict."""
    lang, spec, ref = run.lang, run.spec, run.reference[draw.key]
    missing = mistake = None
    refused = False  # the value's kind, or the driver, says what is wrong: formula hints do not apply
    if "error" in rec:
        msg, missing, refused = _error_words(run, case, rec["error"])
        hint = _error_hint(case, rec["error"], lang)
        status = Status.ERROR
    else:
        found = _printed_instead(run, case, rec, ref) or _compare(run, case, draw, rec["value"], ref)
        if found is None:
            return None
        msg, hint, mistake, refused = found
        status = Status.FAILED
    if n_draws > 1:
        msg = t(lang, "draw", i=draw.repeat + 1, n=n_draws, msg=msg)
    # a known mistake the value matched keeps its hint, whatever the value's kind
    if mistake is None and not advice.case_hint_applies(rec.get("error"), missing is not None, refused):
        hint = None  # hints only for what happened: an unstarted function gets "not implemented" alone
    else:
        hint = hint or (case.hint.get(lang) if case.hint else None) or (spec.hint.get(lang) if spec.hint else None)
    return CaseResult(case.name, status, 0.0, float(case.points), case.hidden, msg, hint,
                      details=_details(run, case, draw, rec), mistake=mistake, missing_name=missing,
                      near_miss=_near_miss(run, missing), not_started=rec.get("error", {}).get("type") in advice.UNSTARTED)


KEYED = {"EncodeError": "encode", "ResultError": "result"}  # errors the run names by a catalog key


def keyed_words(err: dict, lang: str) -> Optional[str]:
    """An error the run names by a key (``encode.object``...), in `lang`: the catalog's sentence, its
    params (text from the run) only formatted in; None when the key or its params do not fit."""
    key, params = f"{KEYED.get(err['type'])}.{err.get('key')}", err.get("params") or {}
    if err["type"] in KEYED and known(key):
        try:
            return t(lang, key, **params)
        except (KeyError, IndexError, ValueError, TypeError):
            pass
    return None


def _error_words(run: _Run, case: Case, err: dict) -> tuple[str, Optional[str], bool]:
    """An exception in words, the called name the file lacks, and whether the driver refused the value."""
    lang, at = run.lang, run.where(err.get("line"))
    if err["type"] == "NotImplementedError":  # "between Begin and End" only where the file has those markers
        marked = run.source is None or "Begin" in (run.source.text or "")
        return t(lang, "not_implemented" if marked else "not_implemented_unmarked", where=at), None, False
    keyed = keyed_words(err, lang)
    if keyed:
        return keyed, None, False
    if err["type"] == "EncodeError":
        return t(lang, "encode", msg=err["message"]), None, False
    if err["type"] == "OutputLimit":  # the run's own per-case cap (grader/sandbox/child.py)
        return t(lang, "output", limit=size_text(run.spec.limits.output_bytes)), None, True
    missing = advice.missing_name(err, case.call)
    if missing:
        return _missing_words(run, missing), missing, False
    if kinds.raised_by_driver(err, run.spec.file):  # the driver refused the value: not the student's error
        return t(lang, "driver_rejected", msg=err["message"]), None, True
    return t(lang, "exception", kind=err["type"], msg=err["message"], where=at), None, False


def _missing_words(run: _Run, name: str) -> str:
    """What to do about a name the file lacks: the near miss it defines instead ("did you mean"),
    the assignment an import does not reach, or the name alone."""
    file = run.source.name if run.source is not None else run.spec.file  # as handed in: homework.ipynb
    found = _near_miss(run, name)
    if found:
        return t(run.lang, "missing_near", file=file, name=name, found=found)
    if names.only_nested(name, run.source.text if run.source else None):
        return t(run.lang, "missing_nested", file=file, name=name)
    return t(run.lang, "missing_name", file=file, name=name)


def _near_miss(run: _Run, name: Optional[str]) -> Optional[str]:
    """The name the file defines where the stage calls `name` (never another name the stage calls)."""
    if name is None:
        return None
    expected = frozenset().union(*(names.call_names(c.call) for c in run.spec.cases))
    return names.near_miss(name, run.source.text if run.source else None, exclude=expected)


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


def _printed_instead(run: _Run, case: Case, rec: dict, ref: dict) -> Optional[tuple[str, None, None, bool]]:
    """The student's function printed something and returned None where a value is expected."""
    name = names.called_name(case.call)
    if rec.get("value") is not None or ref.get("value") is None or name is None:
        return None
    if not run.outcome.output_between(rec.get("output_start"), rec.get("output_end")).strip():
        return None
    return t(run.lang, "printed_none", name=name), None, None, True


def _custom(run: _Run, check: str) -> Optional[Callable]:
    if not check.startswith("driver.") or run.custom is None:
        return None
    fn = run.custom(check)
    return functools.partial(fn, lang=run.lang) if _takes_lang(fn) else fn


@functools.lru_cache(maxsize=256)
def _takes_lang(fn: Callable) -> bool:
    """Whether a course's own check takes the language (asked once a check, not once a value)."""
    return "lang" in inspect.signature(fn).parameters


def _compare(run: _Run, case: Case, draw: Draw, value: Any,
             ref: dict) -> Optional[tuple[str, Optional[str], Optional[str], bool]]:
    """None when every output passes; else (message, hint, known mistake's name, wrong kind of value)."""
    lang = run.lang
    got, problem = _split(case, value, lang)
    if problem:
        return problem, None, None, False
    exp, _ = _split(case, ref["value"], lang)
    for output in case.outputs:
        check = check_of(case, output)
        tol = resolve_tolerance(run.spec, case, output)
        found = checks.run_check(check, got[output.name], exp[output.name], tol, _custom(run, check), draw.inputs)
        if found is None:
            continue
        msg, wrong_kind = kinds.with_kind(checks.describe(found, lang, hidden=case.hidden),
                                             got[output.name], exp[output.name], lang)
        if found.kind == "values" and checks.float32_only(got[output.name], exp[output.name], tol):
            msg, wrong_kind = t(lang, "float32_precision", msg=msg), True  # the formula is right
        if len(case.outputs) > 1:
            msg = t(lang, "in_output", name=output.name, msg=msg)
        mistake = _known_mistake(case, output.name, got[output.name], ref, check, tol, lang, found.kind)
        return msg, mistake.hint.get(lang) if mistake else None, mistake.name if mistake else None, wrong_kind
    return None


def _known_mistake(case: Case, output: str, got: Any, ref: dict, check: str, tol: Any, lang: str,
                   kind: str = "values") -> Any:
    """The known mistake (spec `mistakes:`) whose wrong value the student returned (`kind`: the mismatch's)."""
    for mistake in case.mistakes:
        if mistake.error is not None or (mistake.output or case.outputs[0].name) != output:
            continue
        if mistake.nonfinite:
            if kind == "nonfinite":
                return mistake
            continue
        wrong = ref.get("mistakes", {}).get(mistake.name)
        if wrong is not None and len(case.outputs) > 1 and mistake.output is None:
            wrong_parts, _ = _split(case, wrong, lang)
            wrong = (wrong_parts or {}).get(output)
        if checks.matches(got, wrong, check, tol):
            return mistake
    return None
