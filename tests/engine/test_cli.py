"""The command line: exit codes, the JSON contract, usage errors, the HTML file, `grade stages`."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REFERENCE, ROOT, make_submission
from helpers import MET, body
from test_spec import _course_with


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


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    """`grade stages | head -1`: the reader leaves early; grade says nothing more."""
    import subprocess
    import sys

    proc = subprocess.run(f"'{sys.executable}' -m grader stages | head -1", shell=True, capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT))
    assert proc.stdout.strip() and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
