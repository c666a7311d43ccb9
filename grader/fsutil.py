"""Writing files so that a reader never sees half of one: batch outputs, platform results."""

from __future__ import annotations

import os
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
