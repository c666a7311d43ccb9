"""Stage specs: a broken spec names its file and field."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REFERENCE, ROOT
from grader.course.folder import load_course
from grader.course.spec import Output, SpecError, StageSpec, Text, Tolerance, load_spec


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
    (lambda s: s["cases"][1].__setitem__("name", s["cases"][0]["name"]),
     "05_mae_rmse.yaml: cases[1].name: 'mae-small' is used twice"),
    (lambda s: s["cases"][1].__setitem__("call", "comp_rmse(pred,"),
     "05_mae_rmse.yaml: cases[1].call: not a valid Python expression ('(' was never closed), got 'comp_rmse(pred,'"),
    (lambda s: s["cases"][0].__setitem__("inputs", {"pred": {"normal": [0, 1], "shape": 5}}),
     "cases[0].inputs.pred.shape: expected a list of sizes, got 5"),
])
def test_broken_specs_name_file_and_field(tmp_path, mutate, expected):
    root = _course_with(tmp_path, mutate)
    with pytest.raises(SpecError) as err:
        load_course(root)
    assert expected in str(err.value)
    assert str(root / "stages" / "05_mae_rmse.yaml") in str(err.value)


def _spec_with(mutate) -> dict:
    spec = yaml.safe_load((ROOT / "stages" / "05_mae_rmse.yaml").read_text())
    mutate(spec)
    return spec


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s["cases"][0].__setitem__("hidden", "yes"), "cases[0].hidden: expected true or false, got 'yes'"),
    (lambda s: s["cases"][1].__setitem__("colour", "red"),
     "cases[1].colour: unknown field (check the spelling), got 'red'"),
    (lambda s: s.__setitem__("slug", "MAE_rmse"),
     "slug: does not match the expected form (^[a-z0-9]+(-[a-z0-9]+)*$), got 'MAE_rmse'"),
    (lambda s: s["cases"][3].__setitem__("repeat", 0), "cases[3].repeat: must be >= 1, got 0"),
    (lambda s: s["cases"][3].__setitem__("repeat", 101), "cases[3].repeat: must be <= 100, got 101"),
    (lambda s: s["tolerance"].__setitem__("rtol", -1), "tolerance.rtol: must be >= 0, got -1"),
    (lambda s: s["limits"].__setitem__("time_s", 0), "limits.time_s: must be > 0, got 0"),
    (lambda s: s["cases"][0]["mistakes"][0].__setitem__("error", "division"),
     "cases[0].mistakes[0]: a mistake needs exactly one of `value` (a wrong formula), `error` (a regex) or `nonfinite: true`"),
    (lambda s: s.__setitem__("number", 1.5), "number: expected an integer, got 1.5"),
    (lambda s: s.__setitem__("number", True), "number: expected an integer, got True"),
    (lambda s: s.__setitem__("cases", []), "cases: must not be empty"),
    (lambda s: s["cases"][3].__setitem__("sizes", {"n": [1, 2, 3]}), "cases[3].sizes.n: expected a list [low, high]"),
    (lambda s: s.__setitem__("title", {"en": "MAE"}), "title.zh: required field is missing"),
    (lambda s: s["cases"][2].__setitem__("outputs", ["mae", {"name": "rmse", "tolerance": {"atol": "x"}}]),
     "cases[2].outputs[1].tolerance.atol: expected a number, got 'x'"),
    (lambda s: s.update(number="x", slug=5), "number: expected an integer, got 'x' (and 1 more)"),
    (lambda s: s.__setitem__("path", "elsewhere.yaml"), "path: unknown field"),
])
def test_parse_names_the_field_and_what_was_expected(mutate, expected):
    with pytest.raises(SpecError) as err:
        StageSpec.parse(_spec_with(mutate))
    assert str(err.value).startswith(expected)


def test_parse_accepts_shorthands_and_numbers_written_as_strings():
    spec = StageSpec.parse(_spec_with(lambda s: (
        s.update(title="MAE", number=5.0),
        s["tolerance"].__setitem__("atol", "1e-12"),  # YAML reads 1e-12 (no dot) as a string
        s["cases"][0].__setitem__("outputs", "mae"),
    )))
    assert spec.title == Text(en="MAE", zh="MAE") and spec.number == 5 and isinstance(spec.number, int)
    assert spec.tolerance == Tolerance(rtol=1e-6, atol=1e-12)  # stage 5 allows float32 answers
    assert spec.cases[0].outputs == [Output(name="mae")] and spec.cases[1].outputs == [Output(name="result")]
    assert spec.cases[3].sizes == {"n": (1, 1000)}
    assert spec.max_score == 12.0 and not spec.needs_torch


def test_specs_are_frozen_and_load_spec_sets_the_path():
    path = ROOT / "stages" / "05_mae_rmse.yaml"
    spec = load_spec(path)
    assert spec.path == path
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.number = 6  # type: ignore[misc]
    assert dataclasses.replace(spec, number=6).number == 6 and spec.number == 5
    assert len({spec.tolerance, Tolerance(rtol=1e-6, atol=1e-9)}) == 1  # hashable


def test_importing_the_specs_does_not_import_pydantic():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", "import grader.course.spec, sys; assert 'pydantic' not in sys.modules"],
                   env=env, check=True)


def test_a_spec_that_is_not_yaml_names_the_file_and_line(tmp_path):
    root = _course_with(tmp_path, lambda s: None)
    path = root / "stages" / "05_mae_rmse.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\ncases: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_course(root)
    assert str(err.value).startswith(f"{path}: not valid YAML (line ")
