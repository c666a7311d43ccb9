"""The engine against submissions that misbehave, and the CLI's contract."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REFERENCE, ROOT, case, failed, grade_stage, make_course, make_submission, variant
from grader.course import load_course
from grader.engine import Grader
from grader.spec import SpecError

MET = "metrics.py"


@pytest.fixture(scope="module")
def fast_course(tmp_path_factory):
    """Stage 5 alone, with a 2 s time limit and a 200 MB memory limit."""
    return make_course(tmp_path_factory.mktemp("course"), time_s=2, memory_mb=200)


@pytest.fixture(scope="module")
def fast(fast_course):
    with Grader(course=fast_course, seed=7) as g:
        yield lambda sub: g.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]


def body(rmse_line: str) -> str:
    return variant(MET, "RMSE = np.sqrt(error.dot(error) / count)", rmse_line)


def test_infinite_loop_is_a_timeout_and_other_cases_keep_their_points(fast, tmp_path):
    stage = fast(make_submission(tmp_path, {MET: body("while True:\n        pass")}))
    rmse = case(stage, "rmse-small")
    assert rmse["status"] == "timeout"
    assert "ran longer than 2 s" in rmse["message"]
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


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_a_submission_that_rewrites_its_folder_leaves_the_original_alone(fast, tmp_path):
    evil = ("import os, glob\nfor f in glob.glob('*'):\n    open(f, 'w').write('gone')\n"
            "open('new_file.txt', 'w').write('x')\n") + (REFERENCE / MET).read_text()
    sub = make_submission(tmp_path, {MET: evil})
    before = _digest(sub)
    stage = fast(sub)
    assert stage["status"] == "passed"  # the module was already loaded when it rewrote its copy
    assert _digest(sub) == before


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


# --- specs --------------------------------------------------------------------------------

def _course_with(tmp_path: Path, mutate) -> Path:
    root = tmp_path / "course"
    (root / "stages").mkdir(parents=True)
    shutil.copytree(REFERENCE, root / "reference")
    spec = yaml.safe_load((ROOT / "stages" / "05_mae_rmse.yaml").read_text())
    mutate(spec)
    (root / "stages" / "05_mae_rmse.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    return root


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s["cases"][2].__setitem__("tolerance", {"rtol": "tight"}),
     "05_mae_rmse.yaml: cases[2].tolerance.rtol: expected a number, got 'tight'"),
    (lambda s: s.pop("file"), "05_mae_rmse.yaml: file: required field is missing"),
    (lambda s: s["cases"][0].__setitem__("points", "many"), "cases[0].points: expected a number"),
    (lambda s: s["cases"][1].__setitem__("call", "comp_rmse(pred,"), "call: not a valid Python expression"),
    (lambda s: s["cases"][0].__setitem__("inputs", {"pred": {"gaussian": [0, 1]}}),
     "inputs.pred: expected a literal or a mapping with exactly one of"),
    (lambda s: s.__setitem__("colour", "red"), "colour: unknown field"),
    (lambda s: s["cases"][1].__setitem__("name", s["cases"][0]["name"]), "is used twice"),
])
def test_broken_specs_name_file_and_field(tmp_path, mutate, expected):
    root = _course_with(tmp_path, mutate)
    with pytest.raises(SpecError) as err:
        load_course(root)
    assert expected in str(err.value)
    assert str(root / "stages" / "05_mae_rmse.yaml") in str(err.value)


# --- CLI ----------------------------------------------------------------------------------

def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_cli_exit_codes_and_json_contract(tmp_path):
    ok = run_cli(str(REFERENCE), "--stage", "1", "5", "--format", "json", "--seed", "3")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert set(report) >= {"submission", "course", "seed", "score", "max_score", "stages"}
    assert report["seed"] == 3 and report["score"] == report["max_score"] > 0
    stage = report["stages"][0]
    assert set(stage) >= {"number", "slug", "title", "status", "score", "max_score", "message", "duration_s", "cases"}
    assert set(stage["cases"][0]) >= {"name", "status", "score", "max_score", "hidden", "message", "hint"}

    sub = make_submission(tmp_path, {MET: body("RMSE = 0.0")})
    lost = run_cli(str(sub), "--stage", "mae-rmse", "--format", "json")
    assert lost.returncode == 1 and json.loads(lost.stdout)["score"] < json.loads(lost.stdout)["max_score"]

    for args, needle in (((str(tmp_path / "nope"),), "no such folder"),
                         ((str(REFERENCE), "--stage", "99"), "unknown stage '99'"),
                         ((str(tmp_path),), "no stage file found")):
        bad = run_cli(*args)
        assert bad.returncode == 2 and needle in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr


def test_cli_broken_spec_is_a_usage_error(tmp_path):
    root = _course_with(tmp_path, lambda s: s["cases"][2].__setitem__("tolerance", {"rtol": "x"}))
    bad = run_cli(str(REFERENCE), "--course", str(root))
    assert bad.returncode == 2 and "cases[2].tolerance.rtol: expected a number" in bad.stderr


def test_cli_html_report_is_self_contained(tmp_path):
    sub = make_submission(tmp_path, {MET: body("RMSE = np.sqrt(error.dot(error.T)) / count")})
    html = tmp_path / "r.html"
    res = run_cli(str(sub), "--stage", "5", "--html", str(html), "--lang", "zh")
    assert res.returncode == 1
    text = html.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert "rmse-small" in text and "开方之前" in text and "隐藏用例" in text
    # hidden cases never show their inputs or expected values
    hidden = text.split('<span class="name">random-rmse</span>')[1].split("</details>")[0]
    assert "<dt>期望值</dt>" not in hidden


def test_stages_lists_the_course():
    res = run_cli("stages")
    assert res.returncode == 0
    assert "steepest-descent" in res.stdout and "mae-rmse" in res.stdout


# --- PyTorch stays out of the way ------------------------------------------------------------

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
    assert "needs PyTorch" in stage["message"] and "grade[torch]" in stage["message"]
    assert all("needs PyTorch" in c["message"] for c in stage["cases"])


def test_terminal_summary_reads_well(tmp_path):
    from grader.report.text import render as render_text

    sub = make_submission(tmp_path, {MET: body("RMSE = np.sqrt(error.dot(error.T)) / count")})
    with Grader(seed=5) as g:
        report = g.grade(sub, ["mae-rmse"])
    text = render_text(report, color=False)
    assert "FAIL   [ 5] mae-rmse" in text and "PASS   mae-small" in text
    assert "expected 2.0766559657295187" in text          # visible case: both values
    assert text.count("divide inside the square root") == 1  # the same hint is shown once
    assert "--seed 5" in text
    assert "\033[" not in text and "\033[" in render_text(report, color=True)
