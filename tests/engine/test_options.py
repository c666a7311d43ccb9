"""One shared parser: every subcommand reads `--stage`, `--lang`, `--course` the same way."""

from __future__ import annotations

import pytest

from grader import cli
from grader.options import STAGE_HELP

# Each subcommand that takes stages, with the positional arguments it needs.
WITH_STAGES = {"batch": ["class"], "init": ["work"], "gradescope": [], "classroom": [], "check-course": []}
FORMS = (["--stage", "1,4"], ["--stage", "1", "4"], ["--stage", "1", "--stage", "4"], ["-s", "1", "-s", "4"],
         ["--stages", "1, 4"])


@pytest.fixture(scope="module")
def parsers():
    return cli.subcommands()


@pytest.mark.parametrize("command", sorted(WITH_STAGES))
def test_every_subcommand_reads_every_stage_form_alike(parsers, command):
    for form in FORMS:
        args = parsers["_top"].parse_args([command, *WITH_STAGES[command], *form])
        assert args.stages == ["1", "4"], (command, form, args.stages)
    slugs = parsers["_top"].parse_args([command, *WITH_STAGES[command], "--stage", "sigmoid,tanh", "-s", "5-7"])
    assert slugs.stages == ["sigmoid", "tanh", "5-7"]
    assert parsers["_top"].parse_args([command, *WITH_STAGES[command]]).stages == []


def test_grade_itself_reads_the_same_forms():
    for form in FORMS:
        assert cli.grade_parser().parse_args(["work", *form]).stages == ["1", "4"]


def test_the_shared_options_have_one_help_text(parsers):
    for name in [*WITH_STAGES, "_grade"]:
        parser = cli.grade_parser() if name == "_grade" else parsers[name]
        helps = {a.dest: a.help for a in parser._actions}
        assert helps["stages"] == STAGE_HELP, name
        assert helps["lang"] == cli.grade_parser()._option_string_actions["--lang"].help, name
        assert helps["course"] == cli.grade_parser()._option_string_actions["--course"].help, name


def test_lang_and_course_are_accepted_by_every_subcommand(parsers):
    for name in ["stages", "batch", "init", "gradescope", "classroom", "release", "worker-setup", "check-course"]:
        positional = WITH_STAGES.get(name, [])
        args = parsers["_top"].parse_args([name, *positional, "--lang", "zh", "--course", "somewhere"]
                                          + (["--out", "o"] if name == "release" else []))
        assert args.lang == "zh" and args.course == "somewhere", name


@pytest.mark.parametrize("lang, needle", [("en", "did you mean `grade init`?"), ("zh", "是否想输入 `grade init`?")])
def test_a_mistyped_subcommand_names_the_real_one(tmp_path, monkeypatch, capsys, lang, needle):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["inti", "my-work/", "--lang", lang]) == 2
    err = capsys.readouterr().err
    assert needle in err and "'inti'" in err and err.count("\n") == 1, err
    assert not (tmp_path / "my-work").exists()


def test_a_folder_named_like_a_subcommand_is_still_graded_as_a_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "inti").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["inti", "--stage", "99"]) == 2  # graded as a folder: the unknown stage is the error
    assert "did you mean" not in capsys.readouterr().err
