"""`grade serve` refusing to start, each with one clear line: no serve extra, a roster id
that cannot be part of an address, a broken deadlines file."""

from __future__ import annotations

import importlib.util

from grader.cli import main


def test_without_the_serve_extra_it_says_what_to_install(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert main(["serve", "--demo"]) == 2
    err = capsys.readouterr().err
    assert "missing: uvicorn" in err and 'pip install "grade-nn[serve]"' in err


def test_a_roster_id_with_a_slash_stops_the_start(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nclass/alice,Alice\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    assert main(["serve", str(roster), "--db", db, "--links", str(tmp_path / "links.csv")]) == 2
    assert "holds a slash" in capsys.readouterr().err and not (tmp_path / "links.csv").exists()


def test_a_broken_deadlines_file_names_the_field(tmp_path, capsys):
    deadlines = tmp_path / "deadlines.yaml"
    deadlines.write_text("stages:\n  1: next friday\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    assert main(["serve", "--db", db, "--deadlines", str(deadlines), "--links", str(tmp_path / "l.csv")]) == 2
    assert "--deadlines: stages.1: 'next friday'" in capsys.readouterr().err
    assert not (tmp_path / "serve.sqlite").exists()  # stopped before anything started
