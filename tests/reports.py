"""Hand-written reports (as the JSON a report reads back from), specs for them, and two real
reports graded once per module that uses them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grader
from grader.course.folder import load_course
from grader.platforms import gradescope as gradescope_platform
from grader.report import junit, markdown
from grader.course.spec import StageSpec
from grader.verdict import Report


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
    return StageSpec.parse({
        "number": number, "slug": slug, "title": {"en": slug.title(), "zh": slug}, "file": file,
        "requires": list(requires),
        "cases": [{"name": n, "points": p, "hidden": h, "call": "f()"} for n, p, h in cases]})


SPECS = [
    spec(1, "sigmoid", [("fixed", 1, False), ("hidden-random", 2, True)], "activation.py"),
    spec(5, "mae-rmse", [("mae", 2, False), ("rmse", 2, False), ("hidden-rmse", 1, True)], "metrics.py"),
    spec(6, "steepest-descent", [("grad", 1, False), ("path", 3, True)], "steepest_descent.py"),
]


REPO = Path(grader.__file__).resolve().parent.parent


def run_grade(*args, cwd, env=None, timeout=300):
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO)}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Reports of the reference and of a broken copy, stages 1 and 5, one grading each."""
    from grader.platforms.common import grade_report

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
