"""Grading the students of a batch in parallel: one shared Grader, a few worker threads,
a time limit per student; every student gets a result, whatever their code does."""

from __future__ import annotations

import queue
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence

from grader.batch.discover import Student
from grader.batch.rows import Reason, reason
from grader.sandbox import zygote as zygotes
from grader.sandbox.isolation import IsolationError
from grader.sources import find_source
from grader.verdict import Report


class RunView(Protocol):
    """What grading reads of a batch run (grader.batch.run.BatchRun, seen from the workers), and where results go."""

    seed: int
    lang: str
    course: Any
    jobs: int
    fork_server: bool
    forbidden: list[Path]
    student_timeout_s: float
    progress: Any
    grader_factory: Callable[..., Any]
    profile: dict

    @property
    def stage_numbers(self) -> Optional[list[int]]: ...

    def finish(self, st: Student, report: Optional[Report] = None, crash: Optional[Reason] = None,
               cached: bool = False, wall_s: float = 0.0) -> None: ...


def make_grader(seed: int, lang: str, course: Any, jobs: int, fork_server: bool,
                forbidden: Sequence[Path] = ()) -> Any:
    from grader.engine import Grader
    # Other students' folders (the class, the unpacked zips, the outputs) must be out of a
    # submission's reach. Never forbid a folder that holds the sandbox's own temp folder.
    tmp = Path(tempfile.gettempdir()).resolve()
    extra = [p for p in forbidden if not (tmp == p or p in tmp.parents)]
    return Grader(course=course, seed=seed, lang=lang, workers=jobs, fork_server=fork_server, forbidden=extra,
                  zygote=zygotes.enabled())


def grade_folder(grader: Any, root: Path, stages: Optional[list[int]], files: dict[int, str],
                 contents: Optional[Any] = None) -> Report:
    """One student's report (with details): the stages asked for that the student handed in
    (found as `grade FOLDER` finds them: a notebook, another case), else every stage handed in.
    `contents`: the submission's walk, made for its cache key (grader/contents.py)."""
    chosen = stages
    if stages is not None:
        # Only the asked-for stages the student submitted: a missing file is a blank cell, not an error.
        chosen = [n for n in stages if find_source(root, files[n]) is not None]
    if chosen == []:
        return Report(submission=str(root), course=str(grader.course.root), seed=grader.seed, lang=grader.lang)
    return grader.grade(root, stages=chosen, contents=contents)


def _worker(pool: "_Pool") -> None:
    while not pool.stop.is_set():
        student = pool.jobs.get()
        if student is None or pool.stop.is_set():
            return
        pool.taken()
        began = time.monotonic()
        pool.results.put(("start", student, began))
        folder = str(Path(student.root).resolve())
        pool.busy[folder] = student
        try:
            report = grade_folder(pool.grader, Path(student.root), *pool.args, student.contents)
            pool.results.put(("done", student, (report, time.monotonic() - began)))
        except BaseException as e:  # an engine failure must not lose the student
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            pool.results.put(("crash", student, reason("batch.grader_failed", why=tb)))
        finally:
            pool.busy.pop(folder, None)
        if pool.surplus_done(folder):
            return


def _quiet_exit(exit_: Callable) -> None:
    try:
        exit_(None, None, None)
    except Exception:
        pass


class _Pool:
    """Worker threads around one grader; more threads than sandbox workers keep the workers
    busy while a thread does its bookkeeping (Grader.grade is thread-safe).

    A student whose run steps aside (idle priority past a few CPU-seconds: a loop, most likely)
    no longer holds a worker: one more thread starts, and the stepped-aside student's own thread
    ends when that student is done, so the number of students graded at full priority stays the same.
    (Ending whichever thread finished first instead let honest threads retire while the loopers
    still held theirs: measured, 4 loopers among 100 stalled the honest students for their 20 s.)"""

    def __init__(self, grader: Any, run: RunView, todo: list[Student]):
        self.grader, self.todo = grader, todo
        self.jobs: "queue.Queue[Optional[Student]]" = queue.Queue()
        self.results: "queue.Queue" = queue.Queue()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.args = (run.stage_numbers, {s.number: s.file for s in run.course.stages})
        self.busy: dict[str, Student] = {}  # resolved folder -> the student graded from it
        self._aside: set[str] = set()
        self._queued = len(todo)  # students no thread has taken yet
        self._surplus = 0
        self._lock = threading.Lock()
        for st in todo:
            self.jobs.put(st)
        sandbox = getattr(grader, "sandbox", None)
        if sandbox is not None and hasattr(sandbox, "on_demote"):  # before any thread can grade
            sandbox.on_demote = self.stepped_aside
        n = min(2 * run.jobs, len(todo))
        for _ in range(n):
            self.spawn()

    def spawn(self) -> None:
        t = threading.Thread(target=_worker, args=(self,), daemon=True, name="grade-batch")
        t.start()
        self.threads.append(t)
        self.jobs.put(None)  # its end of work, after every student queued so far

    def stepped_aside(self, folder: str) -> None:
        """A run of the student graded from `folder` stepped aside: its worker goes to the next student."""
        with self._lock:
            if folder not in self.busy or folder in self._aside or self.stop.is_set():
                return
            self._aside.add(folder)
            self._surplus += 1
        self.spawn()

    def taken(self) -> None:
        with self._lock:
            self._queued -= 1

    def only_stepped_aside_left(self) -> bool:
        """Whether every student still being graded has a run that stepped aside, and none waits."""
        with self._lock:
            return self._queued <= 0 and bool(self.busy) and set(self.busy) <= self._aside

    def surplus_done(self, folder: str) -> bool:
        """Whether the calling thread, which just finished the student graded from `folder`, is one
        too many now: the thread of a student that stepped aside ends (another took its place then);
        a thread that graded an honest student goes on to the next."""
        with self._lock:
            if folder in self._aside and self._surplus > 0:
                self._aside.discard(folder)
                self._surplus -= 1
                return True
            return False

    def close(self, clean: bool) -> None:
        self.stop.set()
        try:  # drain the queue so idle threads end; running ones end with the grader
            while True:
                self.jobs.get_nowait()
        except queue.Empty:
            pass
        for _ in self.threads:
            self.jobs.put(None)
        exit_ = getattr(self.grader, "__exit__", None)
        if exit_:
            closer = threading.Thread(target=lambda: _quiet_exit(exit_), daemon=True)
            closer.start()
            closer.join(timeout=60 if clean else 10)


def _start(run: RunView, todo: list[Student]) -> Optional[Any]:
    """The grader entered, or None when it cannot start (every student then gets a row)."""
    try:
        grader = run.grader_factory(run.seed, run.lang, run.course, min(run.jobs, len(todo)), run.fork_server,
                                    run.forbidden)
        enter = getattr(grader, "__enter__", None)
        return enter() if enter else grader
    except IsolationError:  # the sandbox refuses this machine (e.g. the class folder is readable): no grades at all
        raise
    except Exception as e:
        why = reason("batch.start_failed", why=traceback.format_exception_only(type(e), e)[-1].strip())
        for st in todo:
            run.finish(st, crash=why)
        return None


def grade_all(run: RunView, todo: list[Student]) -> int:
    """Grade `todo`; each student's result goes to run.finish. The number graded."""
    grader = _start(run, todo)
    if grader is None:
        return 0
    pool = _Pool(grader, run, todo)
    started: dict[str, float] = {}
    pending = {st.file_id for st in todo}
    graded = 0
    clean = False
    sandbox = getattr(grader, "sandbox", None)
    try:
        while pending:
            try:
                kind, st, value = pool.results.get(timeout=0.2)
            except queue.Empty:
                _time_out(run, pool, started, pending)
                if hasattr(sandbox, "only_stepped_aside_left") and pool.only_stepped_aside_left():
                    sandbox.only_stepped_aside_left()  # the loopers are all that is left: full priority
                continue
            if st.file_id not in pending:
                continue
            if kind == "start":
                started[st.file_id] = value
                run.progress.running(st.file_id)
                continue
            pending.discard(st.file_id)
            started.pop(st.file_id, None)
            if kind == "done":
                graded += 1
                run.finish(st, report=value[0], wall_s=value[1])
            else:
                run.finish(st, crash=value)
        clean = True
    finally:
        pool.close(clean)
        stats = getattr(sandbox, "stats", None)
        if isinstance(stats, dict):
            run.profile.update(stats)  # where the CPU went, for `grade batch --profile`
    return graded


def _time_out(run: RunView, pool: _Pool, started: dict[str, float], pending: set[str]) -> None:
    """Students over their time limit: an error row each, and a fresh thread for the stuck one's slot."""
    run.progress.tick()
    now = time.monotonic()
    for fid, t_start in list(started.items()):
        if fid in pending and now - t_start > run.student_timeout_s:
            pending.discard(fid)
            started.pop(fid, None)
            st = next(s for s in pool.todo if s.file_id == fid)
            run.finish(st, crash=reason("batch.too_slow", s=f"{run.student_timeout_s:.0f}"))
            pool.spawn()
