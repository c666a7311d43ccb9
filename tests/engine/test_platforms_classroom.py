"""The GitHub Action and `grade classroom`: the `result` output GitHub Classroom reads.

The action's `run:` steps are executed with bash the way a runner does (GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, GITHUB_ACTION_PATH, RUNNER_TEMP set to temporary
files and folders, `${{ }}` in `env:` evaluated), with GRADE_ACTION_SKIP_INSTALL=1 so
nothing is pip-installed; the `uses:` step (upload-artifact) is not run. The decoded
result is then checked field by field, and added up the way the reporter does
(classroom-resources/autograding-grading-reporter, src/notify-classroom.js).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import grader
from grader.course.folder import split_refs as parse_stage_list
from grader.platforms import classroom
from grader.platforms.classroom import decode_result, encode_result, error_result
from grader.course.spec import StageSpec
from grader.verdict import Report


def classroom_result(report, specs, **options):
    """The platform takes a Report; these tests write theirs as the JSON it reads back from."""
    return classroom.classroom_result(Report.from_dict(report), specs, **options)

REPO = Path(grader.__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
WORKFLOW = REPO / "student_template" / ".github" / "workflows" / "classroom.yml"
STATUSES = {"pass", "fail", "error"}


# --- the result format, on hand-written reports ---------------------------------------

def spec(number, slug, cases, file="f.py"):
    return StageSpec.parse({
        "number": number, "slug": slug, "title": {"en": slug.title(), "zh": slug}, "file": file,
        "cases": [{"name": n, "points": p, "hidden": h, "call": "f()"} for n, p, h in cases]})


SPECS = [spec(1, "sigmoid", [("a", 1, False), ("b", 2, True)], "activation.py"),
         spec(5, "mae-rmse", [("mae", 2, False), ("rmse", 2.5, False)], "metrics.py"),
         spec(6, "steepest-descent", [("grad", 1, False), ("path", 3, True)], "steepest_descent.py")]


def c(name, status, score, mx, hidden=False, message="", hint=None):
    return {"name": name, "status": status, "score": score, "max_score": mx, "hidden": hidden,
            "message": message, "hint": hint, "duration_s": 0.05}


REPORT = {
    "submission": "ws", "course": "nn", "seed": 3, "score": 5.0, "max_score": 11.5, "lang": "en",
    "stages": [
        {"number": 1, "slug": "sigmoid", "title": "Sigmoid", "status": "passed", "score": 3.0, "max_score": 3.0,
         "message": "all 2 cases passed", "duration_s": 0.5, "cases": [c("a", "passed", 1, 1), c("b", "passed", 2, 2, True)]},
        {"number": 5, "slug": "mae-rmse", "title": "MAE", "status": "failed", "score": 2.0, "max_score": 4.5,
         "message": "1 of 2 cases did not pass", "duration_s": 0.25,
         "cases": [c("mae", "passed", 2, 2), c("rmse", "failed", 0, 2.5, message="expected 1.0, got 2.0", hint="sqrt")]},
        {"number": 6, "slug": "steepest-descent", "title": "SD", "status": "error", "score": 0.0, "max_score": 4.0,
         "message": "steepest_descent.py has a syntax error on line 3", "duration_s": 0.1, "cases": []},
    ],
}


def check_result(result: dict, specs, report=None) -> None:
    """The fields Classroom's graders write and its reporter reads, with their types."""
    assert result["version"] == 1
    assert result["status"] in STATUSES
    assert isinstance(result["max_score"], (int, float)) and not isinstance(result["max_score"], bool)
    assert result["max_score"] == pytest.approx(sum(s.max_score for s in specs))
    assert isinstance(result["tests"], list) and result["tests"]
    for t in result["tests"]:
        assert set(t) == {"name", "status", "score", "message", "test_code", "filename", "line_no", "execution_time"}
        assert isinstance(t["name"], str) and t["name"]
        assert t["status"] in STATUSES
        assert isinstance(t["score"], (int, float)) and not isinstance(t["score"], bool)
        assert isinstance(t["message"], str) and isinstance(t["test_code"], str)
        assert isinstance(t["filename"], str) and t["line_no"] == 0
        assert re.fullmatch(r"\d+\.\d\ds", t["execution_time"])
        if t["status"] != "pass":
            assert result["status"] in ("fail", "error")
    if report is not None:
        assert sum(t["score"] for t in result["tests"]) == pytest.approx(report["score"])
    # The reporter's two totals agree: its table (equal weights) and the points Classroom records.
    assert table_total(result) == pytest.approx(sum(t["score"] for t in result["tests"]))
    if all(t["status"] == "pass" for t in result["tests"]):
        assert result["status"] == "pass"


def _groups(res) -> dict:
    """The tests of each stage (or case) name, in order: "name (i/k)" -> name."""
    out: dict = {}
    for t in res["tests"]:
        out.setdefault(re.sub(r" \(\d+/\d+\)$", "", t["name"]), []).append(t)
    return out


def test_result_per_stage():
    res = classroom_result(REPORT, SPECS, per="stage", sub_label="ws")
    check_result(res, SPECS, REPORT)
    assert res["status"] == "fail" and res["max_score"] == 11.5
    # Points come in halves (2.5): every stage is split into tests of 0.5, earned ones passing.
    groups = _groups(res)
    assert list(groups) == ["1 sigmoid: Sigmoid", "5 mae-rmse: Mae-Rmse", "6 steepest-descent: Steepest-Descent"]
    assert [len(g) for g in groups.values()] == [6, 9, 8]
    assert [t["name"] for t in groups["1 sigmoid: Sigmoid"]] == [f"1 sigmoid: Sigmoid ({i}/6)" for i in range(1, 7)]
    # the first lost test of a stage is an `error` (the reporter prints the message of errors only)
    assert [[t["status"] for t in g] for g in groups.values()] == [["pass"] * 6, ["pass"] * 4 + ["error"] + ["fail"] * 4,
                                                                  ["error"] + ["fail"] * 7]
    assert [sum(t["score"] for t in g) for g in groups.values()] == [3, 2, 0]
    assert {t["score"] for t in res["tests"]} == {0, 0.5}
    assert [t["filename"] for t in res["tests"][::7]] == ["activation.py", "metrics.py", "metrics.py",
                                                          "steepest_descent.py"]
    assert all(t["message"] == "" for t in groups["1 sigmoid: Sigmoid"])
    mae = groups["5 mae-rmse: Mae-Rmse"]
    assert "rmse: failed: expected 1.0, got 2.0 (hint: sqrt)" in mae[4]["message"]  # once, on the first lost
    assert mae[4]["message"].startswith("\u274c 5 mae-rmse: Mae-Rmse (5/9)\n")  # the reporter prints no name for errors
    assert [bool(t["message"]) for t in mae] == [False] * 4 + [True] + [False] * 4
    assert "syntax error" in groups["6 steepest-descent: Steepest-Descent"][0]["message"]
    # the command that reruns it, printed after every test: only where something was lost
    assert [t["test_code"] for t in mae] == [""] * 4 + ["grade ws --stage mae-rmse --seed 3"] + [""] * 4
    assert res["tests"][0]["execution_time"] == "0.50s"


def test_result_per_case():
    res = classroom_result(REPORT, SPECS, per="case")
    check_result(res, SPECS, REPORT)
    groups = _groups(res)
    assert list(groups) == ["1 sigmoid / a", "1 sigmoid / b", "5 mae-rmse / mae", "5 mae-rmse / rmse",
                            "6 steepest-descent / grad", "6 steepest-descent / path"]
    assert [len(g) for g in groups.values()] == [2, 4, 4, 5, 2, 6]  # points / 0.5
    assert [sum(t["score"] for t in g) for g in groups.values()] == [1, 2, 2, 0, 0, 0]
    # the errored stage had no cases: its spec cases become errors carrying the stage message
    for name in ("6 steepest-descent / grad", "6 steepest-descent / path"):
        assert [t["status"] for t in groups[name]] == ["error"] + ["fail"] * (len(groups[name]) - 1)
        assert "syntax error" in groups[name][0]["message"]


def test_whole_points_make_one_test_per_point_and_totals_agree():
    """The reporter's two totals on a partly-correct submission: the sum of scores (recorded by
    Classroom) and passed/total x max (its console table) are the same number."""
    specs = [spec(1, "sigmoid", [("a", 1, False), ("b", 3, True)], "activation.py"),
             spec(5, "mae-rmse", [("mae", 2, False), ("rmse", 4, False)], "metrics.py")]
    rep = {"submission": "ws", "seed": 1, "lang": "en", "score": 5.0, "stages": [
        {"number": 1, "slug": "sigmoid", "title": "S", "status": "failed", "score": 1.0, "max_score": 4.0,
         "cases": [c("a", "passed", 1, 1), c("b", "failed", 0, 3, True, message="wrong")]},
        {"number": 5, "slug": "mae-rmse", "title": "M", "status": "failed", "score": 4.0, "max_score": 6.0,
         "cases": [c("mae", "failed", 0, 2, message="off"), c("rmse", "passed", 4, 4)]}]}
    for per in ("stage", "case"):
        res = classroom_result(rep, specs, per=per)
        check_result(res, specs, rep)
        points, mx, status, table = reporter_totals(encode_result(res))
        assert (points, mx, status) == (5, 10, "fail") and table == pytest.approx(points)
        assert len(res["tests"]) == 10 and {t["score"] for t in res["tests"]} == {0, 1}
    names = [t["name"] for t in classroom_result(rep, specs, per="case")["tests"]]
    assert names[:4] == ["1 sigmoid / a", "1 sigmoid / b (1/3)", "1 sigmoid / b (2/3)", "1 sigmoid / b (3/3)"]
    # Before the split, one test per stage: 1 of 2 passed x 10 = 0 (no stage passed), not 5.
    weighted = {"tests": [{"status": "fail", "score": 1}, {"status": "fail", "score": 4}], "max_score": 10}
    assert table_total(weighted) == 0 != sum(t["score"] for t in weighted["tests"])


def test_unit_of():
    from grader.platforms.classroom import unit_of

    assert unit_of(SPECS) == 0.5
    assert unit_of([spec(1, "s", [("a", 2, False), ("b", 4, False)])]) == 2
    assert unit_of([spec(1, "s", [("a", 1, False), ("b", 0.25, False)])]) == 0.25
    assert unit_of([spec(1, "s", [("a", 1000, False), ("b", 1, False)])]) is None  # too many tests: weighted
    assert unit_of([]) is None


def test_too_many_units_keeps_weighted_tests_and_says_which_number_counts():
    specs = [spec(1, "s", [("a", 1000, False), ("b", 1, False)])]
    rep = {"submission": "ws", "seed": 1, "lang": "en", "score": 1000.0, "stages": [
        {"number": 1, "slug": "s", "title": "S", "status": "failed", "score": 1000.0, "max_score": 1001.0,
         "cases": [c("a", "passed", 1000, 1000), c("b", "failed", 0, 1)]}]}
    res = classroom.classroom_result(Report.from_dict(rep), specs, per="case")
    assert [t["score"] for t in res["tests"]] == [1000, 0] and "_points" not in res["tests"][0]
    note = classroom.points_note(res, specs, "en")
    assert "1000/1001" in note and "may show another total" in note
    assert "the same total" in classroom.points_note(classroom_result(REPORT, SPECS), SPECS, "en")


def test_stage_missing_from_report_counts_as_error():
    rep = dict(REPORT, stages=REPORT["stages"][:1], score=3.0)
    for per in ("stage", "case"):
        res = classroom_result(rep, SPECS, per=per)
        check_result(res, SPECS, rep)
        assert res["status"] == "fail"


def test_error_result_keeps_max_score():
    for per in ("stage", "case"):
        res = error_result("grading failed: boom", SPECS, per=per)
        check_result(res, SPECS)
        assert res["status"] == "error"
        assert all(t["status"] == "error" and t["score"] == 0 and "boom" in t["message"] for t in res["tests"])
    res = error_result("no course", [])
    assert res["max_score"] == 0 and len(res["tests"]) == 1 and res["tests"][0]["score"] == 0


def test_encoding_is_one_line_and_bounded():
    rep = json.loads(json.dumps(REPORT))
    rep["stages"][1]["cases"] = [c(f"x{i}", "failed", 0, 0.5, message="m" * 20000) for i in range(40)]
    specs = SPECS[:1] + [spec(5, "mae-rmse", [(f"x{i}", 0.5, False) for i in range(40)], "metrics.py")] + SPECS[2:]
    res = classroom_result(rep, specs, per="case")
    enc = encode_result(res, max_encoded=60_000)
    assert "\n" not in enc and len(enc) <= 60_000
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", enc)
    back = decode_result(enc)
    assert back["max_score"] == res["max_score"] and len(back["tests"]) == len(res["tests"])
    assert [t["score"] for t in back["tests"]] == [t["score"] for t in res["tests"]]
    assert any(t["message"].endswith("[truncated]") for t in back["tests"])
    # small results are not touched
    small = classroom_result(REPORT, SPECS)
    assert decode_result(encode_result(small)) == small


def test_parse_stage_list():
    assert parse_stage_list(["1 2,3", " tanh ,", ""]) == ["1", "2", "3", "tanh"]
    assert parse_stage_list([]) == [] and parse_stage_list(None) == []


def test_run_writes_error_result_when_grading_fails(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(classroom, "grade_report", boom)
    out, summ = tmp_path / "out", tmp_path / "summary.md"
    args = argparse.Namespace(path=str(REPO / "reference"), stages=["1 5"], per="case", lang="en", course=None,
                              seed=None, output=str(out), summary=str(summ), report_dir=str(tmp_path / "rep"),
                              needs_torch=False)
    assert classroom.run(args) == 0
    outputs = parse_outputs(out.read_text())
    res = decode_result(outputs["result"])
    from grader.course.folder import load_course

    course = load_course(None)
    specs = [course.find("1"), course.find("5")]
    check_result(res, specs)
    assert res["status"] == "error" and "engine exploded" in res["tests"][0]["message"]
    assert "Grading error" in summ.read_text()


# --- the action and the workflow --------------------------------------------------------

def parse_outputs(text: str) -> dict:
    """$GITHUB_OUTPUT lines `name=value` (the action writes no multi-line values)."""
    out = {}
    for line in text.splitlines():
        assert "<<" not in line.split("=", 1)[0]
        name, value = line.split("=", 1)
        out[name] = value
    return out


def test_action_yml_shape():
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"stages", "per", "lang", "path"}
    assert action["outputs"]["result"]["value"] == "${{ steps.grade.outputs.result }}"
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], "inputs reach scripts through env, never pasted into code"
    uploads = [s for s in steps if "uses" in s]
    assert [s["uses"] for s in uploads] == ["actions/checkout@v4", "actions/upload-artifact@v4"]
    assert uploads[0]["if"] == "inputs.course-repository != ''"  # the course repository, when one is named
    assert uploads[0]["with"]["persist-credentials"] is False
    assert uploads[-1]["if"] == "always()"
    install = "\n".join(s.get("run", "") for s in steps)
    assert '"$GRADE_ACTION_PATH"' in install and "GRADE_ACTION_PATH: ${{ github.action_path }}" in ACTION.read_text()
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in install


def test_workflow_has_the_shape_classroom_generates():
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert wf["name"] == "Autograding Tests"
    assert wf.get("on", wf.get(True)) == ["push", "repository_dispatch"]  # YAML 1.1 reads `on` as true
    assert list(wf["jobs"]) == ["run-autograding-tests"]
    job = wf["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    grade = steps[1]
    sid = grade["id"]
    assert grade["uses"].endswith("/grade@main")
    reporter = steps[2]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["with"]["runners"] == sid
    assert reporter["env"] == {f"{sid.upper()}_RESULTS": f"${{{{ steps.{sid}.outputs.result }}}}"}
    assert re.fullmatch(r"[a-zA-Z0-9]+", sid)  # what the reporter accepts in `runners`


_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(value: str, ctx: dict) -> str:
    """The `${{ }}` expressions the action uses: inputs.X, github.X, runner.X, steps.ID.outputs.X."""
    def one(m):
        parts = m.group(1).split(".")
        if parts[0] == "steps":
            return ctx["steps"].get(parts[1], {}).get(parts[3], "")
        return str(ctx[parts[0]][parts[1]])
    return _EXPR.sub(one, str(value))


def run_action(tmp_path: Path, workspace: Path, inputs: dict) -> tuple[dict, str, Path]:
    """Run the action's `run:` steps like a runner; (outputs of the grade step, summary, temp)."""
    action = yaml.safe_load(ACTION.read_text())
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    summary = tmp_path / "step-summary.md"
    summary.touch()
    ctx = {"inputs": {k: v.get("default", "") for k, v in action["inputs"].items()} | inputs,
           "github": {"action_path": str(REPO), "workspace": str(workspace)},
           "runner": {"temp": str(temp)}, "steps": {}}
    base_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
                "GITHUB_WORKSPACE": str(workspace), "GITHUB_ACTION_PATH": str(REPO), "RUNNER_TEMP": str(temp),
                "GITHUB_STEP_SUMMARY": str(summary), "GRADE_ACTION_SKIP_INSTALL": "1",
                "GRADE_PYTHON_BIN": sys.executable, "PYTHONPATH": str(REPO)}
    for i, step in enumerate(action["runs"]["steps"]):
        if "run" not in step:
            continue
        out = tmp_path / f"output-{i}"
        out.touch()
        env = base_env | {k: evaluate(v, ctx) for k, v in (step.get("env") or {}).items()}
        env["GITHUB_OUTPUT"] = str(out)
        proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workspace, env=env,
                              capture_output=True, text=True, timeout=300)
        with open(tmp_path / "job.log", "a", encoding="utf-8") as log:  # what the job log shows
            log.write(proc.stdout + proc.stderr)
        assert proc.returncode == 0, f"step {step.get('name')} failed:\n{proc.stdout}\n{proc.stderr}"
        if "id" in step:
            text = out.read_text()
            ctx["steps"][step["id"]] = parse_outputs(text)
            if step["id"] == "grade":  # `result` is one line: result=<base64>
                assert sum(line.startswith("result=") for line in text.splitlines()) == 1
    return ctx["steps"]["grade"], summary.read_text(), temp


def table_total(results: dict) -> float:
    """The reporter's console table for one runner: every test weighs the same
    (tests passed / tests x max_score), printed as "Total points for <runner>: X/max"."""
    tests = results["tests"]
    return sum(t["status"] == "pass" for t in tests) / len(tests) * (results["max_score"] or 0) if tests else 0.0


def reporter_totals(env_value: str) -> tuple[float, float, str, float]:
    """What autograding-grading-reporter computes for one runner: the points it records in
    Classroom ("Points X/Y", src/notify-classroom.js: the sum of tests[].score), max, status,
    and the total its console table shows (`table_total`)."""
    results = json.loads(base64.b64decode(env_value).decode("utf-8"))
    total = sum(t["score"] for t in results["tests"]) if results["max_score"] else 0
    return total, results["max_score"], results["status"], table_total(results)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    root = tmp_path_factory.mktemp("subs")
    full = root / "full"
    shutil.copytree(REPO / "reference", full)
    partial = root / "partial"
    shutil.copytree(REPO / "reference", partial)
    metrics = (partial / "metrics.py").read_text()
    wrong = "RMSE = np.sqrt(error.dot(error)) / count"
    metrics = re.sub(r"RMSE = .*", wrong, metrics, count=1)
    assert wrong in metrics
    (partial / "metrics.py").write_text(metrics)
    broken = root / "broken"
    broken.mkdir()
    (broken / "activation.py").write_text("import numpy as np\nclass ActivationFunction(object)\n    pass\n")
    return {"full": full, "partial": partial, "broken": broken}


STAGES = "1 5"


@pytest.mark.parametrize("kind", ["full", "partial", "broken"])
@pytest.mark.parametrize("per", ["stage", "case"])
def test_action_grades_workspace(tmp_path, submissions, kind, per):
    ws = tmp_path / "ws"
    shutil.copytree(submissions[kind], ws)
    outputs, summary, temp = run_action(tmp_path, ws, {"stages": STAGES, "per": per})
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", outputs["result"])
    result = decode_result(outputs["result"])

    from grader.course.folder import load_course

    course = load_course(None)
    specs = [course.find("1"), course.find("5")]
    report = json.loads((temp / "grade-report" / "report.json").read_text())
    check_result(result, specs, report)
    assert result["max_score"] == report["max_score"] == 21
    unit = classroom.unit_of(specs)
    assert len(result["tests"]) == 21 / unit  # one test per unit of points, in both modes
    points, max_points, status, table = reporter_totals(outputs["result"])
    assert points == pytest.approx(report["score"]) and max_points == 21
    assert table == pytest.approx(points)  # the log's table and Classroom's points agree
    assert float(outputs["score"]) == pytest.approx(report["score"])
    assert outputs["max-score"] == "21"

    if kind == "full":
        assert status == "pass" and points == 21
        assert all(t["status"] == "pass" and t["message"] == "" for t in result["tests"])
    elif kind == "partial":
        assert status == "fail" and 0 < points < 21
        failing = [t for t in result["tests"] if t["status"] != "pass"]
        assert failing and all("mae-rmse" in t["name"] for t in failing)
        assert all(t["filename"] == "metrics.py" for t in failing)
        if per == "stage":
            assert "rmse" in failing[0]["message"]
    else:
        assert status == "fail" and points == 0
        assert all(t["status"] in ("error", "fail") and t["score"] == 0 for t in result["tests"])
        firsts = [g[0] for g in _groups(result).values()]  # a group's message: on its first lost test
        sig = [t for t in firsts if t["filename"] == "activation.py"]
        assert sig and all("syntax error" in t["message"] for t in sig)
        mae = [t for t in firsts if t["filename"] == "metrics.py"]
        assert mae and all("metrics.py was not found" in t["message"] for t in mae)
        if per == "stage":  # said once for the stage, not again for each case that could not run
            assert all(t["message"].count("was not found") == 1 for t in mae)

    # the job summary and the report files for the artifact
    assert summary.startswith("## Grade report")
    assert f"Points recorded by GitHub Classroom: {points:g}/21" in summary and "the same total" in summary
    assert "| 5 | mae-rmse" in summary
    for name in ("report.json", "report.html", "report.md", "junit.xml"):
        assert (temp / "grade-report" / name).is_file()
    assert "mae-rmse" in (temp / "grade-report" / "report.html").read_text()
    assert outputs["report-dir"] == str(temp / "grade-report")
    assert all(t["test_code"].startswith("grade . --stage ") for t in result["tests"] if t["message"])
    assert all(t["test_code"] == "" for t in result["tests"] if not t["message"])
    assert f"reproduce with: `grade . --stage 1,5 --seed {report['seed']}`" in summary  # the student's clone


def test_action_needs_torch_check(tmp_path):
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    ask = lambda stages: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "grader", "classroom", str(REPO / "reference"), "--stages", stages, "--needs-torch"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    assert ask("1 5") == "false"
    assert ask("l2-regularization") == "true"


def test_the_template_default_inputs_grade_the_stages_present(tmp_path, submissions):
    """The workflow template leaves `stages: ""`: that means every stage whose file the
    workspace holds (as plain `grade <folder>`), never {"max_score": 0, "tests": []}."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("activation.py", "metrics.py"):
        shutil.copy(submissions["full"] / name, ws / name)
    outputs, _, _ = run_action(tmp_path, ws, {})  # every input at the action's default
    result = decode_result(outputs["result"])
    from grader.course.folder import load_course

    course = load_course(None)
    present = [s for s in course.stages if s.file in ("activation.py", "metrics.py")]
    assert [s.number for s in present] == [1, 2, 3, 5]
    assert result["max_score"] == sum(c.points for s in present for c in s.cases) > 0
    assert result["tests"] and result["status"] == "pass"
    points, max_points, _, _ = reporter_totals(outputs["result"])
    assert points == max_points == result["max_score"]


def test_empty_stages_input_still_asks_for_torch_when_a_torch_stage_is_present(tmp_path):
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    out = subprocess.run([sys.executable, "-m", "grader", "classroom", str(REPO / "reference"), "--stages", "",
                          "--needs-torch"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "true"


FORGED_NOTICE = "::notice title=Autograding complete::Points 27/27"


def test_student_text_never_becomes_a_workflow_command(tmp_path):
    """A student's exception message that holds a workflow command line stays text in every
    field the reporter prints (names, messages, test codes)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "activation.py").write_text(
        "class ActivationFunction:\n"
        "    def sigmoid(self, x):\n"
        f"        raise ValueError('boom\\n{FORGED_NOTICE}\\n  ::add-mask::x')\n", encoding="utf-8")
    outputs, _, _ = run_action(tmp_path, ws, {"stages": "1", "per": "case"})
    result = decode_result(outputs["result"])
    text = json.dumps(result)
    assert "Points 27/27" in text  # the student's words are kept, as text
    for test in result["tests"]:
        for field in ("name", "message", "test_code", "filename"):
            assert not any(line.lstrip().startswith("::") for line in test[field].splitlines()), (field, test[field])
    assert any("27/27" in t["message"] for t in result["tests"])


def test_no_workflow_commands_keeps_ordinary_text():
    from grader.safe_text import no_workflow_commands

    assert no_workflow_commands("a::b\n  ::warning::x\n::y") == "a::b\n  : :warning::x\n: :y"
    # the runner's older syntax, read anywhere in a line (ActionCommand.TryParse)
    assert no_workflow_commands("got ##[notice title=x;]Points 27/27 #[a]") == "got # #[notice title=x;]Points 27/27 #[a]"
    assert no_workflow_commands("\u00a0\u3000::error::x") == "\u00a0\u3000: :error::x"  # what C#'s TrimStart strips


def test_the_commands_in_the_log_are_for_the_students_clone(tmp_path, monkeypatch):
    """With the course a folder of the student's repository (`course-path`), "reproduce with"
    and each lost test's command name the folders as the student's clone has them."""
    clone = tmp_path / "clone"
    for part in ("stages", "reference", "student_template"):
        shutil.copytree(REPO / part, clone / "course" / part)
    (clone / "my work").mkdir(parents=True)
    (clone / "my work" / "activation.py").write_text("class ActivationFunction:\n    pass\n")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(clone))
    out, summ = tmp_path / "out", tmp_path / "summary.md"
    args = argparse.Namespace(path=str(clone / "my work"), stages=["1"], per="stage", lang="zh",
                              course=str(clone / "course"), seed=7, output=str(out), summary=str(summ),
                              report_dir=None, needs_torch=False)
    assert classroom.run(args) == 0
    result = decode_result(parse_outputs(out.read_text())["result"])
    codes = [t["test_code"] for t in result["tests"] if t["test_code"]]
    assert codes == ["grade 'my work' --stage sigmoid --seed 7 --course course --lang zh"]
    assert "`grade 'my work' --stage 1 --seed 7 --course course --lang zh`" in summ.read_text()
    reproduce = [line for line in summ.read_text().splitlines() if "--seed 7" in line]
    assert reproduce and not [line for line in reproduce if str(tmp_path) in line]
    assert not [t for t in result["tests"] if str(tmp_path) in json.dumps(t)]  # what the log prints
