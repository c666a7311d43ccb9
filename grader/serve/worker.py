"""The worker process: claims jobs from the queue of record and grades them with the engine.

`grade serve` starts it (python -m grader.serve.worker); it ends when its parent ends. A
few threads share one Grader (thread-safe, as in `grade batch`); the main thread keeps the
leases of the running jobs alive, up to a hard time limit per job, after which the watchdog
requeues the job (and, after queue.MAX_ATTEMPTS tries, ends it not gradable).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

from grader.batch.unpack import UnpackError
from grader.errors import UsageError
from grader.messages import t
from grader.serve import queue, regrade
from grader.serve.auth import setting
from grader.serve.db import connect
from grader.verdict import command_line

IDLE_POLL_S = 0.05


class Worker:
    """`remake`: a new grader for the course as it is on disk now, called when the course digest
    the web process stored (grader/serve/regrade.py) changes: a regrade after a spec change."""

    def __init__(self, engine, grader, owner: str, job_time_s: float, remake: Optional[Callable[[], Any]] = None):
        self.engine, self.grader, self.owner, self.job_time_s = engine, grader, owner, job_time_s
        self.running: dict[int, float] = {}  # job id -> when it started here
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.remake = remake
        self.digest = regrade.wanted_digest(engine) if remake is not None else None  # the one acted on last
        self.users: dict[int, int] = {}  # id(grader) -> jobs grading with it now
        self.retired: list = []  # graders replaced, closed once their last job ends

    def loop(self) -> None:
        while not self.stop.is_set():
            try:
                row = queue.claim(self.engine, self.owner)
            except Exception:  # the database is busy or restarting: try again shortly
                traceback.print_exc()
                row = None
            if row is None:
                self.stop.wait(IDLE_POLL_S)
                continue
            with self.lock:
                self.running[row.id] = time.monotonic()
            try:
                self.grade(row)
            finally:
                with self.lock:
                    self.running.pop(row.id, None)

    def grade(self, row) -> None:
        try:
            grader = self._acquire()
        except Exception as exc:  # the course no longer loads: the grader's fault, no attempt counted
            why = traceback.format_exception_only(type(exc), exc)[-1].strip()
            queue.finish(self.engine, row.id, self.owner, "not_gradable",
                         reason=t(self.grader.lang, "serve.grader_failed", why=why))
            return
        try:
            self._grade(grader, row)
        finally:
            self._release(grader)

    def _acquire(self):
        """The grader for the next job: a new one when the course digest changed (once per change)."""
        wanted = regrade.wanted_digest(self.engine) if self.remake is not None else None
        with self.lock:
            if wanted is not None and wanted != self.digest:  # never the old course once it changed
                fresh = self.remake()
                self.retired.append(self.grader)
                self.grader, self.digest = fresh, wanted
            self.users[id(self.grader)] = self.users.get(id(self.grader), 0) + 1
            return self.grader

    def _release(self, grader) -> None:
        with self.lock:
            self.users[id(grader)] -= 1
            done = [g for g in self.retired if not self.users.get(id(g))]
            self.retired = [g for g in self.retired if g not in done]
        for old in done:
            old.close()

    def close(self) -> None:
        for g in [self.grader, *self.retired]:
            g.close()

    def _grade(self, grader, row) -> None:
        lang = grader.lang
        with tempfile.TemporaryDirectory(prefix="grade-serve-") as tmp:
            try:
                folder = _place(grader, row, Path(tmp))
                report = grader.grade(folder, [row.stage], on_stage=lambda st: queue.add_stage_event(
                    self.engine, row.id, self.owner, st.to_dict()), on_case=lambda case: queue.add_case_event(
                    self.engine, row.id, self.owner, case.to_dict()))
            except (UsageError, UnpackError) as exc:
                queue.finish(self.engine, row.id, self.owner, "not_gradable", reason=str(exc))
                return
            except Exception as exc:  # the grader's fault: the reason, no attempt counted
                why = traceback.format_exception_only(type(exc), exc)[-1].strip()
                queue.finish(self.engine, row.id, self.owner, "not_gradable", reason=t(lang, "serve.grader_failed", why=why))
                return
        report.submission = row.filename
        report.reproduce = command_line(row.filename, [row.stage], report.seed)
        queue.finish(self.engine, row.id, self.owner, "graded", score=report.score, max_score=report.max_score,
                     report=report.to_dict(details=True))

    def heartbeat(self) -> None:
        """Extend the leases of jobs still within their time; a job past it is left to the watchdog."""
        now = time.monotonic()
        with self.lock:
            alive = [jid for jid, started in self.running.items() if now - started < self.job_time_s]
        queue.extend(self.engine, self.owner, alive)


def _place(grader, row, tmp: Path) -> Path:
    from grader.serve.files import place
    return place(grader, row.filename, row.content, row.stage, tmp)


def job_time_s(course) -> float:
    """The longest a job may run: its stage's limits for the student and the reference, and a margin."""
    return 60.0 + 4 * max((s.limits.time_s for s in course.stages), default=10.0)


def _die_with_parent() -> None:
    """Linux: the kernel ends this process when the server ends (PR_SET_PDEATHSIG = SIGKILL)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # elsewhere the heartbeat loop notices the parent is gone


def make_grader(course: Optional[str], seed: int, lang: str, threads: int, scheduler: Optional[str]):
    """The engine here, or (with a scheduler address) the Dask cluster's."""
    if scheduler:
        from grader.serve.remote import ClusterGrader
        return ClusterGrader(scheduler, course, seed, lang)
    from grader.engine import Grader
    grader = Grader(course=course, seed=seed, lang=lang, workers=threads)
    grader.sandbox.on_demote = lambda folder: None  # other submissions share the machine: loops step aside
    return grader


def run(db_url: str, course: Optional[str], threads: int, lang: str, scheduler: Optional[str] = None,
        parent: Optional[int] = None) -> None:
    """Grade until the server (`parent`, its pid) is gone; a server gone before we started: at once."""
    _die_with_parent()
    parent = parent or os.getppid()
    if os.getppid() != parent:
        os._exit(0)
    engine = connect(db_url)
    seed = int(setting(engine, "seed", lambda: secrets.randbelow(2**31)))
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    grader = make_grader(course, seed, lang, threads, scheduler)
    worker = Worker(engine, grader, owner, job_time_s(grader.course),
                    remake=lambda: make_grader(course, seed, lang, threads, scheduler))
    pool = [threading.Thread(target=worker.loop, daemon=True, name=f"serve-worker-{i}") for i in range(threads)]
    for th in pool:
        th.start()
    while os.getppid() == parent:  # the server is gone: so are we (its restart requeues our jobs)
        try:
            worker.heartbeat()
        except Exception:
            traceback.print_exc()
        time.sleep(min(5.0, queue.LEASE_S / 4))
    worker.stop.set()
    worker.close()
    os._exit(0)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m grader.serve.worker")
    p.add_argument("--db", required=True)
    p.add_argument("--course")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lang", default="en")
    p.add_argument("--scheduler", help="a Dask scheduler's address: grade there")
    p.add_argument("--parent", type=int, help="the server's pid: the worker ends when it does")
    args = p.parse_args(argv)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    run(args.db, args.course, args.threads, args.lang, args.scheduler, args.parent)


if __name__ == "__main__":
    main()
