"""GitHub Classroom end to end, with GitHub's own reporter.

The action's `run:` steps run through the runner emulator of test_platforms_classroom.py
(env, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY), then node runs the real
classroom-resources/autograding-grading-reporter (v1, vendored in tests/classroom_reporter/
with its MIT licence; its npm dependencies are installed by .ci/run with `npm ci`) the way
the template's workflow step does: `INPUT_RUNNERS=grade GRADE_RESULTS=<the result output>`.
What is asserted is what a student and Classroom see: the reporter's printed notice (the
points Classroom records), its console total and table, the reasons of failed cases, and
that no student text becomes a workflow command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REFERENCE, ROOT
from grader.course.spec import StageSpec
from grader.platforms import classroom
from grader.verdict import Report
from test_platforms_classroom import FORGED_NOTICE, WORKFLOW, run_action

REPORTER = ROOT / "tests" / "classroom_reporter"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def node():
    """node and the reporter's npm dependencies: .ci/run installs them, so under CI they must be there."""
    node = shutil.which("node")
    ready = node and (REPORTER / "node_modules" / "@actions" / "core").is_dir() \
        and (REPORTER / "node_modules" / "cli-table3").is_dir()
    if not ready:
        why = "node or the reporter's npm packages are missing: run `npm ci --prefix tests/classroom_reporter`"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return node


def run_reporter(node: str, encoded: str) -> tuple[str, int]:
    """The reporter step of the template's workflow: (its log without colours, its exit code)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "INPUT_RUNNERS": "grade", "GRADE_RESULTS": encoded}
    proc = subprocess.run([node, "src/main.js"], cwd=REPORTER, env=env, capture_output=True, text=True,
                          timeout=60)
    return ANSI.sub("", proc.stdout + proc.stderr), proc.returncode


LEGACY = re.compile(r"##\[[\w-]+[ \]]")


def workflow_commands(log: str) -> list[str]:
    """The lines of a job log that the runner reads as workflow commands (actions/runner,
    ActionCommand.cs): `::command::` after leading whitespace, or `##[command]` anywhere."""
    return [line.strip() for line in log.splitlines() if line.lstrip().startswith("::") or LEGACY.search(line)]


def js_number(x: float) -> str:
    """How JavaScript prints a number (`${x}`): the shortest round-trip digits, no `.0`."""
    return str(int(x)) if float(x) == int(x) else repr(float(x))


def reporter_view(log: str) -> dict:
    """The notice (what Classroom records), the console total and the table's row for `grade`."""
    notice = re.search(r"^::notice title=Autograding complete::Points (\S+)/(\S+)$", log, re.M)
    console = re.search(r"^Total points for grade: (\S+)/(\S+)$", log, re.M)
    row = re.search(r"^│ grade\s+│ (\S+)\s+│ (\S+)\s+│$", log, re.M)
    total = re.search(r"^│ Total:\s+│ (\S+)\s+│ (\S+)\s+│$", log, re.M)
    assert notice and console and row and total, log
    return {"notice": notice.groups(), "console": console.groups(), "table": row.groups(),
            "table_total": total.groups()}


def assert_totals_agree(log: str, score: float, max_score: float) -> None:
    """Classroom's points, the reporter's console line and table, and grade's own total are one number."""
    view = reporter_view(log)
    assert view["notice"] == (js_number(score), js_number(max_score))  # exactly what grade says
    assert view["console"] == (f"{score:.2f}", js_number(max_score))
    for cells in (view["table"], view["table_total"]):
        # passed/tests x max, a float product the reporter prints raw in a cell of 11 characters:
        # 7 of 159 shows as 6.99999999… (no result can change that: it depends on 7/159 alone)
        assert float(cells[0].rstrip("…")) == pytest.approx(score, abs=1e-6) and cells[1] == js_number(max_score)
    summary = json.loads(re.search(r"^::notice title=Autograding report::(.*)$", log, re.M).group(1))
    assert summary == {"totalPoints": score, "maxPoints": max_score}


def template_inputs() -> dict:
    """The `with:` of the template workflow's grade step, as a teacher receives it."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["run-autograding-tests"]["steps"]
    grade = next(s for s in steps if s.get("id") == "grade")
    return {k: str(v) for k, v in grade["with"].items()}


def workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name, text in files.items():
        (ws / name).write_text(text, encoding="utf-8")
    return ws


def reference(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


WRONG_RMSE = re.sub(r"RMSE = .*", "RMSE = np.sqrt(error.dot(error)) / count", reference("metrics.py"), count=1)


def graded(tmp_path: Path, files: dict[str, str], inputs: dict) -> tuple[dict, dict, str]:
    """The action on a workspace: (the decoded result, grade's report.json, the grade steps' log)."""
    outputs, _, temp = run_action(tmp_path, workspace(tmp_path, files), inputs)
    report = json.loads((temp / "grade-report" / "report.json").read_text())
    return outputs, report, (tmp_path / "job.log").read_text()


def test_template_defaults_full_marks(tmp_path, node):
    """The template's inputs (stages "": every stage whose file is there) on a correct student."""
    inputs = template_inputs()
    assert inputs["stages"] == ""
    outputs, report, _ = graded(tmp_path, {"activation.py": reference("activation.py"),
                                           "metrics.py": reference("metrics.py")}, inputs)
    assert [s["number"] for s in report["stages"]] == [1, 2, 3, 5]
    log, rc = run_reporter(node, outputs["result"])
    assert rc == 0, log
    assert report["score"] == report["max_score"] == 39
    assert_totals_agree(log, 39, 39)
    assert workflow_commands(log) == ["::notice title=Autograding complete::Points 39/39",
                                      '::notice title=Autograding report::{"totalPoints":39,"maxPoints":39}']
    assert "Error:" not in log and "❌" not in log
    assert "Grand total tests passed: 39/39" in log


def test_template_defaults_failing_student_sees_why(tmp_path, node):
    outputs, report, _ = graded(tmp_path, {"activation.py": reference("activation.py"), "metrics.py": WRONG_RMSE},
                                template_inputs())
    score, max_score = report["score"], report["max_score"]
    assert 0 < score < max_score == 39
    log, rc = run_reporter(node, outputs["result"])
    assert rc == 1 and workflow_commands(log)[-1] == "::error::Some tests failed."
    assert_totals_agree(log, score, max_score)
    # the failed cases' reasons are in the log, under the stage's name, with the command to rerun it
    lost = [c for s in report["stages"] for c in s["cases"] if c["status"] != "passed"]
    assert lost and all(c["name"].startswith(("rmse", "random-rmse", "single-rating", "integer-ratings"))
                        for c in lost)
    block = log[log.index("Error: ❌ 5 mae-rmse"):]
    for case in lost:
        assert f"{case['name']}: failed" in block
    assert re.search(r"expected .*got", block)
    assert f"Test code:\ngrade . --stage mae-rmse --seed {report['seed']}\n" in block
    assert log.count("Test code:") == 1  # only the lost test carries it: passing units are one line each


def test_explicit_stages_per_case(tmp_path, node):
    outputs, report, _ = graded(tmp_path, {"activation.py": reference("activation.py"), "metrics.py": WRONG_RMSE},
                                {"stages": "1 5", "per": "case"})
    assert [s["number"] for s in report["stages"]] == [1, 5] and report["max_score"] == 21
    log, rc = run_reporter(node, outputs["result"])
    assert rc == 1
    assert_totals_agree(log, report["score"], 21)
    lost = [c["name"] for s in report["stages"] for c in s["cases"] if c["status"] != "passed"]
    for name in lost:
        assert re.search(rf"^Error: ❌ 5 mae-rmse / {re.escape(name)}( \(1/\d+\))?\n{re.escape(name)}: failed: ",
                         log, re.M), name
        assert f"grade . --stage mae-rmse --seed {report['seed']}   # case {name}" in log


def test_hostile_student_text_stays_text(tmp_path, node):
    """A student's exception message holding a forged notice: in the grade steps' log and the
    reporter's log the only workflow commands are the reporter's own (the job summary is a
    Markdown file the runner renders, never reads for commands)."""
    forged = f"boom\\n{FORGED_NOTICE}\\n::error::x\\n  ::stop-commands::t\\nsee ##[notice title=Autograding complete;]Points 27/27"
    hostile = ("import sys\n"
               f"print('{forged}')\nprint('{forged}', file=sys.stderr)\n"
               "class ActivationFunction:\n    def sigmoid(self, x):\n"
               f"        print('{forged}')\n"
               f"        raise ValueError('{forged}')\n")
    outputs, report, grade_log = graded(tmp_path, {"activation.py": hostile}, {"stages": "1"})
    assert workflow_commands(grade_log) == []
    log, rc = run_reporter(node, outputs["result"])
    assert rc == 1 and report["score"] == 0
    assert workflow_commands(log) == ["::notice title=Autograding complete::Points 0/9",
                                      '::notice title=Autograding report::{"totalPoints":0,"maxPoints":9}',
                                      "::error::Some tests failed."]
    assert "Points 27/27" in log  # the student's words are shown, as text
    assert_totals_agree(log, 0, 9)


def _spec(cases):
    return StageSpec.parse({"number": 1, "slug": "s", "title": {"en": "S", "zh": "S"}, "file": "f.py",
                            "cases": [{"name": n, "points": p, "call": "f()"} for n, p in cases]})


def _report(spec, passed):
    cases = [{"name": c.name, "status": "passed" if c.name in passed else "failed",
              "score": c.points if c.name in passed else 0, "max_score": c.points,
              "message": "" if c.name in passed else "expected 1, got 2"} for c in spec.cases]
    score = sum(c["score"] for c in cases)
    return Report.from_dict({"submission": ".", "seed": 1, "lang": "en", "stages": [
        {"number": 1, "slug": "s", "title": "S", "status": "failed", "score": score,
         "max_score": spec.max_score, "cases": cases}]})


@pytest.mark.parametrize("points,passed", [
    ([("a", 7), ("b", 152)], {"a"}),                           # 7/159: the table shows 6.99999999…
    ([("a", 1 / 3), ("b", 1 / 3), ("c", 1 / 3), ("d", 2)], {"a", "b", "c"}),  # thirds: a float residue
    ([("a", 0.1), ("b", 0.2), ("c", 0.7)], {"a", "b"}),         # tenths: 0.1 + 0.2 is 0.30000000000000004
])
def test_points_classroom_records_are_grades_total(node, points, passed):
    spec = _spec(points)
    report = _report(spec, passed)
    for per in ("stage", "case"):
        result = classroom.classroom_result(report, [spec], per=per)
        log, _ = run_reporter(node, classroom.encode_result(result))
        assert_totals_agree(log, classroom._num(report.score), classroom._num(spec.max_score))



def test_the_vendored_reporter_is_githubs_unchanged():
    """Each vendored file has the git blob id it has at the reporter's tag v1 (README.md there)."""
    import hashlib

    listed = re.findall(r"^    ([0-9a-f]{40})  (\S+)$", (REPORTER / "README.md").read_text(), re.M)
    assert len(listed) == 7
    for blob, name in listed:
        data = (REPORTER / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, name
    assert sorted(p.relative_to(REPORTER).as_posix() for p in (REPORTER / "src").rglob("*.js")) == \
        sorted(name for _, name in listed if name.endswith(".js"))
