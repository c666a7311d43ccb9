"""The students of a class folder, and the folder to grade for each of them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from grader.batch.rows import Reason, reason
from grader.contents import Contents
from grader.batch.unpack import UnpackError, find_submission_root, is_junk, safe_unzip

LMS_SUFFIXES = ("_assignsubmission_file_", "_assignsubmission_onlinetext_", "_assignsubmission_file")


@dataclass
class Student:
    id: str                    # shown in the gradebook
    file_id: str               # safe file name stem: students/<file_id>.html, .cache/<file_id>.json
    source: Path               # the folder or zip in CLASS_DIR
    kind: str                  # "folder" | "zip"
    root: Optional[Path] = None    # the folder that is graded
    error: Optional[Reason] = None  # why it cannot be graded (unpack failure, ...)
    key: Optional[str] = None       # cache key
    contents: Optional[Contents] = None  # what the one walk of `root` kept (grader/contents.py)


def _student_id(entry: Path) -> str:
    name = entry.name
    if entry.is_file() and name.lower().endswith(".zip"):
        name = name[:-4]
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


def _kind(entry: Path) -> tuple[Optional[str], Optional[Reason]]:
    if entry.is_symlink():
        return None, reason("batch.skip_link", name=entry.name)
    if entry.is_dir():
        return "folder", None
    if entry.is_file() and entry.name.lower().endswith(".zip"):
        return "zip", None
    return None, reason("batch.skip_other", name=entry.name)


def discover(class_dir: Path, exclude: Sequence[Path] = (), lang: str = "en") -> tuple[list[Student], list[str]]:
    """The students of `class_dir` (sorted by id) and notes about entries that were skipped."""
    excl = {p.resolve() for p in exclude}
    students, notes = [], []
    seen: dict[str, Student] = {}  # by how an id prints (look_key)
    taken: set[str] = set()
    for entry in sorted(class_dir.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith(".") or is_junk(entry.name) or entry.resolve() in excl:
            continue
        kind, note = _kind(entry)
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


def _root(student: Student, unpack_dir: Path, stage_files: frozenset[str]) -> Path:
    if student.kind == "zip":
        return _unzip(student, student.source, unpack_dir)
    root = student.source
    # An LMS export may hold the student's zip inside their folder.
    entries = [p for p in root.iterdir() if not is_junk(p.name) and not p.name.startswith(".")]
    zips = [p for p in entries if p.is_file() and p.suffix.lower() == ".zip"]
    has_stage = any((root / f).exists() for f in stage_files)
    if len(zips) == 1 and not has_stage and not any(p.is_dir() for p in entries):
        return _unzip(student, zips[0], unpack_dir)
    return root


def prepare(student: Student, unpack_dir: Path, stage_files: frozenset[str]) -> None:
    """Unpack (zips), locate the folder to grade, refuse symlinked stage files."""
    try:
        root = find_submission_root(_root(student, unpack_dir, stage_files), stage_files)
        unpacked = unpack_dir / student.file_id
        base = (unpacked if unpacked.exists() else student.source).resolve()
        for f in sorted(stage_files):
            p = root / f
            if p.is_symlink():
                raise _Refused(reason("batch.symlink", file=f))
            if p.exists() and base not in p.resolve().parents:
                raise _Refused(reason("batch.outside", file=f))
        student.root = root
    except _Refused as e:
        student.error = e.why
    except OSError as e:
        student.error = reason("batch.unreadable", why=str(e))
