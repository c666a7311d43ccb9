"""One `limits` record: the platform's defaults, a stage's YAML overrides (validated), the sandbox obeys them."""

from __future__ import annotations

import pytest

from conftest import make_submission
from grader.course.folder import load_course
from grader.engine import Grader
from grader.errors import SpecError
from grader.limits import PLATFORM, stage_fields
from helpers import MET, RMSE, RMSE_CASES, body
from test_spec import _course_with


def test_a_stage_without_limits_has_the_platform_defaults(tmp_path):
    root = _course_with(tmp_path, lambda s: s.pop("limits", None))
    assert load_course(root).find(5).limits == PLATFORM


def test_a_stage_overrides_its_per_stage_caps_only(tmp_path):
    root = _course_with(tmp_path, lambda s: s.__setitem__("limits", {"time_s": 7, "output_bytes": 4096}))
    limits = load_course(root).find(5).limits
    assert (limits.time_s, limits.output_bytes, limits.memory_mb) == (7.0, 4096, PLATFORM.memory_mb)
    assert {"time_s", "memory_mb", "output_bytes", "result_bytes", "records_bytes"} <= set(stage_fields())
    assert "pids" not in stage_fields() and "copy_bytes" not in stage_fields()


@pytest.mark.parametrize("limits, expected", [
    ({"output_bytes": -1}, "05_mae_rmse.yaml: limits.output_bytes: must be > 0, got -1"),
    ({"output_bytes": "lots"}, "05_mae_rmse.yaml: limits.output_bytes: expected an integer, got 'lots'"),
    ({"pids": 5}, "05_mae_rmse.yaml: limits.pids: unknown field"),  # the platform's, not a stage's
])
def test_a_bad_limit_names_the_file_and_the_field(tmp_path, limits, expected):
    root = _course_with(tmp_path, lambda s: s.__setitem__("limits", limits))
    with pytest.raises(SpecError) as err:
        load_course(root)
    assert expected in str(err.value)


def test_the_sandbox_stops_a_run_at_the_stage_output_cap(tmp_path):
    root = _course_with(tmp_path, lambda s: s.__setitem__("limits", {"time_s": 20, "output_bytes": 4096}))
    quiet = make_submission(tmp_path, {MET: body(RMSE)})
    loud = make_submission(tmp_path, {MET: body(RMSE + "; print('x' * 6000)")})  # 6 KB a call: under the platform's 1 MiB
    with Grader(course=root, seed=3, workers=1) as grader:
        assert grader.grade(quiet, [5]).full_marks
        stage = grader.grade(loud, [5]).stages[0]
    rmse = [c for c in stage.cases if c.name in RMSE_CASES]
    assert rmse and all(c.score == 0 and "printed more than 4 KiB of output" in c.message for c in rmse), rmse
    assert all(c.score == c.max_score for c in stage.cases if c.name not in RMSE_CASES)  # MAE prints nothing


def test_the_authoring_guide_lists_every_per_stage_cap_with_its_default():
    from conftest import ROOT
    import re

    text = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| ([\d.]+) \|", text, re.M))
    assert set(rows) == set(stage_fields())
    assert all(float(rows[name]) == getattr(PLATFORM, name) for name in rows), rows
