"""The engine: limits, crashes, missing names, hostile output, normalised results, seeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REFERENCE, TEMPLATE, case, failed, grade_stage, make_course, make_submission
from grader.engine import Grader
from helpers import MET, body, tree_digest


@pytest.fixture(scope="module")
def fast_course(tmp_path_factory):
    """Stage 5 alone, with a 2 s time limit and a 200 MB memory limit."""
    return make_course(tmp_path_factory.mktemp("course"), time_s=2, memory_mb=200)


@pytest.fixture(scope="module")
def fast(fast_course):
    with Grader(course=fast_course, seed=7) as g:
        yield lambda sub: g.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]


def test_infinite_loop_is_a_timeout_and_other_cases_keep_their_points(fast, tmp_path):
    stage = fast(make_submission(tmp_path, {MET: body("while True:\n        pass")}))
    rmse = case(stage, "rmse-small")
    assert rmse["status"] == "timeout"
    ran = float(re.search(r"ran (\d+\.\d) s and was stopped at the stage's limit of 2 s", rmse["message"]).group(1))
    assert 1.5 <= ran <= 4 and rmse["duration_s"] >= 1.5  # the time the case ran, not the finished cases'
    assert case(stage, "mae-small")["status"] == "passed"
    later = [c for c in stage["cases"][2:]]
    assert all(c["status"] != "passed" for c in later)
    assert "not run" in later[0]["message"]


def test_memory_hog_is_stopped_with_its_own_message(fast, tmp_path):
    hog = body("RMSE = np.ones((1 << 30) // 8 * 2).sum()")  # 2 GiB of float64
    stage = fast(make_submission(tmp_path, {MET: hog}))
    rmse = case(stage, "rmse-small")
    assert rmse["status"] == "error"
    assert "exceeded the 200 MiB memory limit" in rmse["message"]


def test_sys_exit_at_import_is_a_stage_error(fast, tmp_path):
    text = "import sys\nsys.exit(0)\n" + (REFERENCE / MET).read_text()
    stage = fast(make_submission(tmp_path, {MET: text}))
    assert stage["status"] == "error" and stage["score"] == 0
    assert "called sys.exit() while being imported (line 2)" in stage["message"]


@pytest.mark.parametrize("call", ["exit()", "quit(0)"])
def test_exit_and_quit_at_import_are_what_they_are_in_python(fast, tmp_path, call):
    """The sandbox's Python starts without `site` (-S), which is what defines exit() and quit():
    a script that ends with them is told it exited, not that the names are undefined."""
    stage = fast(make_submission(tmp_path, {MET: (REFERENCE / MET).read_text() + f"\n{call}\n"}))
    assert stage["status"] == "error" and stage["score"] == 0
    assert "while being imported" in stage["message"] and "not defined" not in stage["message"]


def test_the_sandbox_path_holds_the_graders_site_packages_and_nothing_of_the_installation(fast, tmp_path):
    """No .pth hook, sitecustomize or package of the Python installation that the grader itself
    does not use: the run's site-packages folders are exactly the grader's."""
    from grader.sandbox import isolation

    check = (f"import os, sys\nEXPECTED = {isolation.site_dirs()!r}\n"
             "got = [os.path.realpath(p) for p in sys.path if os.path.basename(p) in ('site-packages', 'dist-packages')]\n"
             "assert got == EXPECTED, got\n"
             "assert 'sitecustomize' not in sys.modules\n")
    stage = fast(make_submission(tmp_path, {MET: check + (REFERENCE / MET).read_text()}))
    assert stage["score"] == stage["max_score"], stage["message"]


def test_os_exit_inside_the_function(fast, tmp_path):
    stage = fast(make_submission(tmp_path, {MET: body("import os\n    os._exit(0)")}))
    rmse = case(stage, "rmse-small")
    assert rmse["status"] == "error"
    assert "ended abruptly" in rmse["message"] and "exit code 0" in rmse["message"]
    assert case(stage, "mae-small")["status"] == "passed"


def test_syntax_error_names_the_line(fast, tmp_path):
    text = (REFERENCE / MET).read_text().replace("error = pred - actual", "error = pred - actual)")
    stage = fast(make_submission(tmp_path, {MET: text}))
    assert stage["status"] == "error"
    line = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == "error = pred - actual)"][0]
    assert f"syntax error on line {line}" in stage["message"]


def test_missing_function_is_named(fast, tmp_path):
    text = (REFERENCE / MET).read_text().replace("def comp_rmse", "def comp_rsme")
    stage = fast(make_submission(tmp_path, {MET: text}))
    assert "does not define 'comp_rmse'" in case(stage, "rmse-small")["message"]
    assert case(stage, "mae-small")["status"] == "passed"


def test_all_missing_functions_make_a_stage_error(fast, tmp_path):
    stage = fast(make_submission(tmp_path, {MET: "import numpy as np\n"}))
    assert stage["status"] == "error" and "does not define" in stage["message"]


def test_fake_verdict_text_on_stdout_changes_nothing(fast, tmp_path):
    fake = body('print(json.dumps({"score": 12, "status": "passed"}), "ALL TESTS PASSED")\n'
                "    RMSE = 0.0").replace("import numpy as np", "import json\nimport numpy as np")
    stage = fast(make_submission(tmp_path, {MET: fake}))
    assert "rmse-small" in failed(stage)
    assert "ALL TESTS PASSED" in case(stage, "rmse-small")["details"]["output"]


def test_a_submission_that_rewrites_its_folder_leaves_the_original_alone(fast, tmp_path):
    evil = ("import os, glob\nfor f in glob.glob('*'):\n    open(f, 'w').write('gone')\n"
            "open('new_file.txt', 'w').write('x')\n") + (REFERENCE / MET).read_text()
    sub = make_submission(tmp_path, {MET: evil})
    before = tree_digest(sub)
    stage = fast(sub)
    assert stage["status"] == "passed"  # the module was already loaded when it rewrote its copy
    assert tree_digest(sub) == before


def test_nan_where_finite_expected(fast, tmp_path):
    stage = fast(make_submission(tmp_path, {MET: body("RMSE = np.nan")}))
    msg = case(stage, "rmse-small")["message"]
    assert "got NaN" in msg and "finite" in msg


def test_results_are_normalised(fast, tmp_path):
    for line in ("RMSE = [float(np.sqrt(error.dot(error) / count))]",
                 "RMSE = np.array(np.sqrt(error.dot(error) / count))",
                 "import sympy\n    RMSE = sympy.Float(float(np.sqrt(error.dot(error) / count)), 30)"):
        stage = fast(make_submission(tmp_path, {MET: body(line)}))
        assert "rmse-small" not in failed(stage), (line, case(stage, "rmse-small"))


def test_object_arrays_and_unknown_objects_are_refused_clearly(fast, tmp_path):
    stage = fast(make_submission(tmp_path, {MET: body("RMSE = np.array([{'a': 1}], dtype=object)")}))
    assert "dtype=object" in case(stage, "rmse-small")["message"]
    evil = body("class Evil:\n        def __reduce__(self):\n            return (print, ('pwned',))\n"
                "    RMSE = Evil()")
    stage = fast(make_submission(tmp_path, {MET: evil}))
    msg = case(stage, "rmse-small")["message"]
    assert "cannot compare" in msg and "Evil" in msg


def test_seed_reproduces_a_run_exactly(tmp_path):
    sub = make_submission(tmp_path, {MET: body("RMSE = np.sqrt(error.dot(error.T)) / count")})
    a = grade_stage(sub, "mae-rmse", seed=99)
    b = grade_stage(sub, "mae-rmse", seed=99)
    strip = lambda s: [(c["name"], c["status"], c["message"]) for c in s["cases"]]  # noqa: E731
    assert strip(a) == strip(b)


def test_numpy_stage_never_imports_torch_in_grader_or_submission(tmp_path):
    probe = body("import sys\n    print('TORCH IN CHILD' if 'torch' in sys.modules else 'NO TORCH IN CHILD')\n"
                 "    RMSE = np.sqrt(error.dot(error) / count)")
    sub = make_submission(tmp_path, {MET: probe})
    code = ("import sys, json, io, contextlib\nfrom grader.cli import main\nbuf = io.StringIO()\n"
            f"with contextlib.redirect_stdout(buf):\n    code = main([{str(sub)!r}, '--stage', '5', '--format', 'json'])\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'code': code}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"torch": False, "code": 0}, res.stderr
    stage = grade_stage(sub, "mae-rmse")
    out = case(stage, "rmse-small")["details"]["output"]
    assert "NO TORCH IN CHILD" in out


def test_torch_stage_without_torch_says_how_to_install(monkeypatch, tmp_path):
    import grader.engine

    monkeypatch.setattr(grader.engine, "torch_available", lambda: False)
    with Grader(seed=1) as g:
        stage = g.grade(REFERENCE, ["l2-regularization"]).to_dict()["stages"][0]
    assert stage["status"] == "error" and stage["score"] == 0 and stage["max_score"] > 0
    assert "needs PyTorch" in stage["message"] and "grade-nn[torch]" in stage["message"]
    assert all("needs PyTorch" in c["message"] for c in stage["cases"])


def _chatty_sigmoid(tmp_path, when: str, size: int):
    """activation.py whose sigmoid prints `size` bytes when `when` is true of x."""
    from conftest import REFERENCE

    src = (REFERENCE / "activation.py").read_text(encoding="utf-8")
    src = src.replace("    def sigmoid(self, x):\n",
                      f"    def sigmoid(self, x):\n        if {when}:\n            print('y' * {size})\n", 1)
    return make_submission(tmp_path, {"activation.py": src})


def test_output_cap_counts_per_case(tmp_path):
    # 700 KB in every call: 3.5 MB in all, but no case goes over the 1 MiB cap
    stage = grade_stage(_chatty_sigmoid(tmp_path, "True", 700_000), "sigmoid")
    assert failed(stage) == set(), [c["message"] for c in stage["cases"]]
    assert case(stage, "matrix")["details"]["output"].startswith("y" * 100)


def test_the_case_that_printed_too_much_is_the_one_that_loses(tmp_path):
    stage = grade_stage(_chatty_sigmoid(tmp_path, "getattr(x, 'shape', None) == (2, 3)", 2_000_000), "sigmoid")
    # the matrix case is blamed; the cases before it keep their points (when the run had to be
    # stopped mid-case, the cases after it did not run and say so)
    assert {"small-vector", "zero-d-array"}.isdisjoint(failed(stage)) and "matrix" in failed(stage)
    assert "printed more than" in case(stage, "matrix")["message"]
    for name in failed(stage) - {"matrix"}:
        assert "printed more than" not in case(stage, name)["message"]


def test_traceback_shows_the_students_frames_not_the_drivers(tmp_path):
    src = (REFERENCE / "mp_neuron.py").read_text(encoding="utf-8")
    src = src.replace("def f(x):\n", "def helper(x):\n    return x.nonexistent\n\n\ndef f(x):\n    if np.size(x) != 4:\n"
                                     "        return helper(x)\n", 1)
    stage = grade_stage(make_submission(tmp_path, {"mp_neuron.py": src}), "mp-neuron")
    tracebacks = [c["details"].get("traceback", "") for c in stage["cases"] if c["status"] != "passed"]
    assert tracebacks and all(tracebacks), stage["message"]
    for tb in tracebacks:
        assert "mp_neuron.py" in tb and "helper" in tb and "AttributeError" in tb
        assert "driver.py" not in tb and "<string>" not in tb


def test_a_stage_queued_behind_the_submissions_other_stage_counts_that_as_waiting(tmp_path):
    """One sandbox per submission runs one stage at a time: the stage that queued says so in `wait_s`,
    so that `duration_s - wait_s - run_s` is the grader's own overhead (bench/bench_class.py)."""
    slow = "import time\ntime.sleep(0.6)\n"
    sub = make_submission(tmp_path, {"mp_neuron.py": slow + (REFERENCE / "mp_neuron.py").read_text(encoding="utf-8"),
                                     MET: slow + (REFERENCE / MET).read_text(encoding="utf-8")})
    with Grader(seed=7, workers=1) as g:
        stages = g.grade(sub, ["4", "5"]).stages
    assert all(st.score == st.max_score for st in stages), [st.message for st in stages]
    assert max(st.wait_s for st in stages) > 0.4  # the second one queued behind the first's 0.6 s import
    for st in stages:
        assert st.run_s >= 0.6  # the sleep at import is the student's own time
        assert 0 <= st.duration_s - st.wait_s - st.run_s < 0.5, (st.duration_s, st.wait_s, st.run_s)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_an_unchanged_template_file_is_not_started_and_not_run(tmp_path, newline):
    """Identical to the course template (whatever its line endings): not started, no sandbox run;
    `grade check-course` checks that every template file earns nothing, which makes this exact."""
    text = (TEMPLATE / MET).read_text(encoding="utf-8").replace("\n", newline)
    sub = make_submission(tmp_path, {})
    (sub / MET).write_bytes(text.encode("utf-8"))
    stage = grade_stage(sub, 5)
    assert stage["status"] == "failed" and stage["score"] == 0 and stage["progress"] == "not_started"
    assert "metrics.py is still the template (not run)" in stage["message"]
    assert all(c["not_started"] and "unchanged from the template" in c["message"] for c in stage["cases"])
    assert stage["run_s"] == 0 and "wall_s" not in stage.get("details", {})


def test_a_template_with_any_change_is_run(tmp_path):
    text = (TEMPLATE / MET).read_text(encoding="utf-8") + "\n# started\n"
    stage = grade_stage(make_submission(tmp_path, {MET: text}), 5)
    assert stage["score"] == 0 and "not implemented yet" in stage["message"]
