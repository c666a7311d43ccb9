"""What a submission holds: one walk of its folder decides, before a byte of it is read.

A submission is hostile (docs/security.md): it may hold FIFOs (an open blocks forever),
devices, sockets, symbolic links, sparse files of 200 GB that use no disk, a folder named
like a file, a hundred thousand files. `walk` looks at every entry with ``lstat`` only and
returns the `Contents`: the regular files a run sees (path and size), the folders, and what
was left out and why. The same `Contents` feeds

- the batch's cache key (`digest`): every byte a run can see, read bounded to the walked size,
- the copy into each run (`copy_into`), and the cluster's zip of a submission,
- the similarity check (`grader/batch/similarity.py`),

so a change to any file a run sees changes the key, and nothing a run never sees is hashed.
Left out, everywhere alike: symbolic links, anything not a regular file, bytecode (``.pyc``:
code whose source nobody can read), the folders tools make (``__pycache__``, ``.git``,
``.venv``, ``node_modules``, ``__MACOSX``, ``.ipynb_checkpoints``, ``.idea``, ``.vscode``), the
files they make (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``._*``), and any file larger
than `FILE_CAP`. A submission whose kept files pass `TOTAL_CAP` bytes or `MAX_ENTRIES`
entries is `over` its limit: the student's verdict, never a run.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from grader.fsutil import copy_bounded, read_bounded
from grader.limits import PLATFORM
from grader.messages import size_text, t
from grader.sources import NOTES_KEPT, Source, read_source

TOTAL_CAP = PLATFORM.copy_bytes  # bytes of kept files a submission may hold (the copy into each run)
FILE_CAP = TOTAL_CAP  # a larger file is left out of the runs, with a note
MAX_ENTRIES = PLATFORM.entries  # files and folders a walk looks at before it stops
TOOL_DIRS = frozenset({"__pycache__", ".git", ".venv", "node_modules", "__MACOSX", ".ipynb_checkpoints",
                       ".idea", ".vscode"})
TOOL_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
BYTECODE = (".pyc", ".pyo")

# why an entry was left out (a catalog key each: contents.<why>)
LINK, SPECIAL, LARGE = "link", "special", "large"


def tool_made(name: str, is_dir: bool) -> bool:
    """A file or folder some tool made, not the student: never part of a submission."""
    if is_dir:
        return name in TOOL_DIRS
    return name in TOOL_FILES or name.startswith("._") or name.endswith(BYTECODE)


@dataclass(frozen=True)
class Entry:
    rel: str  # the path inside the submission, with "/"
    size: int


@dataclass
class Contents:
    """A submission as one walk saw it."""

    root: Path
    files: list[Entry] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str, int]] = field(default_factory=list)  # (rel, why, size)
    total: int = 0
    over: Optional[str] = None  # "size" | "entries": too much to run

    def file(self, rel: str) -> Optional[Entry]:
        return next((e for e in self.files if e.rel == rel), None)

    def kind(self, rel: str) -> Optional[str]:
        """What `rel` is in the submission: "file", "folder", a left-out reason, or None (absent)."""
        if self.file(rel) is not None:
            return "file"
        if rel in self.folders:
            return "folder"
        return next((why for r, why, _ in self.left_out if r == rel), None)

    def largest(self) -> Optional[Entry]:
        return max(self.files, key=lambda e: (e.size, e.rel), default=None)


def _scan(folder: Path) -> list[os.DirEntry]:
    """A folder's entries by name; never more than MAX_ENTRIES + 1 are listed (a million-file
    folder is over the limit after that many, whatever the rest holds)."""
    try:
        with os.scandir(folder) as it:
            return sorted(itertools.islice(it, MAX_ENTRIES + 1), key=lambda e: e.name)
    except OSError:
        return []


def walk(root: Path) -> Contents:
    """The submission under `root`: every entry judged by its lstat, nothing opened."""
    root = Path(root)
    out = Contents(root)
    seen = 0
    todo = [""]
    while todo:
        prefix = todo.pop(0)
        for entry in _scan(root / prefix if prefix else root):
            seen += 1
            if seen > MAX_ENTRIES:
                out.over = "entries"
                return out
            rel = f"{prefix}{entry.name}"
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                out.left_out.append((rel, LINK, 0))
            elif stat.S_ISDIR(info.st_mode):
                if not tool_made(entry.name, True):
                    out.folders.append(rel)
                    todo.append(rel + "/")
            elif not stat.S_ISREG(info.st_mode):
                out.left_out.append((rel, SPECIAL, 0))
            elif tool_made(entry.name, False):
                continue
            elif info.st_size > FILE_CAP:
                out.left_out.append((rel, LARGE, info.st_size))
            else:
                out.files.append(Entry(rel, info.st_size))
                out.total += info.st_size
    if out.total > TOTAL_CAP:
        out.over = "size"
    return out


def digest(contents: Contents) -> str:
    """A hash of everything a run of this submission sees (and of what was left out, by name)."""
    h = hashlib.sha256()
    h.update(f"over={contents.over}\n".encode())
    for rel in contents.folders:
        h.update(b"D" + rel.encode("utf-8", "surrogateescape") + b"\0")
    for e in contents.files:
        h.update(b"F" + e.rel.encode("utf-8", "surrogateescape") + f"\0{e.size}\0".encode())
        data = read_bounded(contents.root / e.rel, e.size)
        h.update(b"unreadable" if data is None else data)
        h.update(b"\0")
    for rel, why, size in contents.left_out:
        h.update(f"X{why}:{size}:".encode() + rel.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def copy_into(contents: Contents, dest: Path) -> None:
    """The kept folders and files, copied to `dest` (which must not exist), each read bounded."""
    if contents.over:
        raise ValueError(f"the submission is over its {contents.over} limit")
    dest = Path(dest)
    dest.mkdir()
    for rel in contents.folders:
        (dest / rel).mkdir(exist_ok=True)
    for e in contents.files:
        copy_bounded(contents.root / e.rel, dest / e.rel, e.size)


# -- what the student is told ------------------------------------------------------------------

def problem(contents: Contents, filename: str, support: Sequence[str], lang: str) -> Optional[str]:
    """Why a stage cannot run on this submission, as the student's verdict, or None.

    The submission is over its limits; the stage file (or its notebook) is a folder, a link, not
    a regular file, or too large; or a support file the course puts in the run (``layers.py``)
    is taken by a folder of the student's."""
    if contents.over == "entries":
        return t(lang, "contents.too_many", n=MAX_ENTRIES)
    if contents.over == "size":
        big = contents.largest()
        return t(lang, "contents.too_large", total=size_text(contents.total), largest=big.rel,
                 size=size_text(big.size), cap=size_text(TOTAL_CAP))
    for name in (filename, Path(filename).stem + ".ipynb"):
        kind = contents.kind(name)
        if kind == "folder" and name == filename:
            return t(lang, "contents.stage_folder", file=name)
        if kind in (LINK, SPECIAL, LARGE):
            size = next(s for r, _, s in contents.left_out if r == name)
            return t(lang, f"contents.stage_{kind}", file=name, size=size_text(size), cap=size_text(FILE_CAP))
    for name in support:
        if contents.kind(name) not in (None, "file"):
            return t(lang, "contents.support_taken", file=name)
    return None


def notes(contents: Contents, lang: str) -> list[str]:
    """What was left out of the runs, one note each (NOTES_KEPT at most, then how many more)."""
    out = [t(lang, f"contents.left_out.{why}", file=rel, size=size_text(size), cap=size_text(FILE_CAP))
           for rel, why, size in contents.left_out]
    if len(out) > NOTES_KEPT:
        out = out[:NOTES_KEPT] + [t(lang, "note_more", n=f"{len(out) - NOTES_KEPT:,}")]
    return out


class Submission:
    """A submission being graded: its folder, its one walk, and each stage file read once
    (a notebook serving three stages is parsed once, not three times nor once per run)."""

    def __init__(self, folder: Path, contents: Optional[Contents] = None,
                 handed_in: Optional[dict[str, str]] = None):
        self.folder = Path(folder)
        self.contents = contents if contents is not None else walk(self.folder)
        self.handed_in = dict(handed_in or {})
        self._sources: dict[str, Optional[Source]] = {}
        self._lock = threading.Lock()

    def source(self, filename: str) -> Optional[Source]:
        with self._lock:  # the stages of one file wait for its one reading
            if filename not in self._sources:
                self._sources[filename] = read_source(self.folder, filename, self.handed_in)
            return self._sources[filename]
