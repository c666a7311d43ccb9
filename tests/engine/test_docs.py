"""The docs stay true: every fenced block of README.md, ARCHITECTURE.md and docs/*.md is run or checked here.

- ``python``: executed (a fresh interpreter, in an empty folder).
- ``bash``: every `grade ...` command goes through the real command-line parser (nothing is
  graded: the parser is what drifts), and any other command makes the block `no-test`.
- ``yaml``: parsed; a ``yaml spec`` block is validated as a whole stage spec.
- ``text``: shown as is (layouts, schemas).
- ``no-test`` after the language: shown, not run (a setup line, a sketch); they are counted.
Inline references like `grader.sandbox.isolation.isolation()` must import (and be callable).
"""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from grader import cli
from grader.course.spec import StageSpec

DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
LANGUAGES = {"python", "bash", "yaml", "text"}
MAX_NO_TEST = 4  # blocks shown but not run: keep them few


def blocks() -> list[tuple[str, str, set[str], str]]:
    """(where, language, flags, body) of every fenced block of the docs."""
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            lang, *flags = m.group("info").split() or [""]
            indent = len(m.group("indent"))
            body = "".join(line[indent:] for line in m.group("body").splitlines(keepends=True))
            where = f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
            out.append((where, lang, set(flags), body))
    return out


BLOCKS = blocks()


def test_every_block_says_its_language_and_few_are_not_run():
    assert len(BLOCKS) >= 20
    for where, lang, flags, _ in BLOCKS:
        assert lang in LANGUAGES, f"{where}: a block needs a language out of {sorted(LANGUAGES)}, got {lang!r}"
        assert flags <= {"no-test", "spec"}, (where, flags)
    assert sum("no-test" in flags for _, _, flags, _ in BLOCKS) <= MAX_NO_TEST


def _by(lang: str) -> list:
    return [pytest.param(body, flags, id=where) for where, kind, flags, body in BLOCKS
            if kind == lang and "no-test" not in flags]


@pytest.mark.parametrize("body, flags", _by("python"))
def test_python_blocks_run(tmp_path, body, flags):
    res = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("body, flags", _by("yaml"))
def test_yaml_blocks_parse(body, flags):
    data = yaml.safe_load(body)
    if "spec" in flags:  # a whole stage spec: the format the docs show is the format the loader reads
        StageSpec.parse(data)


def commands(body: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped."""
    joined = body.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def parse_grade(argv: list[str]) -> None:
    """`grade ARGV` through the real parsers (SystemExit on a usage error), without running it."""
    if argv and argv[0] in cli.SUBCOMMANDS:
        cli.subcommands()["_top"].parse_args(argv)
        return
    assert not argv or argv[0].startswith("-") or not cli._close_subcommand(argv[0]), f"a mistyped subcommand: {argv}"
    cli.grade_parser().parse_args(argv)


@pytest.mark.parametrize("body, flags", _by("bash"))
def test_bash_blocks_are_grade_commands_the_parser_accepts(body, flags, capsys):
    for words in commands(body):
        assert words[0] == "grade", f"only `grade` commands run here; mark the block `bash no-test`: {words}"
        try:
            parse_grade(words[1:])
        except SystemExit as exc:
            pytest.fail(f"`{shlex.join(words)}` is refused (exit {exc.code}): {capsys.readouterr().err}")


def test_the_parser_check_bites():
    with pytest.raises(SystemExit):
        parse_grade(["batch", "class/", "--no-such-option"])
    with pytest.raises(AssertionError):
        parse_grade(["inti", "my-work/"])
    assert commands("grade a \\\n  --stage 1   # one stage\n\ngrade b") == [["grade", "a", "--stage", "1"], ["grade", "b"]]


INLINE = re.compile(r"`(grader(?:\.\w+)+)(\(\))?`")


def test_inline_references_to_the_code_exist():
    found = 0
    for path in DOCS:
        for m in INLINE.finditer(path.read_text(encoding="utf-8")):
            found += 1
            target = _resolve(m.group(1))
            assert target is not None, f"{path.name}: `{m.group(0)}` names nothing"
            assert not m.group(2) or callable(target), f"{path.name}: `{m.group(0)}` is not callable"
    assert found >= 3


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name, None)
        return obj
    return None


def test_named_paths_exist():
    for path in DOCS:
        for name in re.findall(r"`((?:tests|grader)/[\w/.*]+\.py)`", path.read_text(encoding="utf-8")):
            assert list(ROOT.glob(name)), f"{path.name} names {name}, which does not exist"
