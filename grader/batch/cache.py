"""The batch cache: one file per student keyed by content hashes, so a re-run regrades only
what changed (the student's files, the course, the grader, the seed, stages or language)."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from grader.batch.discover import Student
from grader.contents import Contents, digest, walk
from grader.course.digest import course_hash, hash_tree
from grader.fsutil import atomic_write
from grader.verdict import Report

CACHE_FORMAT = 4  # 4: a submission hashed as grader/contents.py walks it; one report with details and its wall time
PACKAGE = Path(__file__).resolve().parent.parent
# Parts of the grader package that only present results: changing them must not
# invalidate cached grades (everything else in the package is hashed).
PRESENTATION = ("batch/", "report/", "platforms/", "templates/", "cli.py", "fsutil.py", "safe_text.py")


def tree_hash(root: Path, contents: Optional[Contents] = None) -> str:
    """A submission's hash: what one walk of it keeps, the files a run sees (grader/contents.py)."""
    return digest(contents if contents is not None else walk(root))


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "-"


def grader_hash() -> str:
    """The grading code (not its presentation) and the Python, numpy and torch it runs on."""
    h = hashlib.sha256()
    h.update(f"python={sys.version_info[:3]} numpy={_dist_version('numpy')} torch={_dist_version('torch')}\n".encode())
    hash_tree(PACKAGE, h, skip=lambda rel: rel.startswith(PRESENTATION) or rel.startswith("_course/"))
    return h.hexdigest()


def environment_key(course_root: Path, seed: int, stages: Optional[Sequence[int]], lang: str) -> str:
    """What every student's cache key shares: course, grader, seed, stages, language."""
    h = hashlib.sha256()
    h.update(f"format={CACHE_FORMAT}\nseed={seed}\nstages={list(stages) if stages else '*'}\nlang={lang}\n".encode())
    h.update(f"course={course_hash(course_root)}\ngrader={grader_hash()}\n".encode())
    return h.hexdigest()


def student_key(env_key: str, root: Path, contents: Optional[Contents] = None) -> str:
    return hashlib.sha256(f"{env_key}:{tree_hash(root, contents)}".encode()).hexdigest()


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
