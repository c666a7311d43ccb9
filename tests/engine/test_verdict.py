"""Typed verdicts: the JSON contract round-trips, statuses stay plain strings."""

from __future__ import annotations

import json

from grader.verdict import CaseResult, Report, StageResult, Status


def _report() -> Report:
    case = CaseResult("c1", Status.FAILED, 0.0, 2.0, True, "wrong", hint="h", duration_s=0.5,
                      details={"got": "1.0"}, mistake="sign-error", missing_name=None)
    stage = StageResult(3, "relu", "ReLU", Status.FAILED, 1.0, 3.0, "1 of 2 cases did not pass", duration_s=1.0,
                        run_s=0.25, cases=[case, CaseResult("c2", "passed", 1.0, 1.0, False, "passed")],
                        details={"file": "activation.py"})
    return Report(submission="sub", course="nn", seed=7, lang="en", stages=[stage])


def test_json_contract_keys_and_plain_strings():
    data = _report().to_dict()
    assert set(data) == {"submission", "course", "course_hash", "seed", "score", "max_score", "lang",
                         "grader_version", "stages", "notes", "reproduce", "sandbox"}
    assert data["reproduce"] == "grade sub --stage 3 --seed 7"
    st = data["stages"][0]
    assert set(st) == {"number", "slug", "title", "status", "score", "max_score", "message", "hint", "duration_s", "run_s", "wait_s",
                       "progress", "cases"}
    assert st["progress"] == "in_progress"
    assert set(st["cases"][0]) == {"name", "status", "score", "max_score", "hidden", "message", "hint", "duration_s"}
    assert type(st["status"]) is str and json.loads(json.dumps(data))["stages"][0]["cases"][1]["status"] == "passed"
    assert data["score"] == 1.0 and data["max_score"] == 3.0


def test_round_trip_with_details():
    report = _report()
    data = report.to_dict(details=True)
    assert data["stages"][0]["cases"][0]["details"] == {"got": "1.0", "mistake": "sign-error"}
    back = Report.from_dict(json.loads(json.dumps(data)))
    assert back.to_dict(details=True) == data
    assert back.stages[0].cases[0].mistake == "sign-error" and back.stages[0].status is Status.FAILED


def test_status_reads_like_its_string():
    assert Status.PASSED == "passed" and f"{Status.ERROR}" == "error" and {"timeout": 1}[Status.TIMEOUT] == 1
    assert Status.of("nonsense") is Status.ERROR


def test_progress_of_a_stage_and_the_counts():
    from grader.verdict import Progress

    def stage(status, *cases):
        return StageResult(1, "s", "S", status, 0.0, 1.0, "", cases=list(cases))

    todo = CaseResult("a", Status.ERROR, 0.0, 1.0, False, "not implemented yet", not_started=True)
    gone = CaseResult("b", Status.ERROR, 0.0, 1.0, False, "no f", missing_name="f")
    wrong = CaseResult("c", Status.FAILED, 0.0, 1.0, False, "wrong")
    right = CaseResult("d", Status.PASSED, 1.0, 1.0, False, "passed")
    assert stage(Status.FAILED, todo, gone).progress == Progress.NOT_STARTED
    assert stage(Status.FAILED, todo, wrong).progress == Progress.IN_PROGRESS
    assert stage(Status.FAILED, todo, right).progress == Progress.IN_PROGRESS
    assert stage(Status.PASSED, right).progress == Progress.DONE
    no_file = stage(Status.ERROR, wrong)
    no_file.unstarted = True
    assert no_file.progress == Progress.NOT_STARTED
    report = Report("sub", "nn", 1, "en", stages=[stage(Status.FAILED, todo), stage(Status.PASSED, right), no_file])
    assert report.progress_counts() == {Progress.DONE: 1, Progress.IN_PROGRESS: 0, Progress.NOT_STARTED: 2}
    back = Report.from_dict(json.loads(json.dumps(report.to_dict(details=True))))
    assert [s.progress for s in back.stages] == [s.progress for s in report.stages]


def test_the_reproduce_command_is_quoted_for_the_shell():
    import shlex

    report = _report()
    report.submission = "my work/it's.zip"
    cmd = report.reproduce_command()
    assert shlex.split(cmd) == ["grade", "my work/it's.zip", "--stage", "3", "--seed", "7"]
    report.reproduce = "grade x --seed 1"  # what the CLI sets wins
    assert report.reproduce_command() == "grade x --seed 1"


def test_a_derived_reproduce_command_follows_the_report_after_a_round_trip():
    """A report read back (from a cluster worker, from the cache) whose command was only derived must
    derive it again: the batch then gives it the student's path and the stages not handed in."""
    data = json.loads(json.dumps(_report().to_dict(details=True)))
    data["submission"], data["reproduce"] = "/tmp/worker-1/work", "grade /tmp/worker-1/work --stage 3 --seed 7"
    back = Report.from_dict(data)
    back.submission = "class/alice.zip"
    back.stages.append(StageResult(4, "softmax", "Softmax", Status.ERROR, 0.0, 2.0, "no file"))
    assert back.reproduce_command() == "grade class/alice.zip --stage 3-4 --seed 7"
    data["reproduce"] = "grade activation.py --stage 3 --seed 7"  # one set on purpose (`grade serve`) stays
    assert Report.from_dict(data).reproduce_command() == "grade activation.py --stage 3 --seed 7"


def test_every_field_survives_the_round_trip():
    """What a cluster worker sends and the batch's cache keeps is the report itself: a field lost on
    the way changes the gradebook (a case whose name the file lacks is "not started" only while
    `missing_name` is known)."""
    import dataclasses

    def varied(cls, **given):
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in given:
                values[f.name] = given[f.name]
            elif f.type in ("bool", bool):
                values[f.name] = True
            elif "float" in str(f.type):
                values[f.name] = 1.5
            elif "int" in str(f.type):
                values[f.name] = 3
            elif "dict" in str(f.type):
                values[f.name] = {f.name: "x"}
            else:
                values[f.name] = f"{f.name}-value"
        return cls(**values)

    case = varied(CaseResult, status=Status.FAILED, missing_name="sigmoid", near_miss=None)
    assert case.unstarted
    stage = varied(StageResult, status=Status.FAILED, cases=[case, varied(CaseResult, status=Status.ERROR)])
    report = varied(Report, stages=[stage], notes=["a note"], seed=7, reproduce="grade x --seed 7")
    back = Report.from_dict(json.loads(json.dumps(report.to_dict(details=True))))
    assert back == report
    assert back.stages[0].cases[0].unstarted and back.stages[0].progress == stage.progress
