"""The reference's records on disk, once per (course, stage, seed), shared by every grading
process of this user on the machine (a batch's re-runs, the cluster's local workers).

The key is a hash of everything the records depend on: the stage's spec file and the cases
asked for (keys, calls, seeds, known mistakes), every file of
the course's reference, the driver's source, the support and stand-in files, the seed, the
grader's sandbox program and case generator, and the versions of Python, numpy, torch and
sympy. The records are the reference's values and known-mistake values (the format of a
student kit's `frozen/`, grader/course/kit.py), read back with the same checked parser.

The folder holds answers: it is private (mode 0700, owned by this user; one planted by
someone else is passed over), and no sandbox can see it (it lives in the runs folder, or
under `$GRADE_REFERENCE_CACHE`, which a shared cluster disk may name). `GRADE_REFERENCE_CACHE=off`
turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from grader.course.kit import read_frozen, write_frozen

_DEPENDS = ("sandbox/child.py", "course/inputs.py", "course/kit.py")
KEEP = 256  # entries kept (one per stage, seed and version of the course); the oldest go first


def folder() -> Optional[Path]:
    """The cache folder (made private if need be), or None when it is off or cannot be trusted."""
    setting = os.environ.get("GRADE_REFERENCE_CACHE", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        path = Path(setting)
    else:
        from grader.sandbox.isolation import runs_folder

        path = runs_folder() / "reference-cache"
    try:
        path.mkdir(mode=0o700, parents=bool(setting), exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    private = stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
    return path if private else None


def key(spec: Any, job: Any) -> str:
    """What the reference's records of this stage and seed depend on, hashed."""
    from grader import PACKAGE_DIR

    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + len(data).to_bytes(8, "big") + data)

    add("spec", spec.path.read_bytes() if spec.path else repr(spec).encode())
    # the cases asked for (a student kit's release asks the public ones only, from the same file)
    add("cases", json.dumps([{k: v for k, v in c.items() if k != "inputs"} for c in job.cases],
                            sort_keys=True, default=str).encode())
    for path in sorted(p for p in Path(job.source).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        add("reference:" + path.relative_to(job.source).as_posix(), path.read_bytes())
    add("driver", (job.driver_source or "").encode())
    for path in job.support:
        add("support:" + path.name, path.read_bytes())
    for name in _DEPENDS:
        add("grader:" + name, (PACKAGE_DIR / name).read_bytes())
    add("seed", str(job.seed).encode())
    add("versions", " ".join([sys.version, *(_version(m) for m in ("numpy", "torch", "sympy"))]).encode())
    return h.hexdigest()[:32]


def _version(module: str) -> str:
    from importlib import metadata

    try:
        return f"{module}={metadata.version(module)}"
    except metadata.PackageNotFoundError:
        return f"{module}=-"


def get(cache: Path, slug: str, digest: str, keys: list[str]) -> Optional[dict[str, dict]]:
    """The stored records, when every key the draws need is there."""
    here = cache / digest
    if not (here / f"{slug}.jsonl").is_file():
        return None
    records = read_frozen(here, slug)
    return records if all(k in records for k in keys) else None


def put(cache: Path, slug: str, digest: str, records: dict[str, dict]) -> None:
    """Store the records (written aside, then moved in place at once: a reader never sees half);
    an entry that could not be read (damaged) is replaced."""
    tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=cache))
    try:
        write_frozen(tmp, slug, {k: r for k, r in records.items() if "value" in r})
        shutil.rmtree(cache / digest, ignore_errors=True)
        os.rename(tmp, cache / digest)
    except OSError:  # another process stored it first
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(cache)


def _prune(cache: Path) -> None:
    try:
        entries = sorted((p.stat().st_mtime, p) for p in cache.iterdir() if not p.name.startswith("."))
    except OSError:
        return
    for _, path in entries[:max(0, len(entries) - KEEP)]:
        shutil.rmtree(path, ignore_errors=True)
