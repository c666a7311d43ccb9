"""One stage selection (Course.select), the same in every subcommand."""

from __future__ import annotations

import pytest

from grader.cli import main
from grader.course.folder import load_course, split_refs

COURSE = load_course(None)


def numbers(refs):
    return [s.number for s in COURSE.select(refs)]


def test_numbers_slugs_lists_and_ranges():
    assert numbers(["1,2"]) == [1, 2]
    assert numbers(["3 tanh", "1"]) == [3, 2, 1]          # in the order given, each once
    assert numbers(["1-3"]) == [1, 2, 3]
    assert numbers(["mae-rmse", "05"]) == [5]              # a slug with a hyphen is no range
    assert numbers(["2-2", "2"]) == [2]
    with pytest.raises(KeyError, match="unknown stage 'nope'"):
        COURSE.select(["1,nope"])
    with pytest.raises(KeyError):
        COURSE.select(["1-99"])


def test_split_refs():
    assert split_refs(["1 2,3", " tanh ,", ""]) == ["1", "2", "3", "tanh"]
    assert split_refs([]) == [] and split_refs(None) == []


def test_grade_accepts_a_comma_separated_stage_list(tmp_path, capsys):
    import json
    import shutil

    from conftest import REFERENCE

    sub = tmp_path / "sub"
    shutil.copytree(REFERENCE, sub)
    code = main([str(sub), "--stage", "1,2", "--format", "json", "--seed", "3"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and [s["number"] for s in data["stages"]] == [1, 2]


def test_an_unknown_stage_is_a_usage_error(tmp_path, capsys):
    assert main([str(tmp_path), "--stage", "1,nope"]) == 2
    assert "unknown stage 'nope'" in capsys.readouterr().err
