"""Gradescope: results.json, the command, the autograder zip."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from grader.course.folder import load_course
from grader.platforms.gradescope import error_results, write_results
from reports import REPO, SPECS, graded, gradescope_results, make_report, run_grade  # noqa: F401 - graded is a fixture


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
        assert "grade/grader/engine.py" in names and "grade/grader/sandbox/child.py" in names
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
    assert "sandbox: bwrap" in data["output"]
    # a grader that cannot start leaves no results.json (Gradescope: "autograder failed", no score), never a 0
    env["GRADE_PYTHON_BIN"] = "/bin/false"
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "wrote no results" in proc.stderr
    assert not (root / "results" / "results.json").exists()


def test_run_as_is_the_uid_sandboxs_user_and_only_its(capsys):
    from grader.platforms.common import set_run_as

    class Box:
        run_as = None
        backend = "uid"

    box = Box()
    set_run_as(box, "root")  # root is no sandbox user: ignored, said so
    assert box.run_as is None and "runs as a sandbox uid of its own" in capsys.readouterr().err
    set_run_as(box, "no-such-user-here")
    assert box.run_as is None
    set_run_as(box, "nobody")
    assert box.run_as == 65534
    box.run_as, box.backend = None, "bwrap"
    set_run_as(box, "nobody")  # bubblewrap runs student code as nobody in its own user namespace
    assert box.run_as is None and "--run-as nobody applies to the uid sandbox only" in capsys.readouterr().err
