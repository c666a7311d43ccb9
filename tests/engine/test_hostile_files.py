"""A submission's files are hostile before any run: a FIFO, a 200 GB sparse file, a 100 GB
sparse stage file. Nothing that reads a submission (the batch's cache key, the source reader,
the batch itself) may hang, read them whole or crash; every student still gets a row."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from conftest import REFERENCE, TEMPLATE
from grader.batch.cache import tree_hash
from grader.fsutil import read_bounded
from grader.sources import read_source


def finishes(fn, seconds=10.0):
    """Run fn in a thread; the value, or a failure when it has not finished in `seconds`."""
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("value", fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{fn} did not finish within {seconds} s"
    return out.get("value")


@pytest.fixture
def hostile(tmp_path):
    folder = tmp_path / "student"
    shutil.copytree(REFERENCE, folder)
    os.mkfifo(folder / "pipe")
    with open(folder / "data.bin", "wb") as f:
        f.truncate(200 << 30)  # 200 GB, no disk used
    return folder


def test_the_cache_key_neither_opens_a_fifo_nor_reads_a_sparse_file_whole(hostile):
    first = finishes(lambda: tree_hash(hostile))
    assert finishes(lambda: tree_hash(hostile)) == first  # still a key: deterministic
    (hostile / "activation.py").write_text("# changed\n", encoding="utf-8")
    assert finishes(lambda: tree_hash(hostile)) != first  # and it still sees real changes


def test_read_bounded_refuses_what_is_not_a_regular_file(hostile, tmp_path):
    assert finishes(lambda: read_bounded(hostile / "pipe", 100)) is None
    os.symlink(REFERENCE / "activation.py", tmp_path / "link.py")
    assert read_bounded(tmp_path / "link.py", 100) is None
    assert len(finishes(lambda: read_bounded(hostile / "data.bin", 1 << 20))) == 1 << 20


def test_a_huge_sparse_or_fifo_stage_file_is_read_bounded(tmp_path):
    sparse = tmp_path / "sparse"
    sparse.mkdir()
    with open(sparse / "activation.py", "wb") as f:
        f.truncate(100 << 30)  # 100 GB of NUL bytes: once a MemoryError in the grader
    source = finishes(lambda: read_source(sparse, "activation.py"))
    assert source is not None and len(source.text) <= 8 << 20
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "activation.py")
    assert finishes(lambda: read_source(fifo, "activation.py")) is None


def test_a_batch_with_hostile_files_grades_every_student(tmp_path):
    """A FIFO, a 200 GB sparse file and a 100 GB sparse stage file among honest students: the
    batch ends, every student has a row, the honest ones (and those beside junk) full."""
    from grader.batch import run_batch
    from conftest import ROOT

    class_dir = tmp_path / "class"
    for name in ("honest", "fifo", "sparse", "bigstage"):
        shutil.copytree(REFERENCE, class_dir / name)
    os.mkfifo(class_dir / "fifo" / "pipe")
    with open(class_dir / "sparse" / "data.bin", "wb") as f:
        f.truncate(200 << 30)
    with open(class_dir / "bigstage" / "activation.py", "wb") as f:
        f.truncate(100 << 30)
    for path in [tmp_path, *class_dir.rglob("*")]:  # the sandbox's uid reads the class as "others"
        if not path.is_symlink() and (path.is_dir() or path.is_file()):
            path.chmod(0o755 if path.is_dir() else 0o644)
    result = finishes(lambda: run_batch(class_dir, tmp_path / "out", course_dir=ROOT, stages=["1"],
                                        jobs=2, seed=3, quiet=True), seconds=240)
    rows = {r["id"]: r for r in result.rows}
    assert set(rows) == {"honest", "fifo", "sparse", "bigstage"}
    assert float(rows["honest"]["total"]) == float(rows["honest"]["max"]) > 0
    for junk in ("fifo", "sparse"):  # a FIFO or a 200 GB file beside the work is left out: it costs nothing
        assert float(rows[junk]["total"]) == float(rows[junk]["max"]), rows[junk]
    assert float(rows["bigstage"]["total"]) == 0
    details = (tmp_path / "out" / "students" / f"{rows['bigstage']['file']}.json")
    said = details.read_text(encoding="utf-8") if details.is_file() else str(rows["bigstage"])
    assert "activation.py holds 100 GiB" in said and "could not run" not in said


def hostile_notebook(cells: int = 60_000) -> str:
    """About 6 MB: the reference's activation code in cell 1, then `cells` cells of magics and shell lines."""
    import json

    code = (REFERENCE / "activation.py").read_text(encoding="utf-8")
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "%matplotlib inline\n%time x = 1\n!ls"}
    first = {**cell, "source": code}
    return json.dumps({"cells": [first] + [cell] * cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_hostile_notebook_is_read_once_with_its_notes_and_report_bounded(tmp_path):
    """60,000 cells of `%magic` for stages 1-3: once 180,001 notes per read, a read per stage and per
    run, 40 s and a 31 MB HTML report. Now: full marks, a few notes ending in "and N more", small reports."""
    from conftest import grader_for
    from grader.report import html, json as json_report

    sub = tmp_path / "nb"
    sub.mkdir()
    (sub / "activation.ipynb").write_text(hostile_notebook(), encoding="utf-8")
    assert (sub / "activation.ipynb").stat().st_size > 6_000_000
    report = finishes(lambda: grader_for().grade(sub, [1, 2, 3]), seconds=240)
    stages = report.to_dict(details=True)["stages"]
    assert all(s["score"] == s["max_score"] > 0 for s in stages), [s["message"] for s in stages]
    for stage in stages:
        notes = stage["details"]["notes"]
        assert len(notes) <= 13, len(notes)
        assert "60,001 cells; only the first 5,000 were read" in " ".join(notes)
        assert notes[-1].startswith("... and ") and notes[-1].endswith(" more notes like these")
    assert len(html.render(report)) < 200_000 and len(json_report.render(report)) < 50_000


def test_look_alike_ids_never_make_two_rows_that_print_the_same(tmp_path):
    """`José` written in NFC and in NFD (a Mac's zip and a Windows folder): once two rows that printed
    identically. Now two ids that read apart in the gradebook, and a note naming both forms."""
    import csv
    import unicodedata
    from conftest import ROOT
    from grader.batch import run_batch

    nfc, nfd = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    class_dir = tmp_path / "class"
    shutil.copytree(REFERENCE, class_dir / nfc, ignore=shutil.ignore_patterns("__pycache__"))
    (class_dir / nfd).mkdir()
    (class_dir / nfd / "activation.py").write_text("def nothing(): pass\n", encoding="utf-8")
    for path in [tmp_path, *class_dir.rglob("*")]:  # the sandbox's uid reads the class as "others"
        path.chmod(0o755 if path.is_dir() else 0o644)
    result = finishes(lambda: run_batch(class_dir, tmp_path / "out", course_dir=ROOT, stages=["1"], jobs=2,
                                        seed=3, quiet=True), seconds=240)
    ids = [r["id"] for r in result.rows]
    assert len(ids) == 2 and len({unicodedata.normalize("NFKC", i).casefold() for i in ids}) == 2, ids
    assert "José (2)" in ids
    assert any("NFC" in n and "NFD" in n and "José (2)" in n for n in result.notes), result.notes
    with open(tmp_path / "out" / "gradebook.csv", encoding="utf-8-sig", newline="") as fh:
        printed = [row[0] for row in list(csv.reader(fh))[1:]]
    assert len(set(printed)) == 2, printed
    by_source = {unicodedata.normalize("NFC", r["source"]) + ("/nfd" if r["source"] == nfd else ""): r
                 for r in result.rows}
    assert float(by_source["José"]["total"]) == float(by_source["José"]["max"]) > 0  # the right grade on each
    assert float(by_source["José/nfd"]["total"]) == 0
