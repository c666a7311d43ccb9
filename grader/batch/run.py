"""One batch run: the class's students graded, rows made, outputs written.

`BatchRun` holds what a run shares (course, stages, seed, language, output folder, cache,
progress, the students' results); `run_batch` is the entry point that builds one.
"""

from __future__ import annotations

import os
import random
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, TextIO

from grader.batch import cache
from grader.batch.discover import Student, discover, prepare
from grader.batch.gradebook import ClassResults, student_page, write_outputs
from grader.batch.workers import grade_all, make_grader
from grader.batch.progress import ProgressBar
from grader.batch.complete import complete_report
from grader.batch.rows import STATUS_ERROR, STATUS_NOT_GRADED, STATUS_NOT_HANDED_IN, Reason, num, reason, summarize
from grader.batch.unpack import UnpackError, ZipCaps, safe_unzip
from grader.contents import walk
from grader.course.folder import Course
from grader.course.kit import kit_seed_note
from grader.errors import UnknownStage
from grader.messages import t
from grader.sources import find_source
from grader.verdict import Report

# A whole class's archive: many students, each with their own (checked) zip inside.
CLASS_ZIP = ZipCaps(max_members=100_000, max_file_bytes=200 * 1024 * 1024, max_total_bytes=4 * 1024**3)


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
    profile: dict = field(default_factory=dict)  # where the CPU went (grader.sandbox.Sandbox.stats)


@dataclass
class BatchRun:
    """What one batch run shares, and the students' results as they come in: typed reports,
    from the grader (or the cache) to every output; serialised only where they are written."""

    class_dir: Path
    out: Path
    course: Course
    selected: list              # the stage specs asked for (empty: every stage submitted)
    jobs: int
    seed: int
    lang: str
    force: bool = False
    fork_server: bool = True
    student_timeout_s: float = 0.0
    grader_factory: Callable[..., Any] = make_grader
    grade_many: Optional[Callable[..., Iterable]] = None  # grading elsewhere, e.g. grader.batch.cluster
    progress: Optional[ProgressBar] = None
    forbidden: list[Path] = field(default_factory=list)
    reports: dict[str, Report] = field(default_factory=dict)   # file_id -> the report, with details
    walls: dict[str, float] = field(default_factory=dict)      # file_id -> seconds its grading took
    crash: dict[str, Reason] = field(default_factory=dict)
    from_cache: set[str] = field(default_factory=set)
    rows_by_id: dict[str, dict] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)  # file_id -> its page, made as its grading ends
    columns: list = field(default_factory=list)
    interrupted: bool = False
    similarity: bool = False
    profile: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # said before grading (and kept in the result)

    @property
    def cache_dir(self) -> Path:
        return self.out / ".cache"

    @property
    def stage_numbers(self) -> Optional[list[int]]:
        return sorted(s.number for s in self.selected) or None

    @property
    def stage_max(self) -> dict[int, float]:
        return {s.number: num(sum(c.points for c in s.cases)) for s in self.columns}

    # -- rows -------------------------------------------------------------------------------

    def make_row(self, st: Student) -> dict:
        stage_max = self.stage_max
        max_total = num(sum(stage_max.values()))
        row = {"id": st.id, "file": st.file_id, "source": st.source.name,
               "scores": {n: None for n in stage_max}, "total": 0, "max": max_total,
               "status": STATUS_NOT_HANDED_IN, "fault": "", "reason": "",
               "duration_s": round(self.walls.get(st.file_id, 0.0), 3), "run_s": 0.0,
               "cached": st.file_id in self.from_cache}
        why = st.error or self.crash.get(st.file_id)
        if why is not None:
            row.update(status=STATUS_ERROR, fault=why.fault, reason=why.text(self.lang))
        elif st.file_id in self.reports:
            row.update(summarize(self.reports[st.file_id], stage_max, self.lang), max=max_total)
            if row["status"] == STATUS_NOT_HANDED_IN:
                files = ", ".join(sorted({s.file for s in self.selected or self.course.stages}))
                row["reason"] = reason("batch.no_stage_files", files=files).text(self.lang)
        else:
            why = reason("batch.interrupted" if self.interrupted else "batch.not_graded")
            row.update(status=STATUS_NOT_GRADED, reason=why.text(self.lang))
        return row

    def finish(self, st: Student, report: Optional[Report] = None, crash: Optional[Reason] = None,
               cached: bool = False, wall_s: float = 0.0) -> None:
        """A student's result is in: keep it, make the row, show the progress."""
        if report is not None:
            report.submission = str(st.source)  # the student's own path, not a temporary copy
            self.reports[st.file_id] = report
            self.walls[st.file_id] = wall_s
            if cached:
                self.from_cache.add(st.file_id)
            else:
                cache.cache_put(self.cache_dir, st, report, wall_s)
        if crash is not None:
            self.crash[st.file_id] = crash
        self.rows_by_id[st.file_id] = row = self.make_row(st)
        if report is not None and not cached and self.columns:  # rendered now, beside other students' runs
            self.pages[st.file_id] = student_page(row, complete_report(report, self.columns, self.lang), self.lang)
        self.progress.student(row, cached=cached)

    # -- the run ----------------------------------------------------------------------------

    def _prepare(self, students: list[Student], unpack_dir: Path, env_key: str) -> list[Student]:
        """Unpack and hash every student; those whose result is not cached are returned."""
        todo: list[Student] = []
        stage_files = frozenset(s.file for s in self.course.stages)
        for st in students:
            prepare(st, unpack_dir, stage_files, self._single_file_stages())
            if st.root is None:
                continue
            st.contents = walk(st.root)  # the one walk: the key, every run's copy, the similarity check
            st.key = cache.student_key(env_key, st.root, st.contents)
            found = None if self.force else cache.cache_get(self.cache_dir, st)
            if found is not None:
                self.reports[st.file_id], self.walls[st.file_id] = found
                self.from_cache.add(st.file_id)
            else:
                todo.append(st)
        return todo

    def _single_file_stages(self) -> list[str]:
        """The stage files a lone file handed in may stand for (as `grade FILE --stage ...`)."""
        return [s.file for s in (self.selected or self.course.stages)]

    def _choose_columns(self, students: list[Student]) -> None:
        """Columns: the stages asked for, else every stage someone submitted (found as `grade` finds it)."""
        if self.selected:
            self.columns = sorted(self.selected, key=lambda s: s.number)
            return
        present = set()
        for st in students:
            if st.root is not None:
                present |= {s.number for s in self.course.stages if find_source(st.root, s.file) is not None}
        self.columns = [s for s in self.course.stages if s.number in present]

    def run(self, stream: TextIO, quiet: bool, env_key: str) -> BatchResult:
        students, skipped = discover(self.class_dir, exclude=[self.out], lang=self.lang,
                                     stage_files=[s.file for s in self.course.stages])
        notes = self.notes + skipped
        self.progress = ProgressBar(len(students), stream, quiet=quiet, jobs=self.jobs, lang=self.lang)
        for n in notes:
            self.progress.note(n)
        with tempfile.TemporaryDirectory(prefix="grade-batch-") as tmp:
            unpack_dir = Path(tmp)
            self.forbidden = [self.class_dir.resolve(), self.out.resolve(), unpack_dir.resolve()]
            graded = self._grade(students, unpack_dir, env_key)
            self.progress.finish()
            rows = [self.rows_by_id.get(st.file_id) or self.make_row(st) for st in students]
            cache.save_state(self.out, self.seed, self.lang)
            if self.similarity:  # while the unpacked submissions exist
                from grader.batch.similarity import write_similarity
                files = sorted({s.file for s in self.columns})
                stages = {f: ", ".join(f"{s.number} {s.slug}" for s in self.columns if s.file == f) for f in files}
                write_similarity(self.out, [(st.id, st.contents) for st in students if st.contents is not None],
                                 self.course.template, files, lang=self.lang, stages=stages)
            reports = {fid: complete_report(rep, self.columns, self.lang) for fid, rep in self.reports.items()}
            write_outputs(self.out, ClassResults(rows, reports, self.pages), course=self.course, columns=self.columns,
                          seed=self.seed, lang=self.lang, interrupted=self.interrupted)
        return BatchResult(rows=rows, out_dir=self.out, interrupted=self.interrupted, graded=graded,
                           cached=len(self.from_cache), seed=self.seed, notes=notes, profile=self.profile)

    def _grade(self, students: list[Student], unpack_dir: Path, env_key: str) -> int:
        """Grade who needs it (students that need no grading are reported first); the number graded."""
        todo: list[Student] = []
        try:
            todo = self._prepare(students, unpack_dir, env_key)
        except KeyboardInterrupt:
            self.interrupted = True
        self._choose_columns(students)
        for st in students:
            if st.error or st.file_id in self.reports:
                self.finish(st, cached=st.file_id in self.from_cache)
        if not todo or self.interrupted:
            return 0
        stages = self.selected or self.course.stages
        self.student_timeout_s = self.student_timeout_s or _student_timeout(stages)
        try:
            return grade_all(self, todo) if self.grade_many is None else self._grade_elsewhere(todo)
        except KeyboardInterrupt:
            self.interrupted = True
            return 0

    def _grade_elsewhere(self, todo: list[Student]) -> int:
        """`grade_many(todo, stages=, seed=, lang=, course=, timeout_s=)` yields (student, "done",
        (report, wall seconds)) or (student, "crash", Reason) as each finishes; the rest of the
        run is unchanged."""
        graded = 0
        self.progress.running("")  # the ETA counts from here: students go out as workers free up
        for st, kind, value in self.grade_many(todo, stages=self.stage_numbers, seed=self.seed, lang=self.lang,
                                               course=self.course, timeout_s=self.student_timeout_s):
            if kind == "done":
                graded += 1
                self.finish(st, report=value[0], wall_s=value[1])
            else:
                self.finish(st, crash=value)
        return graded


def _time_limits(stages: Sequence[Any]) -> float:
    """The stages' time limits added up: the longest a student's runs may take."""
    return sum(float(getattr(getattr(s, "limits", None), "time_s", 100.0)) for s in stages)


def _student_timeout(stages: Sequence[Any]) -> float:
    return max(300.0, 3.0 * _time_limits(stages) + 60.0)


def _default_out(class_dir: Path) -> Path:
    parent = class_dir.resolve().parent
    if os.access(parent, os.W_OK):
        return parent / "grades"
    return Path.cwd() / "grades"


def _select(course: Course, stages: Sequence[str], lang: str) -> list:
    try:
        return course.select(stages)
    except UnknownStage as e:
        raise ValueError(e.words(lang)) from None


@dataclass
class BatchOptions:
    """run_batch's keyword arguments."""

    stages: Sequence[str] = ()
    jobs: Optional[int] = None
    force: bool = False
    seed: Optional[int] = None
    lang: str = "en"
    course_dir: Optional[Path] = None
    fork_server: bool = True
    stream: Optional[TextIO] = None
    quiet: bool = False
    student_timeout_s: Optional[float] = None
    grader_factory: Optional[Callable[..., Any]] = None
    grade_many: Optional[Callable[..., Iterable]] = None
    similarity: bool = False    # also write similarity.html (grader/batch/similarity.py)


def _new_run(class_dir: Path, out: Optional[Path], opts: BatchOptions) -> BatchRun:
    from grader.course.folder import load_course

    course = load_course(opts.course_dir)
    if class_dir.is_dir():  # before anything is written next to it
        _refuse_a_workspace(class_dir, course, opts.lang)
    out = Path(out) if out else _default_out(class_dir)
    selected = _select(course, opts.stages, opts.lang)
    (out / ".cache").mkdir(parents=True, exist_ok=True)
    seed, notes = opts.seed, []
    if course.frozen is not None:  # a student kit holds the values of its release seed only
        if seed is not None and seed != course.kit_seed:
            notes.append(kit_seed_note(course, opts.lang, seed))
        seed = course.kit_seed
    if seed is None:
        state = cache.load_state(out)
        seed = state.get("seed") if isinstance(state.get("seed"), int) else random.randrange(1, 2**31)
    return BatchRun(class_dir=class_dir, out=out, course=course, selected=selected, notes=notes,
                    jobs=max(1, int(opts.jobs or os.cpu_count() or 1)), seed=seed, lang=opts.lang, force=opts.force,
                    fork_server=opts.fork_server, student_timeout_s=opts.student_timeout_s or 0.0,
                    grader_factory=opts.grader_factory or make_grader, similarity=opts.similarity,
                    grade_many=opts.grade_many)


def run_batch(class_dir: Path, out: Optional[Path] = None, **options: Any) -> BatchResult:
    """Grade every student of `class_dir`; write the outputs; return the rows.

    Keyword arguments: those of BatchOptions (stages, jobs, force, seed, lang, course_dir,
    fork_server, stream, quiet, student_timeout_s, grader_factory, similarity, grade_many: grades
    the students that need it instead of local threads, see BatchRun._grade_elsewhere).
    Raises ValueError for a bad class folder or stage. KeyboardInterrupt is caught: what
    finished is kept and written, the rest is listed as not graded (result.interrupted)."""
    opts = BatchOptions(**options)
    t0 = time.monotonic()
    class_dir = Path(class_dir)
    is_zip = class_dir.is_file() and class_dir.suffix.lower() == ".zip"  # an LMS's "download all"
    if not is_zip and not class_dir.is_dir():
        raise ValueError(f"{class_dir}: not a folder (or a .zip of the class)")
    run = _new_run(class_dir, out, opts)
    env_key = cache.environment_key(run.course.root, run.seed, run.stage_numbers, run.lang)
    with tempfile.TemporaryDirectory(prefix="grade-class-") as class_tmp:
        if is_zip:
            run.class_dir = _unzip_class(class_dir, Path(class_tmp) / "class")
        result = run.run(opts.stream if opts.stream is not None else sys.stderr, opts.quiet, env_key)
    result.wall_s = time.monotonic() - t0
    return result


def _stage_files_in(folder: Path, course: Course) -> list[str]:
    return list(dict.fromkeys(p.name for s in course.stages if (p := find_source(folder, s.file)) is not None))


def _has_students(class_dir: Path, course: Course) -> bool:
    """A zip, or a sub-folder holding a zip or stage files (itself or one level down)."""
    for entry in class_dir.iterdir():
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_file() and entry.suffix.lower() == ".zip":
            return True
        if entry.is_dir() and (any(_stage_files_in(d, course) for d in (entry, *_subfolders(entry)))
                               or any(p.suffix.lower() == ".zip" for p in entry.iterdir())):
            return True  # an LMS export: the student's zip inside their folder
    return False


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [d for d in folder.iterdir() if d.is_dir() and not d.is_symlink()]
    except OSError:
        return []


def _refuse_a_workspace(class_dir: Path, course: Course, lang: str) -> None:
    """`grade batch reference/`: a folder holding stage files itself (and no students) is one
    student's workspace, not a class of one folder or zip per student; say so rather than
    grade 0 students. A class with a stray stage file next to its students is graded."""
    found = _stage_files_in(class_dir, course)
    if found and not _has_students(class_dir, course):
        shown = ", ".join(found[:3]) + (", …" if len(found) > 3 else "")
        raise ValueError(t(lang, "batch.single_workspace", path=class_dir, files=shown,
                           command=f"grade {shlex.quote(str(class_dir))}"))


def _unzip_class(class_zip: Path, dest: Path) -> Path:
    try:
        return safe_unzip(class_zip, dest, CLASS_ZIP)
    except UnpackError as e:
        raise ValueError(f"{class_zip}: cannot unpack the class archive: {e}") from None
