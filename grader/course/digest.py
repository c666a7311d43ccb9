"""A course's content hash: what graded a submission, said in every machine-readable output
(the JSON report, JUnit properties, the gradebook, Gradescope and Classroom results) and part
of every batch cache key. Computed over the stage specs, drivers, support files, the reference,
and a student kit's frozen values and seed; editor and tool files are left out."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Callable

from grader.contents import TOTAL_CAP, tool_made
from grader.fsutil import read_bounded

SHORT = 16  # hex digits of the hash shown where space is short (CSV, JUnit, summaries)


def _hash_file(p: Path, h: "hashlib._Hash") -> None:
    if p.is_symlink():
        h.update(b"L" + os.readlink(p).encode("utf-8", "surrogateescape"))
        return
    try:
        info = p.lstat()
    except OSError as e:
        h.update(f"unreadable:{e}".encode())
        return
    if not stat.S_ISREG(info.st_mode):  # a FIFO, socket or device: never opened (the run never sees it)
        h.update(f"special:{stat.S_IFMT(info.st_mode)}".encode())
        return
    if info.st_size > TOTAL_CAP:  # past the copy cap the run refuses it: its size and time say enough
        h.update(f"large:{info.st_size}:{info.st_mtime_ns}".encode())
        return
    data = read_bounded(p, TOTAL_CAP)
    h.update(b"unreadable" if data is None else data)


def hash_tree(root: Path, h: "hashlib._Hash", skip: Callable[[str], bool] = lambda rel: False) -> None:
    """The course's and the grader's own files (trusted trees; a submission's go through `walk`)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not tool_made(d, True))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if tool_made(name, False) or skip(rel):
                continue
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            _hash_file(p, h)
            h.update(b"\0")


def course_hash(course_root: Path) -> str:
    """The course's content: stage specs, drivers, support files, reference, a kit's frozen values and seed."""
    h = hashlib.sha256()
    for sub in ("stages", "reference", "frozen"):  # frozen/: a student kit's expected values
        if (course_root / sub).is_dir():
            h.update(sub.encode() + b"\0")
            hash_tree(course_root / sub, h)
    if (course_root / "kit.json").is_file():  # a student kit's release seed replaces `seed`
        h.update(b"kit\0" + (course_root / "kit.json").read_bytes())
    return h.hexdigest()
