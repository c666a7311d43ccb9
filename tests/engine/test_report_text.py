"""The terminal summary."""

from __future__ import annotations

from conftest import make_submission
from grader.engine import Grader
from helpers import MET, body


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
