"""The students of a class folder, and the folder to grade for each of them.

A student is whatever `grade PATH` accepts: a folder, a .zip, or one .py/.ipynb file. Inside,
a stage file is found as `grade` finds it (grader.sources.find_source: the file, its notebook,
either in another case), so a batch grades exactly what `grade <folder>` grades."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from grader.batch.rows import Reason, reason
from grader.contents import Contents
from grader.batch.unpack import UnpackError, find_submission_root, is_junk, safe_unzip
from grader.fsutil import read_bounded
from grader.sources import MAX_BYTES, NOTEBOOK, find_source, single_file_name

SINGLE_FILE_SUFFIXES = (".py", NOTEBOOK)

LMS_SUFFIXES = ("_assignsubmission_file_", "_assignsubmission_onlinetext_", "_assignsubmission_file")


@dataclass
class Student:
    id: str                    # shown in the gradebook
    file_id: str               # safe file name stem: students/<file_id>.html, .cache/<file_id>.json
    source: Path               # the folder, zip or lone file in CLASS_DIR
    kind: str                  # "folder" | "zip" | "file" (one .py or .ipynb)
    root: Optional[Path] = None    # the folder that is graded
    error: Optional[Reason] = None  # why it cannot be graded (unpack failure, ...)
    key: Optional[str] = None       # cache key
    contents: Optional[Contents] = None  # what the one walk of `root` kept (grader/contents.py)


def _student_id(entry: Path) -> str:
    name = entry.name
    if entry.is_file() and entry.suffix.lower() in (".zip", *SINGLE_FILE_SUFFIXES):
        name = entry.stem
    for suffix in LMS_SUFFIXES:  # Moodle: "Full Name_123456_assignsubmission_file_"
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return unicodedata.normalize("NFC", name.strip()) or entry.name


def _file_id(sid: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w.\-]+", "_", sid, flags=re.UNICODE).strip("._") or "student"
    base = base[:80]
    cand, n = base, 2
    while cand.lower() in taken:
        cand, n = f"{base}-{n}", n + 1
    taken.add(cand.lower())
    return cand


def _kind(entry: Path, stage_names: frozenset[str]) -> tuple[Optional[str], Optional[Reason]]:
    if entry.is_symlink():
        return None, reason("batch.skip_link", name=entry.name)
    if entry.is_dir():
        return "folder", None
    if entry.is_file() and entry.name.lower().endswith(".zip"):
        return "zip", None
    if entry.is_file() and entry.suffix.lower() in SINGLE_FILE_SUFFIXES:
        if entry.name.lower() in stage_names:  # the course's own file name: nobody's submission
            return None, reason("batch.skip_stage_file", name=entry.name)
        return "file", None
    return None, reason("batch.skip_other", name=entry.name)


def discover(class_dir: Path, exclude: Sequence[Path] = (), lang: str = "en",
             stage_files: Sequence[str] = ()) -> tuple[list[Student], list[str]]:
    """The students of `class_dir` (sorted by id) and notes about entries that were skipped.
    A lone file named like a stage file (`stage_files`, or its notebook) is no student's."""
    excl = {p.resolve() for p in exclude}
    stage_names = frozenset(n.lower() for f in stage_files for n in (f, Path(f).stem + NOTEBOOK))
    students, notes = [], []
    seen: dict[str, Student] = {}  # by how an id prints (look_key)
    taken: set[str] = set()
    for entry in sorted(class_dir.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith(".") or is_junk(entry.name) or entry.resolve() in excl:
            continue
        kind, note = _kind(entry, stage_names)
        if kind is None:
            notes.append(note.text(lang))
            continue
        sid = _student_id(entry)
        if look_key(sid) in seen:
            sid, note = _told_apart(sid, entry, seen)
            if note is not None:
                notes.append(note.text(lang))
        st = Student(id=sid, file_id=_file_id(sid, taken), source=entry, kind=kind)
        seen[look_key(sid)] = st
        students.append(st)
    return students, notes


def look_key(sid: str) -> str:
    """How an id prints: two ids with the same key look alike in a gradebook (``José`` in NFC and
    in NFD, ``Alice`` and ``alice``, full-width letters)."""
    return unicodedata.normalize("NFKC", sid).casefold()


def _form(name: str) -> str:
    return next((f for f in ("NFC", "NFD") if unicodedata.is_normalized(f, name)), "another Unicode form")


def _told_apart(sid: str, entry: Path, seen: dict[str, Student]) -> tuple[str, Optional[Reason]]:
    """An id for `entry` that prints unlike every id taken, and the note saying why when its name
    only looks like another's."""
    if look_key(entry.name) not in seen:
        return entry.name, None  # folder "alice" and "alice.zip": keep both, told apart by the name
    n = 2
    while look_key(f"{sid} ({n})") in seen:
        n += 1
    first = seen[look_key(sid)]
    new = f"{sid} ({n})"
    return new, reason("batch.lookalike_ids", a=first.source.name, form_a=_form(first.source.name),
                       b=entry.name, form_b=_form(entry.name), id_a=first.id, id_b=new)


class _Refused(Exception):
    def __init__(self, why: Reason):
        self.why = why


def _unzip(student: Student, zp: Path, unpack_dir: Path) -> Path:
    try:
        return safe_unzip(zp, unpack_dir / student.file_id)
    except UnpackError as e:
        raise _Refused(reason("batch.unpack_failed", why=str(e))) from None


def _has_stage_file(folder: Path, stage_files: frozenset[str]) -> bool:
    return any(find_source(folder, f) is not None for f in stage_files)


def _place_file(student: Student, unpack_dir: Path, single_stages: Sequence[str]) -> Path:
    """A lone file, copied under the name its stage expects (as `grade FILE` places it)."""
    name = single_file_name(student.source, single_stages)
    if name is None:
        raise _Refused(reason("batch.not_stage_file", name=student.source.name,
                              files=", ".join(sorted(set(single_stages)))))
    data = read_bounded(student.source, MAX_BYTES + 1)  # never a FIFO, never a 200 GB sparse file
    if data is None or len(data) > MAX_BYTES:
        raise _Refused(reason("batch.lone_file_unreadable", name=student.source.name, mb=MAX_BYTES >> 20))
    folder = unpack_dir / student.file_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder


def _root(student: Student, unpack_dir: Path, stage_files: frozenset[str], single_stages: Sequence[str]) -> Path:
    if student.kind == "zip":
        return _unzip(student, student.source, unpack_dir)
    if student.kind == "file":
        return _place_file(student, unpack_dir, single_stages)
    root = student.source
    # An LMS export may hold the student's zip inside their folder.
    entries = [p for p in root.iterdir() if not is_junk(p.name) and not p.name.startswith(".")]
    zips = [p for p in entries if p.is_file() and p.suffix.lower() == ".zip"]
    if len(zips) == 1 and not _has_stage_file(root, stage_files) and not any(p.is_dir() for p in entries):
        return _unzip(student, zips[0], unpack_dir)
    return root


def _check_links(root: Path, base: Path, stage_files: frozenset[str]) -> None:
    """A stage file (or its notebook) must be the student's own file, inside their folder."""
    for f in sorted(stage_files):
        for p in (root / f, root / (Path(f).stem + NOTEBOOK), find_source(root, f)):
            if p is None:
                continue
            if p.is_symlink():
                raise _Refused(reason("batch.symlink", file=p.name))
            if p.exists() and base not in p.resolve().parents:
                raise _Refused(reason("batch.outside", file=p.name))


def prepare(student: Student, unpack_dir: Path, stage_files: frozenset[str],
            single_stages: Sequence[str] = ()) -> None:
    """Unpack (zips), place (a lone file), locate the folder to grade, refuse symlinked stage files.
    `single_stages`: the stage files a lone file may stand for (default: every stage file)."""
    try:
        root = find_submission_root(_root(student, unpack_dir, stage_files, single_stages or sorted(stage_files)),
                                    stage_files)
        unpacked = unpack_dir / student.file_id
        base = (unpacked if unpacked.exists() else student.source).resolve()
        _check_links(root, base, stage_files)
        student.root = root
    except _Refused as e:
        student.error = e.why
    except OSError as e:
        student.error = reason("batch.unreadable", why=str(e))
