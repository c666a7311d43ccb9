"""`grade batch CLASS_DIR`: grade a whole class, write a gradebook and a class overview.

CLASS_DIR holds one entry per student: a folder (as GitHub Classroom's assistant, an LMS
export or a plain copy leaves it) or a `.zip` file (unpacked safely, see `grader.unpack`).
Students are graded in parallel by one shared `Grader` (so the whole class shares one
seed and the reference's expected values are computed once). Every student gets a row,
whatever their code does; Ctrl-C keeps what finished.

Outputs in --out: gradebook.csv, gradebook.json, students/<id>.html, index.html, and
.cache/ (one file per student, keyed by content hashes, so a re-run regrades only what
changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import re
import sys
import tempfile
import threading
import time
import traceback
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TextIO

from grader.unpack import Limits, UnpackError, find_submission_root, is_junk, safe_unzip

__all__ = ["register", "run", "main", "run_batch", "BatchResult", "Student"]

CACHE_FORMAT = 1
# Modules of the grader package that only present results: changing them must not
# invalidate cached grades (everything else in the package is hashed).
PRESENTATION_FILES = {"batch.py", "gradebook.py", "overview.py", "unpack.py", "cli.py",
                      "report_html.py", "overview.html.j2", "report.html.j2"}
LMS_SUFFIXES = ("_assignsubmission_file_", "_assignsubmission_onlinetext_", "_assignsubmission_file")

# A whole class's archive: many students, each with their own (checked) zip inside.
CLASS_ZIP_LIMITS = Limits(max_members=100_000, max_file_bytes=200 * 1024 * 1024, max_total_bytes=4 * 1024**3)

STATUS_GRADED = "graded"
STATUS_ERROR = "error"
STATUS_NOT_GRADED = "not graded"


# --------------------------------------------------------------------------- discovery

@dataclass
class Student:
    id: str                    # shown in the gradebook
    file_id: str               # safe file name stem: students/<file_id>.html, .cache/<file_id>.json
    source: Path               # the folder or zip in CLASS_DIR
    kind: str                  # "folder" | "zip"
    root: Optional[Path] = None  # the folder that is graded
    error: Optional[str] = None  # why it cannot be graded (unpack failure, ...)
    key: Optional[str] = None    # cache key


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


def discover(class_dir: Path, exclude: Sequence[Path] = ()) -> tuple[list[Student], list[str]]:
    """The students of `class_dir` (sorted by id) and notes about entries that were skipped."""
    excl = {p.resolve() for p in exclude}
    students, notes = [], []
    entries = sorted(class_dir.iterdir(), key=lambda p: p.name.lower())
    seen_ids: dict[str, Path] = {}
    taken: set[str] = set()
    for entry in entries:
        if entry.name.startswith(".") or is_junk(entry.name) or entry.resolve() in excl:
            continue
        if entry.is_symlink():
            notes.append(f"skipped {entry.name}: a symbolic link")
            continue
        if entry.is_dir():
            kind = "folder"
        elif entry.is_file() and entry.name.lower().endswith(".zip"):
            kind = "zip"
        else:
            notes.append(f"skipped {entry.name}: not a folder or a .zip file")
            continue
        sid = _student_id(entry)
        if sid.lower() in seen_ids:
            sid = entry.name  # folder "alice" and "alice.zip": keep both, told apart
        seen_ids[sid.lower()] = entry
        students.append(Student(id=sid, file_id=_file_id(sid, taken), source=entry, kind=kind))
    return students, notes


def prepare(student: Student, unpack_dir: Path, stage_files: frozenset[str]) -> None:
    """Unpack (zips), locate the folder to grade, refuse symlinked stage files."""
    def unzip(zp: Path) -> Path:
        try:
            return safe_unzip(zp, unpack_dir / student.file_id)
        except UnpackError as e:
            raise UnpackError(f"unpack failed: {e}") from None

    try:
        if student.kind == "zip":
            root = unzip(student.source)
        else:
            root = student.source
            # An LMS export may hold the student's zip inside their folder.
            entries = [p for p in root.iterdir() if not is_junk(p.name) and not p.name.startswith(".")]
            zips = [p for p in entries if p.is_file() and p.suffix.lower() == ".zip"]
            has_stage = any((root / f).exists() for f in stage_files)
            if len(zips) == 1 and not has_stage and not any(p.is_dir() for p in entries):
                root = unzip(zips[0])
        unpacked = unpack_dir / student.file_id
        base = (unpacked if unpacked.exists() else student.source).resolve()
        root = find_submission_root(root, stage_files)
        for f in sorted(stage_files):
            p = root / f
            if p.is_symlink():
                raise UnpackError(f"{f} is a symbolic link; submit the file itself")
            if p.exists() and base not in p.resolve().parents:
                raise UnpackError(f"{f} lies outside the student's folder")
        student.root = root
    except UnpackError as e:
        student.error = str(e)
    except OSError as e:
        student.error = f"cannot read the submission: {e}"


# --------------------------------------------------------------------------- hashing

def _hash_tree(root: Path, h: "hashlib._Hash", skip: Callable[[str], bool] = lambda rel: False) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_junk(d) and d not in ("__pycache__",))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if is_junk(rel) or name.endswith((".pyc", ".pyo")) or skip(rel):
                continue
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            if p.is_symlink():
                h.update(b"L" + os.readlink(p).encode("utf-8", "surrogateescape"))
            else:
                try:
                    with open(p, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                except OSError as e:
                    h.update(f"unreadable:{e}".encode())
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


def environment_key(course_root: Path, seed: int, stages: Optional[Sequence[int]], lang: str,
                    fork_server: bool = True) -> str:
    """What every student's cache key shares: course, grader, seed, stages, language."""
    h = hashlib.sha256()
    h.update(f"format={CACHE_FORMAT}\nseed={seed}\nstages={list(stages) if stages else '*'}\nlang={lang}\n".encode())
    h.update(f"python={sys.version_info[:3]} numpy={_dist_version('numpy')} torch={_dist_version('torch')}\n".encode())
    h.update(b"course\0")
    for sub in ("stages", "reference"):
        if (course_root / sub).is_dir():
            h.update(sub.encode() + b"\0")
            _hash_tree(course_root / sub, h)
    h.update(b"grader\0")
    pkg = Path(__file__).resolve().parent
    _hash_tree(pkg, h, skip=lambda rel: rel.split("/")[-1] in PRESENTATION_FILES or rel.startswith("_course/"))
    return h.hexdigest()


# --------------------------------------------------------------------------- results

def summarize(report: dict, stage_max: dict[int, float]) -> dict:
    """Row fields from a report dict: per-stage scores, total, status and reason."""
    scores: dict[int, Optional[float]] = {n: None for n in stage_max}
    errors: list[tuple[str, str]] = []
    run_s = duration_s = 0.0
    for st in report.get("stages", []):
        n = st.get("number")
        if n in scores or not stage_max:
            scores[n] = _num(st.get("score", 0) or 0)
        duration_s += float(st.get("duration_s") or 0)
        run_s += float(st.get("run_s") or 0)
        label = f"{n} {st.get('slug', '')}".strip()
        if st.get("status") == "error":
            errors.append((label, _one_line(st.get("message") or "error")))
            continue
        for c in st.get("cases", []):
            if c.get("status") == "timeout":
                errors.append((label, _one_line(c.get("message") or f"case {c.get('name')} timed out")))
                break
    total = sum(v for v in scores.values() if v)
    if not report.get("stages"):
        status, reason = STATUS_NOT_GRADED, "no stage files found"
    elif errors:
        status, reason = STATUS_ERROR, _group_errors(errors)
    else:
        status, reason = STATUS_GRADED, ""
    return {"scores": scores, "total": _num(total), "status": status, "reason": reason,
            "duration_s": round(duration_s, 3), "run_s": round(run_s, 3)}


def _group_errors(errors: list[tuple[str, str]]) -> str:
    groups: dict[str, list[str]] = {}
    for label, msg in errors:
        groups.setdefault(msg, []).append(label)
    parts = [f"stage {', '.join(labels)}: {msg}" for msg, labels in groups.items()]
    return _one_line("; ".join(parts), 240)


_ZH_REASONS = [
    (re.compile(r"^unpack failed: "), "解压失败:"),
    (re.compile(r"^grader failed to start: "), "评分器无法启动:"),
    (re.compile(r"^grader failed: "), "评分器出错:"),
    (re.compile(r"^cannot read the submission: "), "无法读取提交:"),
    (re.compile(r"^interrupted$"), "已中断"),
    (re.compile(r"^not graded$"), "未评分"),
    (re.compile(r"^no stage files found \(expected (.*)\)$"), r"未找到任何关卡文件(应为 \1)"),
    (re.compile(r"^(\S+) is a symbolic link; submit the file itself$"), r"\1 是符号链接;请提交文件本身"),
    (re.compile(r"^(\S+) lies outside the student's folder$"), r"\1 位于学生文件夹之外"),
    (re.compile(r"^grader did not finish within (\d+) s$"), r"评分器在 \1 秒内未完成"),
    (re.compile(r"(^|; )stage "), r"\1关卡 "),
]


def localize_reason(reason: str, lang: str) -> str:
    """The batch's own reasons in the report language (the engine's are already)."""
    if lang != "zh" or not reason:
        return reason
    for pattern, repl in _ZH_REASONS:
        reason = pattern.sub(repl, reason)
    return reason


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(x: float) -> float | int:
    x = round(float(x), 4)
    return int(x) if x == int(x) else x


@dataclass
class BatchResult:
    rows: list[dict]
    out_dir: Path
    interrupted: bool = False
    graded: int = 0            # graded in this run
    cached: int = 0            # taken from the cache
    seed: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- progress

class Progress:
    """A progress bar on a tty (students done/total, failures, ETA); plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool = False):
        self.total, self.stream, self.quiet = total, stream, quiet
        self.tty = bool(getattr(stream, "isatty", lambda: False)()) and not quiet
        self.done = self.failures = self.cached = self.not_graded = 0
        self.start = time.monotonic()
        self.graded_done = 0
        self.to_grade = total
        self._last = 0.0

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.tty:
            self._bar(force=True)

    def student(self, row: dict, cached: bool) -> None:
        self.done += 1
        if row["status"] == STATUS_ERROR:
            self.failures += 1
        elif row["status"] == STATUS_NOT_GRADED:
            self.not_graded += 1
        if cached:
            self.cached += 1
        else:
            self.graded_done += 1
        if self.quiet:
            return
        if self.tty:
            if row["status"] != STATUS_GRADED:  # problems scroll above the bar
                self.stream.write(f"\r\x1b[K{row['id']}: {row['status']} - {row['reason']}\n")
            self._bar(force=True)
        else:
            w = len(str(self.total))
            extra = " (cached)" if cached else f" ({row.get('duration_s', 0):.1f} s)"
            reason = f" - {row['reason']}" if row.get("reason") else ""
            self.stream.write(f"[{self.done:>{w}}/{self.total}] {row['id']}: {row['total']}/{row['max']} "
                              f"{row['status']}{extra}{reason}\n")
            self.stream.flush()

    def tick(self) -> None:
        if self.tty and time.monotonic() - self._last > 0.5:
            self._bar()

    def _eta(self) -> str:
        left = self.total - self.done
        if left == 0:
            return "0:00"
        if self.graded_done == 0:
            return "--:--"
        el = time.monotonic() - self.start
        s = int(el / self.graded_done * left)
        return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def _bar(self, force: bool = False) -> None:
        self._last = time.monotonic()
        width = 28
        frac = self.done / self.total if self.total else 1.0
        filled = int(width * frac)
        bar = "█" * filled + "░" * (width - filled)
        el = int(time.monotonic() - self.start)
        ng = f"  not graded {self.not_graded}" if self.not_graded else ""
        self.stream.write(f"\r\x1b[Kgrading {bar} {self.done}/{self.total}  failures {self.failures}{ng}"
                          f"  elapsed {el // 60}:{el % 60:02d}  ETA {self._eta()}")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- grading

def _grade_worker(grader: Any, jobs: "queue.Queue[Optional[Student]]", results: "queue.Queue",
                  stages: Optional[list[int]], files: dict[int, str], stop: threading.Event) -> None:
    while not stop.is_set():
        student = jobs.get()
        if student is None or stop.is_set():
            return
        results.put(("start", student, time.monotonic()))
        try:
            root = Path(student.root)
            chosen = stages
            if stages is not None:
                # Only the asked-for stages the student submitted: a missing file is a
                # blank cell, not an error.
                chosen = [n for n in stages if (root / files[n]).is_file()]
            if chosen == []:
                payload = {"report": {"submission": str(root), "stages": []}, "details": None}
            else:
                report = grader.grade(root, stages=chosen)
                payload = {"report": report.to_dict(), "details": report.to_dict(details=True)}
            results.put(("done", student, payload))
        except BaseException as e:  # an engine failure must not lose the student
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            results.put(("crash", student, _one_line(f"grader failed: {tb}")))


def _default_out(class_dir: Path) -> Path:
    parent = class_dir.resolve().parent
    if os.access(parent, os.W_OK):
        return parent / "grades"
    return Path.cwd() / "grades"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _atomic_write(path: Path, text: str, encoding: str = "utf-8") -> None:
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


def _load_state(out: Path) -> dict:
    try:
        return json.loads((out / ".cache" / "state.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def run_batch(class_dir: Path, out: Optional[Path] = None, *, stages: Sequence[str] = (),
              jobs: Optional[int] = None, force: bool = False, seed: Optional[int] = None,
              lang: str = "en", course_dir: Optional[Path] = None, fork_server: bool = True,
              stream: Optional[TextIO] = None, quiet: bool = False,
              student_timeout_s: Optional[float] = None,
              grader_factory: Optional[Callable[..., Any]] = None) -> BatchResult:
    """Grade every student of `class_dir`; write the outputs; return the rows.

    Raises ValueError for a bad class folder or stage. KeyboardInterrupt is caught: what
    finished is kept and written, the rest is listed as not graded (result.interrupted)."""
    from grader.course import load_course

    t0 = time.monotonic()
    stream = stream if stream is not None else sys.stderr
    class_dir = Path(class_dir)
    class_zip = None
    if class_dir.is_file() and class_dir.suffix.lower() == ".zip":
        class_zip = class_dir  # an LMS's "download all submissions" archive
    elif not class_dir.is_dir():
        raise ValueError(f"{class_dir}: not a folder (or a .zip of the class)")
    course = load_course(course_dir)
    out = Path(out) if out else _default_out(class_dir)
    selected = []
    for ref in stages:
        for part in str(ref).split(","):
            if part.strip():
                try:
                    spec = course.find(part.strip())
                except KeyError as e:
                    raise ValueError(e.args[0]) from None
                if spec not in selected:
                    selected.append(spec)
    stage_numbers = sorted(s.number for s in selected) or None
    jobs = max(1, int(jobs or os.cpu_count() or 1))

    out.mkdir(parents=True, exist_ok=True)
    cache_dir = out / ".cache"
    cache_dir.mkdir(exist_ok=True)
    state = _load_state(out)
    if seed is None:
        seed = state.get("seed") if isinstance(state.get("seed"), int) else random.randrange(1, 2**31)
    env_key = environment_key(course.root, seed, stage_numbers, lang, fork_server)

    class_tmp = None
    if class_zip is not None:
        class_tmp = tempfile.TemporaryDirectory(prefix="grade-class-")
        try:
            class_dir = safe_unzip(class_zip, Path(class_tmp.name) / "class", CLASS_ZIP_LIMITS)
        except UnpackError as e:
            class_tmp.cleanup()
            raise ValueError(f"{class_zip}: cannot unpack the class archive: {e}") from None
    try:
        return _run(class_dir, out, cache_dir, course, selected, stage_numbers, jobs, force, seed, lang,
                    fork_server, stream, quiet, student_timeout_s, grader_factory, env_key, t0)
    finally:
        if class_tmp is not None:
            class_tmp.cleanup()


def _run(class_dir: Path, out: Path, cache_dir: Path, course: Any, selected: list, stage_numbers: Optional[list],
         jobs: int, force: bool, seed: int, lang: str, fork_server: bool, stream: TextIO, quiet: bool,
         student_timeout_s: Optional[float], grader_factory: Optional[Callable[..., Any]], env_key: str,
         t0: float) -> BatchResult:
    students, notes = discover(class_dir, exclude=[out])
    progress = Progress(len(students), stream, quiet=quiet)
    for n in notes:
        progress.note(n)

    considered = selected or list(course.stages)
    stage_files = frozenset(s.file for s in considered)
    all_stage_files = frozenset(s.file for s in course.stages)
    payloads: dict[str, Any] = {}   # file_id -> {"report", "details"} | None
    crash: dict[str, str] = {}
    from_cache: set[str] = set()
    interrupted = False
    graded = 0
    rows_by_id: dict[str, dict] = {}

    with tempfile.TemporaryDirectory(prefix="grade-batch-") as tmp:
        unpack_dir = Path(tmp)
        todo: list[Student] = []
        try:
            for st in students:
                prepare(st, unpack_dir, all_stage_files)
                if st.root is not None:
                    st.key = hashlib.sha256(f"{env_key}:{tree_hash(st.root)}".encode()).hexdigest()
                    if not force:
                        cached = _cache_get(cache_dir, st)
                        if cached is not None:
                            payloads[st.file_id] = cached
                            from_cache.add(st.file_id)
                            continue
                    todo.append(st)
        except KeyboardInterrupt:
            interrupted = True

        # Columns: the stages asked for, else every stage someone submitted.
        if selected:
            columns = sorted(selected, key=lambda s: s.number)
        else:
            present = set()
            for st in students:
                if st.root is not None:
                    present |= {s.number for s in course.stages if (st.root / s.file).is_file()}
            columns = [s for s in course.stages if s.number in present]
        stage_max = {s.number: _num(sum(c.points for c in s.cases)) for s in columns}
        max_total = _num(sum(stage_max.values()))

        def make_row(st: Student) -> dict:
            row = {"id": st.id, "file": st.file_id, "source": st.source.name,
                   "scores": {n: None for n in stage_max}, "total": 0, "max": max_total,
                   "status": STATUS_NOT_GRADED, "reason": "", "duration_s": 0.0, "run_s": 0.0,
                   "cached": st.file_id in from_cache}
            if st.error:
                row.update(status=STATUS_ERROR, reason=st.error)
            elif st.file_id in payloads:
                for part in payloads[st.file_id].values():
                    if isinstance(part, dict):  # the student's own path, not a temporary copy
                        part["submission"] = str(st.source)
                row.update(summarize(payloads[st.file_id]["report"], stage_max))
                if row["status"] == STATUS_NOT_GRADED:
                    row["reason"] = "no stage files found (expected " + ", ".join(sorted(stage_files)) + ")"
                row["max"] = max_total
            elif st.file_id in crash:
                row.update(status=STATUS_ERROR, reason=crash[st.file_id])
            else:
                row["reason"] = "interrupted" if interrupted else "not graded"
            row["reason"] = localize_reason(row["reason"], lang)
            return row

        # Students that need no grading are reported first.
        for st in students:
            if st.error or st.file_id in payloads:
                rows_by_id[st.file_id] = make_row(st)
                progress.student(rows_by_id[st.file_id], cached=st.file_id in from_cache)

        if todo and not interrupted:
            per_student = student_timeout_s or _student_timeout(considered)
            try:
                graded = _grade_all(todo, jobs, stage_numbers, seed, lang, course,
                                    [class_dir.resolve(), out.resolve(), unpack_dir.resolve()], fork_server,
                                    per_student, payloads, crash, cache_dir, progress, make_row,
                                    rows_by_id, grader_factory)
            except KeyboardInterrupt:
                interrupted = True
        progress.finish()

        rows = []
        for st in students:
            if st.file_id not in rows_by_id:
                rows_by_id[st.file_id] = make_row(st)
            rows.append(rows_by_id[st.file_id])

        _atomic_write(cache_dir / "state.json", json.dumps({"seed": seed, "lang": lang}))
        result = BatchResult(rows=rows, out_dir=out, interrupted=interrupted, graded=graded,
                             cached=len(from_cache), seed=seed, notes=notes)
        from grader.gradebook import write_outputs
        write_outputs(out, rows, payloads, course=course, columns=columns, seed=seed, lang=lang,
                      interrupted=interrupted, stream=stream if not quiet else None)
    result.wall_s = time.monotonic() - t0
    return result


def _student_timeout(stages: Sequence[Any]) -> float:
    total = sum(float(getattr(getattr(s, "limits", None), "time_s", 100.0)) for s in stages)
    return max(300.0, 3.0 * total + 60.0)


def _cache_get(cache_dir: Path, st: Student) -> Optional[dict]:
    try:
        data = json.loads((cache_dir / f"{st.file_id}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != st.key or not isinstance(data.get("report"), dict):
        return None
    return {"report": data["report"], "details": data.get("details") or data["report"]}


def _cache_put(cache_dir: Path, st: Student, payload: dict) -> None:
    try:
        _atomic_write(cache_dir / f"{st.file_id}.json",
                      json.dumps({"key": st.key, "id": st.id, **payload}, default=_json_default))
    except (OSError, TypeError, ValueError):
        pass


def _json_default(o: Any) -> Any:
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


def _make_grader(seed: int, lang: str, course: Any, jobs: int, fork_server: bool,
                 forbidden: Sequence[Path] = ()) -> Any:
    from grader.engine import Grader
    # Other students' folders (the class, the unpacked zips, the outputs) must be out of a
    # submission's reach. Never forbid a folder that holds the sandbox's own temp folder.
    tmp = Path(tempfile.gettempdir()).resolve()
    extra = [p for p in forbidden if not (tmp == p or p in tmp.parents)]
    return Grader(course=course, seed=seed, lang=lang, workers=jobs, fork_server=fork_server, forbidden=extra)


def _grade_all(todo: list[Student], jobs: int, stage_numbers: Optional[list[int]], seed: int, lang: str,
               course: Any, forbidden: Sequence[Path], fork_server: bool, per_student_s: float,
               payloads: dict, crash: dict, cache_dir: Path, progress: Progress,
               make_row: Callable[[Student], dict], rows_by_id: dict,
               grader_factory: Optional[Callable[..., Any]]) -> int:
    factory = grader_factory or _make_grader
    try:
        grader = factory(seed, lang, course, min(jobs, len(todo)), fork_server, forbidden)
        enter = getattr(grader, "__enter__", None)
        g = enter() if enter else grader
    except Exception as e:  # the grader cannot start: every student still gets a row
        why = _one_line(f"grader failed to start: {traceback.format_exception_only(type(e), e)[-1].strip()}")
        for st in todo:
            crash[st.file_id] = why
            rows_by_id[st.file_id] = make_row(st)
            progress.student(rows_by_id[st.file_id], cached=False)
        return 0
    files = {s.number: s.file for s in course.stages}
    jobs_q: "queue.Queue[Optional[Student]]" = queue.Queue()
    results: "queue.Queue" = queue.Queue()
    stop = threading.Event()
    # More threads than sandbox workers keep the workers busy while a thread does its
    # bookkeeping; Grader.grade is thread-safe.
    nthreads = min(2 * jobs, len(todo))
    for st in todo:
        jobs_q.put(st)
    threads = []

    def spawn() -> None:
        t = threading.Thread(target=_grade_worker, args=(g, jobs_q, results, stage_numbers, files, stop),
                             daemon=True, name="grade-batch")
        t.start()
        threads.append(t)

    for _ in range(nthreads):
        spawn()
    for _ in range(nthreads):
        jobs_q.put(None)
    started: dict[str, float] = {}
    pending = {st.file_id for st in todo}
    graded = 0
    clean = False
    try:
        while pending:
            try:
                kind, st, value = results.get(timeout=0.2)
            except queue.Empty:
                progress.tick()
                now = time.monotonic()
                for fid, t_start in list(started.items()):
                    if fid in pending and now - t_start > per_student_s:
                        st = next(s for s in todo if s.file_id == fid)
                        crash[fid] = f"grader did not finish within {per_student_s:.0f} s"
                        pending.discard(fid)
                        started.pop(fid, None)
                        rows_by_id[fid] = make_row(st)
                        progress.student(rows_by_id[fid], cached=False)
                        spawn()  # the stuck thread keeps its slot; give the queue a new one
                        jobs_q.put(None)
                continue
            if st.file_id not in pending:
                continue
            if kind == "start":
                started[st.file_id] = value
                continue
            pending.discard(st.file_id)
            started.pop(st.file_id, None)
            if kind == "done":
                payloads[st.file_id] = value
                _cache_put(cache_dir, st, value)
                graded += 1
            else:
                crash[st.file_id] = value
            rows_by_id[st.file_id] = make_row(st)
            progress.student(rows_by_id[st.file_id], cached=False)
        clean = True
    finally:
        stop.set()
        # Drain the queue so idle threads end; running ones end with the grader.
        try:
            while True:
                jobs_q.get_nowait()
        except queue.Empty:
            pass
        for _ in threads:
            jobs_q.put(None)
        exit_ = getattr(grader, "__exit__", None)
        if exit_:
            closer = threading.Thread(target=lambda: _quiet_exit(exit_), daemon=True)
            closer.start()
            closer.join(timeout=60 if clean else 10)
    return graded


def _quiet_exit(exit_: Callable) -> None:
    try:
        exit_(None, None, None)
    except Exception:
        pass


# --------------------------------------------------------------------------- CLI

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("class_dir", metavar="CLASS_DIR", type=Path,
                   help="one sub-folder or .zip file per student (or a .zip of the class)")
    p.add_argument("--stage", action="append", default=[], metavar="STAGE",
                   help="grade only this stage (number or slug; repeat or comma-separate)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: CLASS_DIR/../grades, or ./grades)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="students graded at once (default: one per core)")
    p.add_argument("--force", action="store_true", help="regrade every student, ignoring the cache")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for hidden inputs (default: the previous run's in --out, else random)")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of reports")
    p.add_argument("--course", type=Path, default=None, metavar="DIR", help="course folder")
    p.add_argument("--no-fork-server", dest="fork_server", action="store_false",
                   help="start a fresh Python for every run (slower; for debugging)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="grade even where no sandbox can be built (submissions run unisolated)")


DESCRIPTION = ("Grade a whole class: every sub-folder or .zip file of CLASS_DIR is one student's "
               "submission (CLASS_DIR may also be a .zip of the whole class). Students are graded in "
               "parallel with one shared seed; a re-run regrades only what changed.")
EPILOG = ("outputs in --out: gradebook.csv (one row per student: stage scores, total, max, status, "
          "reason), gradebook.json (the same plus full reports), students/<id>.html, index.html "
          "(class overview), .cache/ (what makes re-runs fast; safe to delete). "
          "Ctrl-C stops and keeps what finished; exit code 130 then.")


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("batch", help="grade a whole class and write a gradebook",
                              description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        print("grade batch: --jobs must be at least 1", file=sys.stderr)
        return 2
    from grader.isolation import isolation
    from grader.messages import t

    available, why = isolation()
    if not available and not getattr(args, "unsafe_no_sandbox", False):
        print(f"grade batch: {t(args.lang, 'no_sandbox_refused', why=why)}", file=sys.stderr)
        return 2
    try:
        res = run_batch(args.class_dir, args.out, stages=args.stage or (), jobs=args.jobs,
                        force=args.force, seed=args.seed, lang=args.lang,
                        course_dir=getattr(args, "course", None),
                        fork_server=getattr(args, "fork_server", True),
                        quiet=getattr(args, "quiet", False))
    except ValueError as e:
        print(f"grade batch: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a broken course (SpecError) is the instructor's to fix
        from grader.spec import SpecError
        if isinstance(e, SpecError):
            print(f"grade batch: {e}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        return 130
    if not getattr(args, "quiet", False):
        n = len(res.rows)
        errs = sum(r["status"] == STATUS_ERROR for r in res.rows)
        ng = sum(r["status"] == STATUS_NOT_GRADED for r in res.rows)
        print(f"{n} students: {res.graded} graded now, {res.cached} unchanged (cached); {errs} with errors, "
              f"{ng} not graded; seed {res.seed} (reused by the next run here); {res.wall_s:.1f} s",
              file=sys.stderr)
        print(f"gradebook: {res.out_dir / 'gradebook.csv'}", file=sys.stderr)
        print(f"overview:  {res.out_dir / 'index.html'}", file=sys.stderr)
        if res.interrupted:
            print("interrupted: students not graded are listed as such; run again to finish "
                  "(finished students are cached)", file=sys.stderr)
    return 130 if res.interrupted else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="grade batch", description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
