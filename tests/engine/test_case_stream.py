"""Verdicts case by case (`Grader.grade(on_case=)`): each case is told while the run goes on,
in order, once, judged exactly as the final report judges it; a stage that cannot stream is
told whole at its end, never wrongly; what the run's process sends on the notice pipe cannot
change a verdict.

The order test needs no clock: the submission's second case waits for a file that only the
test's `on_case` creates when it hears the first case. Without streaming, the run would wait
until its time limit and the case would fail.
"""

from __future__ import annotations

import os
import re
import secrets
import threading

import pytest

from conftest import REFERENCE, grader_for, make_course, make_submission
from helpers import MET, body
from test_sandbox_uid import ENV, PY, needs_jail, private_course

from grader.engine import Grader
from grader.verdict import CaseVerdict, Status


def _tell_into(told: list, ended: threading.Event):
    def on_case(verdict: CaseVerdict) -> None:
        told.append((verdict, ended.is_set()))
    return on_case


def _grade(sub, stages, on_case=None, on_stage=None):
    grader = grader_for()
    for spec in grader.course.select(stages):
        grader.expected(spec)  # the reference's records are there before the run (as in a warm server)
    return grader.grade(sub, stages, on_case=on_case, on_stage=on_stage)


def _gated_metrics(gate: str, candidates: list[str]) -> str:
    """metrics.py whose first comp_rmse call waits (up to its limit) for the file `gate`."""
    return (REFERENCE / MET).read_text(encoding="utf-8") + f"""

import os as _os, time as _time
_seen = []
_plain_rmse = comp_rmse


def comp_rmse(pred, actual):
    if not _seen:
        _seen.append(1)
        for _ in range(3000):  # about 30 s: longer than the stage may run
            if any(_os.path.exists(_os.path.join(d, {gate!r})) for d in {candidates!r}):
                break
            _time.sleep(0.01)
        else:
            return float("nan")
    return _plain_rmse(pred, actual)
"""


@pytest.fixture(scope="module", params=["own-python", "zygote"])
def grader(request, tmp_path_factory):
    """The session's Grader (each sandbox starts its own Python: `--no-zygote`), and one whose
    sandboxes' fork servers are forked from a zygote (as `grade batch` and `grade serve` do)."""
    if request.param == "own-python":
        yield grader_for()
        return
    with Grader(course=make_course(tmp_path_factory.mktemp("course")), seed=12345, zygote=True) as g:
        yield g


def test_each_case_is_told_before_the_run_ends_in_order_and_as_the_report_says(grader, tmp_path):
    gate = f"go-{secrets.token_hex(4)}"
    inputs = grader.sandbox.root / "inputs"  # bound read-only into every run (as /inputs under bubblewrap)
    sub = make_submission(tmp_path, {MET: _gated_metrics(gate, ["/inputs", str(inputs)])})
    told, stages, ended = [], [], threading.Event()

    def on_case(verdict: CaseVerdict) -> None:
        told.append(verdict)
        if verdict.case.name == "mae-small":
            (inputs / gate).touch()  # the second case may go on: only once the first was heard

    def on_stage(stage) -> None:
        stages.append((stage.number, len(told)))
        ended.set()
    try:
        report = grader.grade(sub, [5], on_case=on_case, on_stage=on_stage)
    finally:
        (inputs / gate).unlink(missing_ok=True)
    assert report.sandbox == os.environ.get("GRADE_SANDBOX", report.sandbox)  # the uid backend's run below
    final = report.stages[0]
    assert [c.status for c in final.cases] == [Status.PASSED] * len(final.cases) and len(final.cases) == 6
    assert [(v.stage, v.index, v.case.name) for v in told] == [(5, i, c.name) for i, c in enumerate(final.cases)]
    assert all(v.streamed for v in told)  # every one while the run went on, none from the result
    assert stages == [(5, 6)]  # all told before the stage
    assert [v.case for v in told] == final.cases  # the same typed verdicts, details and all


def test_a_wrong_submission_streams_the_verdicts_its_report_gives(tmp_path):
    sub = make_submission(tmp_path, {MET: body("RMSE = np.sqrt(error.dot(error)) / count")})
    told, ended = [], threading.Event()
    report = _grade(sub, [5], _tell_into(told, ended), lambda st: ended.set())
    final = report.stages[0]
    assert {c.name for c in final.cases if c.status != Status.PASSED} >= {"rmse-small", "random-rmse"}
    assert [v.case for v, _ in told] == final.cases
    assert all(v.streamed and not after for v, after in told)
    hidden = next(v.case for v, _ in told if v.case.name == "random-rmse")
    assert hidden.hidden and hidden.status == Status.FAILED
    assert "expected" not in hidden.details and "inputs" not in hidden.details  # a hidden case shows no answer


def test_a_stage_that_cannot_stream_is_told_whole_at_its_end(tmp_path):
    broken = make_submission(tmp_path, {MET: "def comp_mae(pred, actual:\n    return 0\n"})  # a syntax error
    told, ended = [], threading.Event()
    report = _grade(broken, [5], _tell_into(told, ended), lambda st: ended.set())
    final = report.stages[0]
    assert final.status == Status.ERROR and len(final.cases) == 6
    assert [v.case for v, _ in told] == final.cases and not any(v.streamed for v, _ in told)

    told.clear()
    report = _grade(REFERENCE, [6], _tell_into(told, ended))  # original forms: chosen after the cases
    assert [v.case for v, _ in told] == report.stages[0].cases and not any(v.streamed for v, _ in told)
    assert report.stages[0].score == report.stages[0].max_score


def test_notices_forged_by_the_submission_change_no_verdict(tmp_path):
    """The run's process holds the notice pipe: a submission that floods it with lies (ends far
    beyond its files, garbage, unfinished lines) gets the verdicts of the same code without them."""
    forger = (REFERENCE / MET).read_text(encoding="utf-8") + """

import os as _os, stat as _stat
for _fd in range(3, 256):
    try:
        if _stat.S_ISFIFO(_os.fstat(_fd).st_mode):
            _os.write(_fd, b"99999999999 99999999999 99999999999\\n" * 50 + b"x y\\n-5 -5 -5\\n12 3")
    except OSError:
        pass
"""
    sub = make_submission(tmp_path, {MET: forger})
    told, ended = [], threading.Event()
    report = _grade(sub, [5], _tell_into(told, ended))
    final = report.stages[0]
    assert final.score == final.max_score
    assert [v.case for v, _ in told] == final.cases
    assert all(v.streamed for v, _ in told)  # nor do they stop the streaming


@needs_jail
def test_cases_stream_under_the_uid_backend(tmp_path):
    """This file's tests again, unchanged, where bubblewrap cannot run and the uid backend grades."""
    from jail import docker_like
    from conftest import ROOT

    res = docker_like([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", __file__,
                       "-k", "not uid_backend"], cwd=str(ROOT), env={**ENV, "GRADE_SANDBOX": "uid"},
                      ro_binds=private_course(tmp_path), cgroups=True)
    tail = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    assert res.returncode == 0 and re.fullmatch(r"\d+ passed, 1 deselected in .*", tail), \
        res.stdout[-4000:] + res.stderr[-2000:]  # none skipped, none failed


def test_records_read_piece_by_piece_are_the_records_read_whole(tmp_path):
    """Wherever the relayed bytes are cut (mid-line, mid-array; a line's arrays sent with it or
    before, as the fork server sends them), the run so far holds exactly the records that
    reading the final files whole gives, and an unfinished line is not one."""
    import numpy as np

    from grader.limits import PLATFORM
    from grader.sandbox.child import Arrays, RecordWriter, encode
    from grader.sandbox.records import Streamed, collect

    writer = RecordWriter(str(tmp_path), "results")
    values = {"import": {"error": None, "duration_s": 0.1, "warnings": [], "output_end": 0},
              "a": {"value": [1, 2.5, "x"]}, "b": {"value": np.arange(12.0).reshape(3, 4)},
              "c": {"value": (np.int32(7), np.ones(5, dtype=np.float32))}, "d": {"error": {"type": "ValueError"}}}
    for key, data in values.items():
        arrays = Arrays(1 << 20)
        if "value" in data:
            data = {**data, "value": encode(data["value"], arrays), "duration_s": 0.01}
        writer.write(key, data, arrays)
    writer.close()
    text, blob = (tmp_path / "results.jsonl").read_bytes(), (tmp_path / "results.bin").read_bytes()
    whole = collect({}, [text, blob, b"", b""], PLATFORM)
    for cut in (1, 7, 50, 333):
        stream = Streamed(PLATFORM)
        pieces = [(text[i:i + cut], blob[i:i + cut]) for i in range(0, max(len(text), len(blob)), cut)]
        assert len(blob) < len(text)  # so each line's arrays are there by the time it is complete
        for lines, arrays in pieces:
            outcome = stream.add([lines, arrays, b""])
        assert outcome.imported == whole.imported and outcome.cases.keys() == whole.cases.keys() == set("abcd")
        for key, rec in whole.cases.items():
            assert repr(outcome.cases[key]) == repr(rec)
    half = Streamed(PLATFORM).add([text[:-3], blob, b""])  # the last line unfinished: not a record yet
    assert set(half.cases) == set("abc")


def test_a_run_stopped_at_its_limit_streams_the_cases_it_finished_and_the_rest_come_at_its_end(tmp_path):
    looping = (REFERENCE / MET).read_text(encoding="utf-8") + """

_calls = []
_plain_rmse = comp_rmse


def comp_rmse(pred, actual):
    _calls.append(1)
    while len(_calls) == 2:  # the third case's call never returns
        pass
    return _plain_rmse(pred, actual)
"""
    sub = make_submission(tmp_path, {MET: looping})
    told = []
    with Grader(course=make_course(tmp_path / "course", time_s=2), seed=12345) as grader:
        grader.expected(grader.course.select([5])[0])  # the reference's records first (a warm server's)
        report = grader.grade(sub, [5], on_case=told.append)
    final = report.stages[0]
    assert [c.status for c in final.cases[:3]] == [Status.PASSED, Status.PASSED, Status.TIMEOUT]
    assert [v.case for v in told] == final.cases
    assert [v.streamed for v in told] == [True, True] + [False] * 4  # the two it finished came while it ran
