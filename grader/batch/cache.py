"""The batch cache: one file per student keyed by content hashes, so a re-run regrades only
what changed (the student's files, the course, the grader, the seed, stages or language)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from grader.batch.discover import Student
from grader.batch.unpack import is_junk
from grader.fsutil import atomic_write, read_bounded
from grader.sandbox.job import COPY_CAP
from grader.verdict import Report

CACHE_FORMAT = 3  # 3: one report with details, and the student's measured wall time
PACKAGE = Path(__file__).resolve().parent.parent
# Parts of the grader package that only present results: changing them must not
# invalidate cached grades (everything else in the package is hashed).
PRESENTATION = ("batch/", "report/", "platforms/", "templates/", "cli.py", "fsutil.py", "safe_text.py")


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
    if info.st_size > COPY_CAP:  # past the copy cap the run refuses it: its size and time say enough
        h.update(f"large:{info.st_size}:{info.st_mtime_ns}".encode())
        return
    data = read_bounded(p, COPY_CAP)
    h.update(b"unreadable" if data is None else data)


def _hash_tree(root: Path, h: "hashlib._Hash", skip: Callable[[str], bool] = lambda rel: False) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_junk(d) and d not in ("__pycache__",))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if is_junk(rel) or name.endswith((".pyc", ".pyo")) or skip(rel):
                continue
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            _hash_file(p, h)
            h.update(b"\0")


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    _hash_tree(root, h)
    return h.hexdigest()


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "-"


def course_hash(course_root: Path) -> str:
    """The course's content: stage specs, drivers, support files, reference, a kit's frozen values and seed."""
    h = hashlib.sha256()
    for sub in ("stages", "reference", "frozen"):  # frozen/: a student kit's expected values
        if (course_root / sub).is_dir():
            h.update(sub.encode() + b"\0")
            _hash_tree(course_root / sub, h)
    if (course_root / "kit.json").is_file():  # a student kit's release seed replaces `seed`
        h.update(b"kit\0" + (course_root / "kit.json").read_bytes())
    return h.hexdigest()


def grader_hash() -> str:
    """The grading code (not its presentation) and the Python, numpy and torch it runs on."""
    h = hashlib.sha256()
    h.update(f"python={sys.version_info[:3]} numpy={_dist_version('numpy')} torch={_dist_version('torch')}\n".encode())
    _hash_tree(PACKAGE, h, skip=lambda rel: rel.startswith(PRESENTATION) or rel.startswith("_course/"))
    return h.hexdigest()


def environment_key(course_root: Path, seed: int, stages: Optional[Sequence[int]], lang: str) -> str:
    """What every student's cache key shares: course, grader, seed, stages, language."""
    h = hashlib.sha256()
    h.update(f"format={CACHE_FORMAT}\nseed={seed}\nstages={list(stages) if stages else '*'}\nlang={lang}\n".encode())
    h.update(f"course={course_hash(course_root)}\ngrader={grader_hash()}\n".encode())
    return h.hexdigest()


def student_key(env_key: str, root: Path) -> str:
    return hashlib.sha256(f"{env_key}:{tree_hash(root)}".encode()).hexdigest()


def json_default(o: Any) -> Any:
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def cache_get(cache_dir: Path, st: Student) -> Optional[tuple[Report, float]]:
    """The student's cached report (parsed once, here) and how long its grading took."""
    try:
        data = json.loads((cache_dir / f"{st.file_id}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != st.key or not isinstance(data.get("report"), dict):
        return None
    return Report.from_dict(data["report"]), seconds(data.get("wall_s"))


def seconds(x: Any) -> float:
    """A time read back from a file or a worker: a finite, non-negative number of seconds, else 0."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not 0 <= x <= 1e7:
        return 0.0
    return float(x)


def cache_put(cache_dir: Path, st: Student, report: Report, wall_s: float) -> None:
    """Write the student's report (with details) and its grading time: serialised once, here."""
    try:
        atomic_write(cache_dir / f"{st.file_id}.json",
                     json.dumps({"key": st.key, "id": st.id, "wall_s": round(wall_s, 3),
                                 "report": report.to_dict(details=True)}, default=json_default))
    except (OSError, TypeError, ValueError):
        pass


def load_state(out: Path) -> dict:
    try:
        return json.loads((out / ".cache" / "state.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def save_state(out: Path, seed: int, lang: str) -> None:
    atomic_write(out / ".cache" / "state.json", json.dumps({"seed": seed, "lang": lang}))
