"""One walk of a submission decides what is in it (grader/contents.py): the files a run sees are
exactly the files the cache key hashes and the similarity check reads; hostile entries (FIFOs,
links, sparse giants, folders named like files, floods of entries) are left out or refused with
the student's verdict, never a hang, a crash or "the grader could not run this stage"."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import REFERENCE, grade_stage
from grader.batch.cache import tree_hash
from grader.contents import FILE_CAP, MAX_ENTRIES, TOTAL_CAP, Submission, notes, problem, walk
from grader.sandbox.runs import copy_workspace

# Everything an editor, an archiver or Python leaves beside a student's code, and some of it
# where a student's own code might look for it.
ODD = [".idea/helper.py", "__MACOSX/activation.py", "._activation.py", "helper.pyc", "sub/.vscode/x.py",
       "sub/__pycache__/m.cpython-311.pyc", ".DS_Store", "pkg/data.txt", "pkg/deep/more.py", ".hidden.py",
       ".git/HEAD", "node_modules/x.js", ".ipynb_checkpoints/activation-checkpoint.ipynb"]


@pytest.fixture
def cluttered(tmp_path):
    sub = tmp_path / "student"
    shutil.copytree(REFERENCE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ODD:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_bytes(b"x = 1\n")
    return sub


def _run_copy(sub: Path, dest: Path) -> set[str]:
    copy_workspace(walk(sub), dest)
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}


def test_every_file_a_run_sees_is_in_the_cache_key(cluttered, tmp_path):
    """Change any file the run's copy holds: the key changes (no stale grade); change any file the
    run never sees: the key stays (no needless regrade)."""
    seen = _run_copy(cluttered, tmp_path / "run")
    assert "activation.py" in seen and "pkg/data.txt" in seen and ".hidden.py" in seen
    before = tree_hash(cluttered)
    for rel in sorted({p.relative_to(cluttered).as_posix() for p in cluttered.rglob("*") if p.is_file()}):
        original = (cluttered / rel).read_bytes()
        (cluttered / rel).write_bytes(original + b"# changed\n")
        changed = tree_hash(cluttered) != before
        (cluttered / rel).write_bytes(original)
        assert changed == (rel in seen), f"{rel}: in the run {rel in seen}, changes the key {changed}"
    assert tree_hash(cluttered) == before


def test_what_tools_make_never_reaches_a_run(cluttered, tmp_path):
    seen = _run_copy(cluttered, tmp_path / "run")
    for rel in (".idea/helper.py", "__MACOSX/activation.py", "._activation.py", "helper.pyc",
                "sub/.vscode/x.py", "sub/__pycache__/m.cpython-311.pyc", ".DS_Store", ".git/HEAD",
                "node_modules/x.js", ".ipynb_checkpoints/activation-checkpoint.ipynb"):
        assert rel not in seen


def test_the_similarity_check_reads_what_the_walk_kept(tmp_path):
    """A FIFO, a link to another student's file and a 100 GB sparse file under the stage's name are
    never opened by the similarity check; the honest pair is still found."""
    from grader.batch.similarity import find_pairs

    code = (REFERENCE / "metrics.py").read_text(encoding="utf-8")
    for name in ("ann", "ben", "fifo", "link", "giant"):
        (tmp_path / name).mkdir()
    (tmp_path / "ann" / "metrics.py").write_text(code, encoding="utf-8")
    (tmp_path / "ben" / "metrics.py").write_text(code, encoding="gbk")  # read as the grader reads it
    os.mkfifo(tmp_path / "fifo" / "metrics.py")
    os.symlink(tmp_path / "ann" / "metrics.py", tmp_path / "link" / "metrics.py")
    with open(tmp_path / "giant" / "metrics.py", "wb") as f:
        f.truncate(100 << 30)
    students = [(n, tmp_path / n) for n in ("ann", "ben", "fifo", "link", "giant")]
    pairs = find_pairs(students, None, ["metrics.py"])
    assert [(p.a, p.b) for p in pairs] == [("ann", "ben")]


def test_hostile_entries_are_left_out_with_a_note(tmp_path):
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "activation.py").write_text("x = 1\n", encoding="utf-8")
    os.mkfifo(sub / "pipe")
    os.symlink("/etc/passwd", sub / "passwd.py")
    with open(sub / "data.bin", "wb") as f:
        f.truncate(200 << 30)
    contents = walk(sub)
    assert [e.rel for e in contents.files] == ["activation.py"] and contents.over is None
    assert sorted((rel, why) for rel, why, _ in contents.left_out) == [
        ("data.bin", "large"), ("passwd.py", "link"), ("pipe", "special")]
    said = " ".join(notes(contents, "en"))
    assert "data.bin holds 200 GiB" in said and "passwd.py is a symbolic link" in said and "pipe is not a regular" in said
    assert all(notes(contents, "zh"))


def test_notes_about_left_out_entries_are_capped(tmp_path):
    sub = tmp_path / "s"
    sub.mkdir()
    for i in range(30):
        os.mkfifo(sub / f"pipe{i:02}")
    said = notes(walk(sub), "en")
    assert len(said) == 11 and said[-1] == "... and 20 more notes like these"


def test_a_flood_of_entries_is_the_students_verdict_not_a_long_walk(tmp_path):
    sub = tmp_path / "s"
    (sub / "junk").mkdir(parents=True)
    for i in range(MAX_ENTRIES + 5):
        (sub / "junk" / str(i)).touch()
    (sub / "activation.py").write_text("x = 1\n", encoding="utf-8")
    contents = walk(sub)
    assert contents.over == "entries"
    assert "more than 10,000 files and folders" in problem(contents, "activation.py", [], "en")
    assert problem(contents, "activation.py", [], "zh")


def test_too_much_in_total_names_the_largest_file(tmp_path):
    sub = tmp_path / "s"
    sub.mkdir()
    for i in range(3):  # each under the per-file cap, together over the total
        with open(sub / f"weights{i}.npy", "wb") as f:
            f.truncate(FILE_CAP - 1 - i)
    contents = walk(sub)
    assert contents.over == "size" and contents.total > TOTAL_CAP
    said = problem(contents, "activation.py", [], "en")
    assert "the largest file: weights0.npy" in said and "at most 50 MiB" in said


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "activation.py in your submission is a folder"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: os.symlink(REFERENCE / "activation.py", p), "is a symbolic link"),
    (lambda p: open(p, "wb").truncate(100 << 30), "activation.py holds 100 GiB"),
])
def test_a_stage_file_that_is_not_a_file_is_the_students_verdict(tmp_path, make, words):
    sub = tmp_path / "s"
    sub.mkdir()
    make(sub / "activation.py")
    stage = grade_stage(sub, 1)
    assert stage["score"] == 0 and words in stage["message"], stage["message"]
    assert "could not run" not in stage["message"] and str(tmp_path) not in str(stage)


def test_a_folder_named_like_a_support_file_is_the_students_verdict(tmp_path):
    """`layers.py/` where the course puts its layers.py: the student is told, no host path shown."""
    sub = tmp_path / "s"
    shutil.copytree(REFERENCE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    (sub / "layers.py").mkdir()
    (sub / "layers.py" / "notes.txt").write_text("mine\n", encoding="utf-8")
    stage = grade_stage(sub, 7)
    assert stage["score"] == 0
    assert "layers.py in your submission is a folder" in stage["message"], stage["message"]
    assert "could not run" not in str(stage) and "/tmp" not in str(stage) and str(tmp_path) not in str(stage)
    zh = grade_stage(sub, 7, lang="zh")
    assert "layers.py 是一个文件夹" in zh["message"]


def test_a_notebook_serving_three_stages_is_read_once(tmp_path, monkeypatch):
    """Stages 1-3 share activation.ipynb: it is parsed once for the submission (was once per stage
    and once more per run), and the three stages keep their points."""
    import grader.contents as contents_module
    import grader.sources as sources_module
    from conftest import grader_for
    from test_sources_notebooks import CLEAN, notebook

    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "activation.ipynb").write_text(notebook(CLEAN), encoding="utf-8")
    reads = []
    real = sources_module.read_source

    def counting(folder, *args, **kwargs):
        if Path(folder).resolve() == sub.resolve():
            reads.append(args[0])
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(contents_module, "read_source", counting)
    monkeypatch.setattr(sources_module, "read_source", counting)
    report = grader_for().grade(sub, [1, 2, 3]).to_dict()
    assert reads == ["activation.py"]
    assert all(s["score"] == s["max_score"] > 0 for s in report["stages"]), report
