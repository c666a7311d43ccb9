"""The worker's side: the engine tells each stage before grade() returns (so a job's verdicts
are written before its end), and a job's files become the folder the engine grades."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import grader_for

from grader.serve.files import clean_name

ROOT = Path(__file__).resolve().parents[2]


def test_every_stage_is_told_before_grade_returns_even_when_the_listener_is_slow(tmp_path):
    (tmp_path / "activation.py").write_bytes((ROOT / "reference" / "activation.py").read_bytes())
    told = []

    def slow(stage):
        time.sleep(0.3)  # a database write that takes its time
        told.append(stage.number)
    report = grader_for().grade(tmp_path, [1, 2, 3], on_stage=slow)
    assert sorted(told) == [1, 2, 3] == [s.number for s in report.stages]


def test_upload_names_lose_their_folders_and_odd_characters():
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("C:\\Users\\me\\activation.py") == "activation.py"
    assert clean_name("act\x00ivation;rm.py") == "act_ivation_rm.py"
    assert clean_name("") == "upload"
