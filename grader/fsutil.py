"""Files: writing so that a reader never sees half of one (batch outputs, platform results), and
reading a submission's files with their type and size checked first."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Optional, Union


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: Union[str, Path], text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def append_text(path: Optional[Union[str, Path]], text: str) -> None:
    """Append to a file (GitHub's $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY); nothing when no path."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _open_regular(path: Union[str, Path]) -> Optional[int]:
    """A read-only descriptor of a regular file, never blocking nor following a link; else None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the lstat
        os.close(fd)
        return None
    return fd


def copy_bounded(src: Union[str, Path], dst: Union[str, Path], cap: int) -> bool:
    """Copy at most `cap` bytes of the regular file `src` to a new file `dst`; False (and an
    empty `dst`) when `src` is not a regular file any more."""
    fd = _open_regular(src)
    with open(dst, "xb") as out:
        if fd is None:
            return False
        try:
            for chunk in _chunks(fd, cap):
                out.write(chunk)
        except OSError:
            return False
        finally:
            os.close(fd)
    return True


def _chunks(fd: int, cap: int):
    """The file's bytes in chunks of at most 1 MB, never more than `cap` in all."""
    left = cap
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return
        yield chunk
        left -= len(chunk)


def read_bounded(path: Union[str, Path], cap: int) -> Optional[bytes]:
    """At most `cap` bytes of a *regular* file a submission holds, else None.

    A submission is hostile: the file may be a FIFO (an open would block forever), a device,
    a symlink, or a sparse file of 200 GB that uses no disk (reading it whole would take hours
    or exhaust memory). The type is checked from ``lstat`` before anything is opened, the open
    never blocks or follows a link, and the read stops at the cap."""
    fd = _open_regular(path)
    if fd is None:
        return None
    try:
        return b"".join(_chunks(fd, cap))
    except OSError:
        return None
    finally:
        os.close(fd)
