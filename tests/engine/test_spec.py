"""Stage specs: a broken spec names its file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REFERENCE, ROOT
from grader.course import load_course
from grader.spec import SpecError


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
