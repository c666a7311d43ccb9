"""Report renderers: Markdown, JUnit XML, Gradescope results.json (hand-written reports)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.platforms import gradescope as gradescope_platform
from grader.platforms.gradescope import error_results, write_results
from grader.report import junit, markdown
from grader.spec import StageSpec
from grader.verdict import Report


# The renderers take a Report; these tests write theirs as the JSON a report reads back from.
def as_report(r):
    return r if isinstance(r, Report) else Report.from_dict(r)


def render_markdown(r, lang="en", **options):
    return markdown.render(as_report(r), lang, **options)


def render_junit(r):
    return junit.render(as_report(r))


def write_junit(r, path):
    return junit.write(as_report(r), path)


def gradescope_results(r, specs, **options):
    return gradescope_platform.gradescope_results(as_report(r), specs, **options)


def case(name, status="passed", score=1.0, max_score=1.0, hidden=False, message="", hint=None, d=0.01):
    return {"name": name, "status": status, "score": score, "max_score": max_score, "hidden": hidden,
            "message": message, "hint": hint, "duration_s": d}


def make_report():
    return {
        "submission": "sub", "course": "nn", "seed": 7, "score": 5.0, "max_score": 12.0, "lang": "en",
        "stages": [
            {"number": 1, "slug": "sigmoid", "title": "Sigmoid", "status": "passed", "score": 3.0,
             "max_score": 3.0, "message": "", "duration_s": 0.2,
             "cases": [case("fixed"), case("hidden-random", hidden=True, score=2.0, max_score=2.0)]},
            {"number": 5, "slug": "mae-rmse", "title": "MAE and RMSE", "status": "failed", "score": 2.0,
             "max_score": 5.0, "message": "", "duration_s": 0.3,
             "cases": [case("mae", score=2.0, max_score=2.0),
                       case("rmse", "failed", 0.0, 2.0, message='expected 0.47 got 0.1 <&> "q" | pipe ```',
                            hint="use np.sqrt(np.mean(e**2))"),
                       case("hidden-rmse", "timeout", 0.0, 1.0, hidden=True, message="time limit 20 s")]},
            {"number": 6, "slug": "steepest-descent", "title": "Steepest descent", "status": "error",
             "score": 0.0, "max_score": 4.0, "message": "SyntaxError: invalid syntax (line 3)\x1b[0m\x00",
             "duration_s": 0.1, "cases": []},
        ],
    }


def spec(number, slug, cases, file="f.py", requires=()):
    return StageSpec.model_validate({
        "number": number, "slug": slug, "title": {"en": slug.title(), "zh": slug}, "file": file,
        "requires": list(requires),
        "cases": [{"name": n, "points": p, "hidden": h, "call": "f()"} for n, p, h in cases]})


SPECS = [
    spec(1, "sigmoid", [("fixed", 1, False), ("hidden-random", 2, True)], "activation.py"),
    spec(5, "mae-rmse", [("mae", 2, False), ("rmse", 2, False), ("hidden-rmse", 1, True)], "metrics.py"),
    spec(6, "steepest-descent", [("grad", 1, False), ("path", 3, True)], "steepest_descent.py"),
]


# --- Markdown ---------------------------------------------------------------------------

def test_markdown_table_and_failures():
    md = render_markdown(make_report(), "en")
    assert md.startswith("## Grade report: 5 / 12 (42%)")
    rows = [l for l in md.splitlines() if l.startswith("| ")]
    assert len(rows) == 1 + 3  # header + one row per stage
    assert "| 1 | sigmoid (Sigmoid) | 3 / 3 | [x] passed | 2 / 2 |" in md
    assert "| 5 | mae-rmse (MAE and RMSE) | 2 / 5 | [ ] failed | 1 / 3 |" in md
    assert "[!] error" in md
    # failed cases with their messages, in fences longer than any backtick run inside
    assert "### Cases that did not pass" in md
    assert "**5 mae-rmse / rmse**: failed, 0 / 2" in md
    assert "````text\nexpected 0.47 got 0.1 <&> \"q\" | pipe ```\n````" in md
    assert "Hint: use np.sqrt(np.mean(e\\*\\*2))" in md
    assert "hidden-rmse**: timeout, 0 / 1, hidden case" in md
    assert "SyntaxError: invalid syntax (line 3)" in md
    assert "fixed" not in md.split("###")[1]  # passed cases are not listed


def test_markdown_chinese_and_all_passed():
    rep = make_report()
    rep["stages"] = rep["stages"][:1]
    md = render_markdown(rep, "zh")
    assert md.startswith("## 评分报告")
    assert "| # | 关卡 | 得分 | 状态 | 通过用例 |" in md
    assert "[x] 通过" in md
    assert "所有已评分的用例均已通过" in md
    assert "### " not in md


def test_markdown_truncates_long_messages_and_lists():
    rep = make_report()
    many = [case(f"c{i}", "failed", 0, 1, message="x" * 5000) for i in range(200)]
    rep["stages"][1]["cases"] = many
    md = render_markdown(rep, "en", max_chars=20_000)
    assert len(md) <= 20_000
    assert "[truncated]" in md
    assert "more not shown" in md
    assert "x" * 700 not in md


def test_markdown_table_cells_are_escaped():
    rep = make_report()
    rep["stages"][0]["title"] = "a | b\nc"
    md = render_markdown(rep)
    assert "sigmoid (a \\| b c)" in md


def test_markdown_no_stages():
    md = render_markdown({"score": 0, "max_score": 0, "stages": []}, "en")
    assert "No stage was graded" in md


# --- JUnit ------------------------------------------------------------------------------

def test_junit_structure(tmp_path):
    path = write_junit(make_report(), tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "2")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["1-sigmoid", "5-mae-rmse", "6-steepest-descent"]
    s1, s5, s6 = suites
    assert [tc.get("name") for tc in s1.findall("testcase")] == ["fixed", "hidden-random"]
    assert all(tc.get("classname") == "sigmoid" for tc in s1.findall("testcase"))
    assert s1.find("testcase").get("time") == "0.010"
    assert s1.find(".//failure") is None and s1.find(".//error") is None
    assert (s5.get("tests"), s5.get("failures"), s5.get("errors")) == ("3", "1", "1")
    rmse = s5.find("testcase[@name='rmse']")
    fail = rmse.find("failure")
    assert fail.get("message") == 'expected 0.47 got 0.1 <&> "q" | pipe ```'  # escaping round-trips
    assert "Hint: use np.sqrt(np.mean(e**2))" in fail.text
    err = s5.find("testcase[@name='hidden-rmse']/error")
    assert err.get("type") == "timeout"
    # a stage error without cases is one errored testcase
    tcs = s6.findall("testcase")
    assert len(tcs) == 1 and tcs[0].get("classname") == "steepest-descent"
    e6 = tcs[0].find("error")
    assert e6.get("message") == "SyntaxError: invalid syntax (line 3)"  # ANSI and NUL removed
    props = {p.get("name"): p.get("value") for p in s5.find("properties")}
    assert props["score"] == "2.0" and props["max_score"] == "5.0"


def test_junit_multiline_message_attribute():
    rep = make_report()
    rep["stages"][1]["cases"][1]["message"] = "line one\nline two"
    root = ET.fromstring(render_junit(rep).encode())
    fail = root.find(".//testcase[@name='rmse']/failure")
    assert fail.get("message") == "line one"
    assert "line one\nline two" in fail.text


# --- Gradescope -------------------------------------------------------------------------

VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}


def check_gradescope(results: dict, specs) -> None:
    """results.json against Gradescope's format (docs/specs.md of gradescope/autograder_samples)."""
    assert isinstance(results["score"], float)
    assert isinstance(results["execution_time"], (int, float))
    assert isinstance(results["output"], str)
    assert results["stdout_visibility"] in VISIBILITY
    assert isinstance(results["tests"], list)
    for t in results["tests"]:
        assert set(t) >= {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert isinstance(t["name"], str) and isinstance(t["number"], str) and isinstance(t["output"], str)
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
        assert 0 <= t["score"] <= t["max_score"]
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] in VISIBILITY
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(sum(s.max_score for s in specs))
    hidden = {f"{s.number} {s.slug} / {c.name}" for s in specs for c in s.cases if c.hidden}
    for t in results["tests"]:
        assert (t["visibility"] == "after_due_date") == (t["name"] in hidden)
    json.dumps(results)  # serialisable


def test_gradescope_results_format():
    res = gradescope_results(make_report(), SPECS, execution_time=1.234)
    check_gradescope(res, SPECS)
    assert res["score"] == 5.0
    names = [t["name"] for t in res["tests"]]
    assert names[:3] == ["1 sigmoid / fixed", "1 sigmoid / hidden-random", "5 mae-rmse / mae"]
    assert [t["number"] for t in res["tests"]][:2] == ["1.1", "1.2"]
    rmse = res["tests"][3]
    assert rmse["status"] == "failed" and "expected 0.47" in rmse["output"] and "Hint:" in rmse["output"]
    # the errored stage: each of its cases failed with the stage's message
    sd = [t for t in res["tests"] if t["name"].startswith("6 ")]
    assert [t["max_score"] for t in sd] == [1.0, 3.0]
    assert all(t["status"] == "failed" and "SyntaxError" in t["output"] for t in sd)
    assert "SyntaxError" in res["output"]


def test_gradescope_error_results_written(tmp_path):
    res = error_results("RuntimeError: boom", SPECS, execution_time=0.5)
    check_gradescope(res, SPECS)
    assert res["score"] == 0.0 and "boom" in res["output"]
    path = write_results(res, tmp_path / "results" / "results.json")
    assert json.loads(path.read_text()) == res
    assert error_results("x")["tests"] == []


# --- end to end, with the engine ------------------------------------------------------

import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile

import grader
from grader.course import load_course

REPO = Path(grader.__file__).resolve().parent.parent


def run_grade(*args, cwd, env=None, timeout=300):
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO)}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Reports of the reference and of a broken copy, stages 1 and 5, one grading each."""
    from grader.platforms.grading import grade_report

    root = tmp_path_factory.mktemp("e2e")
    broken = root / "broken"
    shutil.copytree(REPO / "reference", broken)
    (broken / "activation.py").write_text("class ActivationFunction(object)\n    pass\n")
    text = (broken / "metrics.py").read_text()
    (broken / "metrics.py").write_text(re.sub(r"RMSE = .*", "RMSE = np.sqrt(error.dot(error)) / count", text, 1))
    course = load_course(None)
    specs = [course.find(1), course.find(5)]
    return {
        "specs": specs,
        "full": grade_report(REPO / "reference", course.root, specs, seed=5),
        "broken": grade_report(broken, course.root, specs, seed=5),
        "broken_path": broken,
    }


def test_markdown_and_junit_of_real_reports(graded):
    md = render_markdown(graded["broken"], "en")
    assert "| 1 | sigmoid" in md and "[!] error" in md and "syntax error" in md
    assert "rmse" in md and "Hint:" in md  # the known-mistake hint of the seed's RMSE formula
    zh = render_markdown(graded["broken"], "zh")
    assert zh.startswith("## 评分报告")
    root = ET.fromstring(render_junit(graded["full"]).encode())
    n_cases = sum(len(s.cases) for s in graded["specs"])
    assert root.get("tests") == str(n_cases) and root.get("failures") == "0" and root.get("errors") == "0"
    root = ET.fromstring(render_junit(graded["broken"]).encode())
    assert int(root.get("errors")) >= len(graded["specs"][0].cases)
    assert int(root.get("failures")) >= 1


def test_gradescope_results_of_real_reports(graded):
    specs = graded["specs"]
    full = gradescope_results(graded["full"], specs)
    check_gradescope(full, specs)
    assert full["score"] == graded["full"].score == 21
    assert all(t["status"] == "passed" for t in full["tests"])
    broken = gradescope_results(graded["broken"], specs)
    check_gradescope(broken, specs)
    assert broken["score"] == pytest.approx(graded["broken"].score)
    assert 0 < broken["score"] < 21
    assert "syntax error" in broken["output"]


def test_gradescope_command_writes_results(tmp_path, graded):
    res = tmp_path / "results" / "results.json"
    proc = run_grade("gradescope", str(graded["broken_path"]), "--stage", "1,5", "--results", str(res),
                     "--seed", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(res.read_text())
    check_gradescope(data, graded["specs"])
    assert data["score"] == pytest.approx(graded["broken"].score)


def test_gradescope_command_writes_results_when_grading_fails(tmp_path):
    res = tmp_path / "results.json"
    proc = run_grade("gradescope", str(REPO / "reference"), "--course", str(tmp_path / "no-course"),
                     "--results", str(res), cwd=tmp_path)
    assert proc.returncode == 1
    data = json.loads(res.read_text())
    check_gradescope(data, [])
    assert data["score"] == 0.0 and "could not grade" in data["output"]


def test_gradescope_failure_keeps_the_specs_points(tmp_path, monkeypatch):
    import argparse

    from grader.platforms import gradescope

    def boom(*a, **k):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(gradescope, "grade_report", boom)
    res = tmp_path / "r.json"
    args = argparse.Namespace(path=str(REPO / "reference"), stages=["1", "5"], results=str(res), course=None,
                              lang="en", seed=None, run_as=None, package=None)
    assert gradescope.run(args) == 1
    data = json.loads(res.read_text())
    course = load_course(None)
    specs = [course.find(1), course.find(5)]
    check_gradescope(data, specs)
    assert data["score"] == 0 and all(t["status"] == "failed" for t in data["tests"])
    assert "engine exploded" in data["tests"][0]["output"]


def build_zip(tmp_path, *stages):
    out = tmp_path / "autograder.zip"
    args = ["gradescope", "--package", str(out)]
    for s in stages:
        args += ["--stage", s]
    proc = run_grade(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return out


def test_gradescope_package_layout(tmp_path):
    out = build_zip(tmp_path, "1", "5")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert "setup.sh" in names and "run_autograder" in names  # at the zip's top level
        for name in ("setup.sh", "run_autograder"):
            mode = zf.getinfo(name).external_attr >> 16
            assert mode & stat.S_IXUSR
        assert "grade/grader/engine.py" in names and "grade/grader/child.py" in names
        assert "course/stages/05_mae_rmse.yaml" in names and "course/reference/metrics.py" in names
        assert not any("__pycache__" in n for n in names)
        setup = zf.read("setup.sh").decode()
        runner = zf.read("run_autograder").decode()
    assert "torch" not in setup.split("# no stage")[0].split("pip install --upgrade pip")[1]
    assert "adduser student" in setup
    assert "--stage 1 --stage 5" in runner and "--run-as" in runner
    # a torch stage installs the pinned CPU wheel before the other dependencies
    setup_t = zipfile.ZipFile(build_zip(tmp_path, "10")).read("setup.sh").decode()
    torch_at = setup_t.index("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    assert torch_at < setup_t.index("'numpy")


def test_gradescope_run_autograder(tmp_path):
    """Unpack the zip as Gradescope does and run run_autograder on a submission."""
    out = build_zip(tmp_path, "1", "5")
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(out) as zf:
        zf.extractall(root / "source")
    shutil.copytree(REPO / "reference", root / "submission")
    env = {"PATH": os.environ["PATH"], "GRADE_AUTOGRADER_ROOT": str(root), "GRADE_PYTHON_BIN": sys.executable,
           "GRADE_RUN_AS": ""}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    course = load_course(None)
    check_gradescope(data, [course.find(1), course.find(5)])
    assert data["score"] == 21.0
    # a grader that cannot start still leaves a results.json
    env["GRADE_PYTHON_BIN"] = "/bin/false"
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0.0 and data["tests"] == [] and "failed to start" in data["output"]


def test_run_as_is_applied_only_where_the_engine_can_switch(monkeypatch):
    from grader.platforms.grading import set_run_as as _set_run_as

    class Box:
        run_as = 65534

    class G:
        sandbox = Box()

    g = G()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    _set_run_as(g, "root")
    assert g.sandbox.run_as == 0  # the named user's uid replaces the engine's default
    g.sandbox.run_as = None  # the engine found Python unreachable for other users: leave it
    _set_run_as(g, "root")
    assert g.sandbox.run_as is None
    g.sandbox.run_as = 65534
    _set_run_as(g, "no-such-user-here")
    assert g.sandbox.run_as == 65534
