"""Safe unpacking of student zip files and locating the folder to grade.

A student's zip is untrusted. `safe_unzip` refuses, with a reason an instructor can read,
any archive that would write outside its target (absolute paths, drive letters, `..`),
that holds symbolic links, devices or encrypted members, or that is too big (member count,
total and per-file uncompressed size, checked against what is really inflated, not only
what the archive declares). Junk that archivers add (`__MACOSX/`, `.DS_Store`,
`Thumbs.db`) is skipped. A zip whose content is one top-level folder is unwrapped.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

from grader.limits import PLATFORM
from grader.sources import find_source

__all__ = ["UnpackError", "ZipCaps", "safe_unzip", "find_submission_root", "is_junk"]

JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__", ".git", ".ipynb_checkpoints"}
JUNK_DIRS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints", ".idea", ".vscode"}


class UnpackError(Exception):
    """A zip that cannot be unpacked safely; str(e) is the reason shown to the instructor."""


@dataclass(frozen=True)
class ZipCaps:
    """How much one zip may unpack to; a student's zip: the platform's caps (grader/caps.py)."""

    max_members: int = PLATFORM.zip_members
    max_file_bytes: int = PLATFORM.zip_file_bytes
    max_total_bytes: int = PLATFORM.zip_total_bytes


STUDENT_ZIP = ZipCaps()


def is_junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p in JUNK_DIRS for p in parts[:-1]) or (bool(parts) and (
        parts[-1] in JUNK_NAMES or parts[-1] in JUNK_DIRS or parts[-1].startswith("._")))


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name, decoded as its archiver meant it.

    Zips made on Chinese-locale Windows store names in GBK without the UTF-8 flag; Python
    then decodes them as cp437. Try UTF-8, then GBK, before keeping cp437."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            return name
        for enc in ("utf-8", "gbk"):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError:
                pass
    return name


def _safe_parts(name: str) -> tuple[str, ...]:
    """The path parts of a member name, or UnpackError when it could escape the target."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) >= 2 and norm[1] == ":"):
        raise UnpackError(f"member {name!r} has an absolute path")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise UnpackError(f"member {name!r} escapes the folder ('..')")
    if any("\0" in p or ":" in p for p in parts):
        raise UnpackError(f"member {name!r} has an invalid name")
    return parts


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def safe_unzip(zip_path: Path, dest: Path, caps: ZipCaps = STUDENT_ZIP) -> Path:
    """Unpack `zip_path` into the new folder `dest`; return the folder holding the content.

    On any refusal `dest` is removed and UnpackError raised: an archive is taken whole or
    not at all."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UnpackError(f"not a readable zip file ({e})") from None
    dest.mkdir(parents=True, exist_ok=False)
    try:
        with zf:
            _extract(zf, dest, caps)
    except UnpackError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise UnpackError(f"corrupt zip file ({type(e).__name__}: {e})") from None
    return unwrap_single_folder(dest)


def _check_member(info: zipfile.ZipInfo, name: str, caps: ZipCaps) -> None:
    """Refuse a link, a device, an encrypted or a too large member."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # unix attributes are present
        if stat.S_ISLNK(mode):
            raise UnpackError(f"member {name!r} is a symbolic link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnpackError(f"member {name!r} is not a regular file")
    if info.flag_bits & 0x1:
        raise UnpackError(f"member {name!r} is encrypted")
    if info.file_size > caps.max_file_bytes:
        raise UnpackError(f"member {name!r} is too large when unpacked "
                          f"({_human(info.file_size)} > {_human(caps.max_file_bytes)})")


def _too_much(caps: ZipCaps) -> UnpackError:
    return UnpackError(f"content too large when unpacked (more than {_human(caps.max_total_bytes)})")


def _plan(zf: zipfile.ZipFile, caps: ZipCaps) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The members to unpack, each checked, with their safe path parts."""
    infos = zf.infolist()
    if len(infos) > caps.max_members:
        raise UnpackError(f"too many members ({len(infos)} > {caps.max_members})")
    plan = []
    declared = 0
    for info in infos:
        name = _member_name(info)
        parts = _safe_parts(name)
        if not parts or is_junk("/".join(parts)):
            continue
        _check_member(info, name, caps)
        declared += info.file_size
        if declared > caps.max_total_bytes:
            raise _too_much(caps)
        plan.append((info, parts))
    return plan


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, caps: ZipCaps, total: int) -> int:
    """Inflate one member into `target`, counting what is really inflated (sizes in the
    header can lie); the new total."""
    written = 0
    with zf.open(info) as src, open(target, "xb") as out:
        for chunk in iter(lambda: src.read(1 << 16), b""):
            written += len(chunk)
            total += len(chunk)
            if written > caps.max_file_bytes:
                raise UnpackError(f"member {info.filename!r} is too large when unpacked "
                                  f"(> {_human(caps.max_file_bytes)})")
            if total > caps.max_total_bytes:
                raise _too_much(caps)
            out.write(chunk)
    os.chmod(target, 0o644)
    return total


def _extract(zf: zipfile.ZipFile, dest: Path, caps: ZipCaps) -> None:
    root = dest.resolve()
    total = 0
    for info, parts in _plan(zf, caps):
        target = dest.joinpath(*parts)
        # Belt and braces: the resolved parent must stay inside dest.
        if not str(target.parent.resolve()).startswith(str(root)):
            raise UnpackError(f"member {info.filename!r} escapes the folder")
        if info.is_dir() or info.filename.endswith(("/", "\\")):
            if target.exists() and not target.is_dir():
                raise UnpackError(f"member {info.filename!r} clashes with a file")
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            raise UnpackError(f"member {info.filename!r} appears twice")
        total = _copy(zf, info, target, caps, total)


def _entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not is_junk(p.name)]


def unwrap_single_folder(folder: Path) -> Path:
    """The folder itself, or its only sub-folder (repeatedly) when it holds nothing else."""
    for _ in range(5):
        entries = _entries(folder)
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
            folder = entries[0]
        else:
            break
    return folder


def _only_subfolder(folder: Path) -> Optional[Path]:
    """The one sub-folder of a folder that holds no Python file, else None."""
    entries = _entries(folder)
    subdirs = [p for p in entries if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    has_py = any(p.is_file() and p.suffix == ".py" for p in entries)
    return subdirs[0] if len(subdirs) == 1 and not has_py else None


def find_submission_root(folder: Path, stage_files: set[str] | frozenset[str] = frozenset()) -> Path:
    """The folder to grade inside a student's folder.

    The folder itself when it holds a stage file (found as `grade` finds one: its notebook,
    another case); else its only sub-folder (a repository
    cloned inside, a zip unpacked by hand), followed up to a few levels; else the folder."""
    folder = Path(folder)
    cur = folder
    for _ in range(5):
        if stage_files and any(find_source(cur, f) is not None or (cur / f).is_symlink() for f in stage_files):
            return cur
        sub = _only_subfolder(cur)
        if sub is None:
            break
        cur = sub
    return folder if stage_files else cur
