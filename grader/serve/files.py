"""A stored submission as a folder the engine grades: one stage file, a notebook, or a zip.

The zip rules are the batch's (grader.batch.unpack: member count, sizes, no links or
escapes); an upload is checked with them when it arrives and unpacked with them again by
the worker."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from grader.batch.unpack import UnpackError, find_submission_root, safe_unzip
from grader.errors import UsageError
from grader.limits import PLATFORM
from grader.messages import t

MAX_UPLOAD_BYTES = PLATFORM.zip_file_bytes  # one uploaded file: the cap of one file from a student's zip
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")


def clean_name(filename: str) -> str:
    """The upload's base name, without folders or odd characters."""
    base = Path(str(filename).replace("\\", "/")).name
    return SAFE_NAME.sub("_", base)[:200] or "upload"


def problem(filename: str, content: bytes, stage_files: list[str], lang: str) -> Optional[str]:
    """Why this upload cannot be graded (too big, a bad zip, not a stage file), or None."""
    if len(content) > MAX_UPLOAD_BYTES:
        return t(lang, "serve.too_big", limit=MAX_UPLOAD_BYTES // 2**20)
    if filename.lower().endswith(".zip"):
        with tempfile.TemporaryDirectory(prefix="grade-serve-check-") as tmp:
            try:
                _unzip(content, Path(tmp))
            except UnpackError as exc:
                return t(lang, "serve.bad_zip", why=str(exc))
        return None
    if not filename.lower().endswith((".py", ".ipynb")):
        return t(lang, "serve.not_stage_file", files=", ".join(sorted(set(stage_files))))
    return None


def _unzip(content: bytes, tmp: Path) -> Path:
    archive = tmp / "upload.zip"
    archive.write_bytes(content)
    return safe_unzip(archive, tmp / "unzipped")


def place(grader, filename: str, content: bytes, stage: int, tmp: Path) -> Path:
    """The folder to grade, inside `tmp`. UsageError/UnpackError say why there is none."""
    from grader.sources import single_file_name

    if filename.lower().endswith(".zip"):
        root = _unzip(content, tmp)
        return find_submission_root(root, frozenset(s.file for s in grader.course.stages))
    source = tmp / "upload" / filename
    source.parent.mkdir()
    source.write_bytes(content)
    expected = [s.file for s in grader.course.stages if s.number == stage]
    name = single_file_name(source, expected)  # activation.ipynb, Activation.py... -> activation.py
    if name is None:
        raise UsageError(t(grader.lang, "cli.not_stage_file", path=filename, files=", ".join(expected)))
    folder = tmp / "folder"
    folder.mkdir()
    shutil.copyfile(source, folder / name)
    return folder
