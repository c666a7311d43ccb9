"""Grading a class on a Dask cluster: ``grade batch CLASS --scheduler ADDRESS``.

Each student is one task. The client (``grade batch``) keeps everything a local batch
keeps (discovery, unpacking, the cache, the gradebook, the reports, the overview): only
the grading moves. A submission travels as zip bytes, is unpacked on a worker into a
temporary folder, graded by that worker process's one warm ``Grader`` (course loaded,
reference results for the batch's seed computed once) and removed; the report comes back
as JSON text. Results are yielded as the tasks complete, so the progress bar follows them.

A task whose worker dies is run again elsewhere by the scheduler (its
``allowed-failures``, which should be 1); a submission that kills its worker twice gets an
error row. Before grading, and again in every task, the worker's course and grader are
compared with the client's (content hashes): a worker that differs is refused.

Nothing here imports Dask at module level: without ``--scheduler`` Dask is never imported.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO

from grader.batch.cache import course_hash, grader_hash, json_default, seconds
from grader.batch.discover import Student
from grader.batch.workers import grade_folder
from grader.batch.rows import Reason, reason
from grader.batch.unpack import safe_unzip
from grader.contents import Contents, walk
from grader.fsutil import read_bounded
from grader.errors import UsageError
from grader.options import shared
from grader.messages import t
from grader.safe_text import one_line
from grader.sandbox.job import COPY_CAP
from grader.verdict import Report
from grader.batch.warm_graders import WarmGraders

PLUGIN_NAME = "grade-warm-graders"
CONNECT_TIMEOUT_S = 30
POLL_S = 1.0  # how often the deadlines of the tasks out are looked at
# What the scheduler needs (set in its environment, see `grade worker-setup`): a task whose
# worker dies runs once more, then fails.
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 1}
WORKERS_WAIT_S = 60
COURSE_PARTS = ("stages", "reference", "frozen", "kit.json")  # what cache.course_hash reads


class ClusterError(UsageError):
    """The cluster cannot grade this batch (unreachable, no workers, a worker that differs)."""


class TooLarge(ValueError):
    """A submission folder over the sandbox's copy limit: it is not sent."""


# --------------------------------------------------------------------------- identity

def _course_hash(root: str) -> str:
    """The course's content hash, computed again only when a file of it changed (size, time, name)."""
    stamp = []
    for part in COURSE_PARTS:
        top = os.path.join(root, part)
        files = [top] if os.path.isfile(top) else [os.path.join(d, n) for d, _, names in os.walk(top) for n in names]
        for path in files:
            st = os.lstat(path)
            stamp.append((path, st.st_size, st.st_mtime_ns))
    return _hash_of(root, tuple(sorted(stamp)))


@functools.lru_cache(maxsize=8)
def _hash_of(root: str, stamp: tuple) -> str:
    return course_hash(Path(root))


@functools.lru_cache(maxsize=1)
def _grader_id() -> str:
    """This process's grader, hashed once: the code it loaded (later edits on disk do not run)."""
    return grader_hash()[:16]


def worker_course(course_dir: Optional[str]) -> Optional[str]:
    """The client's course folder when this machine has it at the same place, else None
    (the worker's own: $GRADE_COURSE). The hashes decide whether they agree."""
    return course_dir if course_dir and (Path(course_dir) / "stages").is_dir() else None


def fingerprint(course_dir: Optional[str] = None) -> dict:
    """This process's course and grader, as short content hashes ("-": no course here)."""
    from grader.course.folder import load_course

    try:
        course = _course_hash(str(load_course(worker_course(course_dir)).root))[:16]
    except Exception:  # no course on this machine, or a broken one: it cannot match
        course = "-"
    return {"course": course, "grader": _grader_id()}


def sandbox_refusal(unsafe: bool, lang: str) -> Optional[str]:
    """Why this machine refuses to grade (no sandbox can be built, no --unsafe-no-sandbox), or None."""
    from grader.sandbox.isolation import refusal

    return refusal(unsafe, lang)


def mismatch_message(worker: str, theirs: dict, mine: dict, lang: str) -> str:
    return t(lang, "cluster.mismatch", worker=worker, w_course=theirs.get("course"), w_grader=theirs.get("grader"),
             course=mine["course"], grader=mine["grader"])


# --------------------------------------------------------------------------- submissions as bytes

def pack(root: Path, contents: Optional[Contents] = None) -> bytes:
    """The submission folder as zip bytes: what its one walk kept, as the sandbox would copy it."""
    contents = contents if contents is not None else walk(root)
    if contents.over:
        raise TooLarge(contents.over)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in contents.folders:  # a folder named like a file (layers.py/) must stay one
            z.writestr(rel + "/", b"")
        for e in contents.files:
            data = read_bounded(contents.root / e.rel, e.size)
            if data is not None:
                z.writestr(e.rel, data)
    return buf.getvalue()


def unpack(data: bytes, folder: Path) -> Path:
    """Zip bytes from the client into `folder`/work (checked as any student zip)."""
    archive = folder / "submission.zip"
    archive.write_bytes(data)
    try:
        return safe_unzip(archive, folder / "work")
    finally:
        archive.unlink()


# --------------------------------------------------------------------------- worker side

_fallback: Optional[WarmGraders] = None


def _worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _warm_graders() -> WarmGraders:
    """The worker plugin's Graders; a process-wide set when the task runs without the plugin."""
    global _fallback
    worker = _worker()
    plugin = worker.plugins.get(PLUGIN_NAME) if worker is not None else None
    if plugin is not None and plugin.graders is not None:
        return plugin.graders
    if _fallback is None:
        _fallback = WarmGraders()
    return _fallback


def grade_submission(data: bytes, request: dict) -> str:
    """The task: one submission (zip bytes) graded on this worker.

    `request`: course_dir, seed, lang, stages (numbers or None), expect (the client's
    fingerprint). Returns JSON text: {"done": the report with details, "wall_s": seconds},
    {"crash": why the grader failed} or {"mismatch": this worker's fingerprint, "worker": its
    address}."""
    mine = fingerprint(request["course_dir"])
    worker = _worker()
    address = worker.address if worker is not None else "?"
    if mine != request["expect"]:
        return json.dumps({"mismatch": mine, "worker": address})
    refused = sandbox_refusal(bool(request.get("unsafe")), request["lang"])
    if refused:  # a worker that joined later, on a machine without a sandbox
        return json.dumps({"refused": refused, "worker": address})
    course_dir = worker_course(request["course_dir"])
    key = (mine["course"], mine["grader"], request["seed"], request["lang"], tuple(request["stages"] or ()))
    warm = _warm_graders()
    try:
        grader = warm.get(key, course_dir, request["seed"], request["lang"])
        files = {s.number: s.file for s in grader.course.stages}
        began = time.monotonic()
        with tempfile.TemporaryDirectory(dir=warm.scratch) as tmp:
            report = grade_folder(grader, unpack(data, Path(tmp)), request["stages"], files)
        return json.dumps({"done": report.to_dict(details=True), "wall_s": time.monotonic() - began},
                          default=json_default)
    except Exception as e:  # an engine failure must not lose the student
        return json.dumps({"crash": traceback.format_exception_only(type(e), e)[-1].strip()})


# --------------------------------------------------------------------------- client side

def connect(address: str, lang: str = "en") -> Any:
    """A Dask client with the warm-Grader plugin registered on every worker, present and future."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(t(lang, "cluster.needs_dask")) from None
    from grader.batch.cluster_plugin import WarmGradersPlugin

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(t(lang, "cluster.unreachable", address=address, why=one_line(str(e), 200))) from None
    client.register_plugin(WarmGradersPlugin(), name=PLUGIN_NAME)
    return client


def check_workers(client: Any, course_root: Path, lang: str, unsafe: bool = False) -> dict:
    """The client's fingerprint, once every connected worker has been found to share it and to
    have a sandbox (or `unsafe`: --unsafe-no-sandbox)."""
    mine = fingerprint(str(course_root))
    try:
        client.wait_for_workers(1, timeout=WORKERS_WAIT_S)
    except TimeoutError:
        raise ClusterError(t(lang, "cluster.no_workers", address=client.scheduler.address,
                             wait=WORKERS_WAIT_S)) from None
    for worker, theirs in sorted(client.run(fingerprint, str(course_root)).items()):
        if theirs != mine:
            raise ClusterError(mismatch_message(worker, theirs, mine, lang))
    for worker, why in sorted(client.run(sandbox_refusal, unsafe, lang).items()):
        if why:
            raise ClusterError(t(lang, "cluster.worker_refuses", worker=worker, why=why))
    return mine


def _failed(why: Any) -> Reason:
    return reason("batch.grader_failed", why=one_line(str(why), 200))


def _result(future: Any, expect: dict, lang: str) -> tuple[str, Any]:
    """("done", (report, wall seconds)) or ("crash", Reason) for a finished task (the worker's JSON
    parsed once, here); ClusterError when the
    worker differs from this client."""
    from distributed import KilledWorker

    try:
        data = json.loads(future.result())
    except KilledWorker:  # the scheduler ran it twice and both workers died
        return "crash", reason("cluster.worker_died")
    except Exception as e:  # the task itself could not run
        return "crash", _failed(traceback.format_exception_only(type(e), e)[-1].strip())
    if not isinstance(data, dict):
        return "crash", _failed("no report")
    if "mismatch" in data:
        raise ClusterError(mismatch_message(str(data.get("worker")), dict(data["mismatch"]), expect, lang))
    if "refused" in data:
        raise ClusterError(t(lang, "cluster.worker_refuses", worker=data.get("worker"), why=data["refused"]))
    if "crash" in data or not isinstance(data.get("done"), dict):
        return "crash", _failed(data.get("crash", "no report"))
    return "done", (Report.from_dict(data["done"]), seconds(data.get("wall_s")))


class _Submitter:
    """Packs and submits students while the cluster has a free worker thread for them."""

    def __init__(self, client: Any, students: Iterable[Student], request: dict, task: Callable[[bytes, dict], str]):
        self.client, self.request, self.task = client, request, task
        self.queue = iter(students)
        self.pending: dict[str, Any] = {}  # key -> future
        self.submitted: dict[str, float] = {}  # key -> when (a task starts at once: a thread was free)
        self.owner: dict[str, Student] = {}
        self.refused: list[tuple[Student, str, Any]] = []

    def next_done(self, deadline_s: Optional[float]) -> tuple[list[Any], list[Any]]:
        """(finished futures, futures past the deadline), at least one of the two, waiting for them."""
        from distributed import wait

        while True:
            try:
                done, _ = wait(list(self.pending.values()), timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            now = time.monotonic()
            late = [f for k, f in self.pending.items()
                    if f not in done and deadline_s and now - self.submitted[k] > deadline_s]
            if done or late:
                for f in [*done, *late]:
                    self.pending.pop(f.key)
                return list(done), late

    def stop(self, late: Any) -> None:
        """A task past the deadline: cancelled, and the worker that holds it restarted (the
        thread of a stuck task cannot be stopped otherwise)."""
        workers = [w for w, keys in self.client.processing().items() if late.key in keys]
        late.cancel()
        if workers:
            try:
                self.client.restart_workers(workers, raise_for_error=False)
            except Exception:  # noqa: BLE001 - a worker that cannot restart is left as it is
                pass

    def top_up(self) -> None:
        free = max(1, sum(self.client.nthreads().values())) - len(self.pending)
        while free > 0:
            st = next(self.queue, None)
            if st is None:
                return
            try:
                data = pack(Path(st.root), getattr(st, "contents", None))
            except TooLarge:
                self.refused.append((st, "crash", reason("cluster.too_large", mb=COPY_CAP >> 20)))
                continue
            except OSError as e:
                self.refused.append((st, "crash", reason("cluster.unreadable", why=one_line(str(e), 200))))
                continue
            future = self.client.submit(self.task, data, self.request, pure=False,
                                        key=f"grade-{st.file_id}-{st.key or id(st)}"[:120])
            self.owner[future.key] = st
            self.pending[future.key] = future
            self.submitted[future.key] = time.monotonic()
            free -= 1

    def drain(self) -> Iterator[tuple[Student, str, Any]]:
        while self.refused:
            yield self.refused.pop()


def grade_on_cluster(client: Any, students: Iterable[Student], request: dict, lang: str = "en",
                     task: Callable[[bytes, dict], str] = grade_submission,
                     deadline_s: Optional[float] = None) -> Iterator[tuple[Student, str, Any]]:
    """Grade `students` on the cluster; yield (student, "done" | "crash", (report, wall seconds) | Reason) as
    tasks complete.

    No more tasks are out than the cluster has worker threads: each task then runs alone on
    its worker, so a worker's death is blamed on the submission it was grading and no other
    (the scheduler runs that one once more elsewhere, see SCHEDULER_CONFIG). It also bounds
    the client's memory: a submission is packed only when a thread is free for it, and it
    starts when it is submitted, so `deadline_s` counts from then: a student whose grading
    (not the student's code: the sandbox stops that at its limits) takes longer gets an error
    row, as in a local batch, and the worker holding it is restarted."""
    sub = _Submitter(client, students, request, task)
    sub.top_up()
    yield from sub.drain()
    died: list[Student] = []
    while sub.pending:
        done, late = sub.next_done(deadline_s)
        for future in late:
            sub.stop(future)
            yield sub.owner.pop(future.key), "crash", reason("batch.too_slow", s=f"{deadline_s:.0f}")
        for future in done:
            st = sub.owner.pop(future.key)
            kind, value = _result(future, request["expect"], lang)
            future.release()
            if kind == "crash" and value.key == "cluster.worker_died":
                died.append(st)  # perhaps only a bystander of another submission's kill: once more, alone
            else:
                yield st, kind, value
        sub.top_up()
        yield from sub.drain()
    yield from _alone(client, died, request, lang, task)


def _alone(client: Any, students: list[Student], request: dict, lang: str,
           task: Callable[[bytes, dict], str]) -> Iterator[tuple[Student, str, Any]]:
    """Grade each student with nothing else running on the cluster: a death is then its own."""
    for st in students:
        future = client.submit(task, pack(Path(st.root)), request, pure=False,
                               key=f"alone-{st.file_id}-{st.key or id(st)}"[:120])
        kind, value = _result(future, request["expect"], lang)
        future.release()
        yield st, kind, value


class ClusterGrading:
    """A `grade_many` for grader.batch.run_batch: grades the batch on the cluster at `address`."""

    def __init__(self, address: str, task: Callable[[bytes, dict], str] = grade_submission,
                 stream: Optional[TextIO] = None, unsafe: bool = False):
        self.address, self.task, self.stream, self.unsafe = address, task, stream, unsafe

    def __call__(self, todo: list[Student], *, stages: Optional[list[int]], seed: int, lang: str,
                 course: Any, timeout_s: Optional[float] = None) -> Iterator[tuple[Student, str, Any]]:
        client = connect(self.address, lang)
        try:
            expect = check_workers(client, course.root, lang, self.unsafe)
            self._note_retries(client, lang)
            request = {"course_dir": str(course.root), "seed": seed, "lang": lang, "stages": stages,
                       "expect": expect, "unsafe": self.unsafe}
            for st, kind, value in grade_on_cluster(client, todo, request, lang, self.task, timeout_s):
                if kind == "done":
                    value[0].course = str(course.root)  # as a local batch writes it
                yield st, kind, value
        finally:
            client.close()

    def _note_retries(self, client: Any, lang: str) -> None:
        import dask.config

        theirs = {k: client.run_on_scheduler(dask.config.get, k) for k in SCHEDULER_CONFIG}
        if theirs != SCHEDULER_CONFIG and self.stream is not None:
            self.stream.write(t(lang, "cluster.retries", n=theirs["distributed.scheduler.allowed-failures"]) + "\n")


# --------------------------------------------------------------------------- grade worker-setup

def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("worker-setup", parents=[shared("course", "lang")], help="print how to start a Dask cluster for `grade batch --scheduler`")
    p.set_defaults(func=run_setup)
    return p


def run_setup(args: argparse.Namespace) -> int:
    from grader import __version__
    from grader.course.folder import load_course

    course = load_course(args.course)
    fp = fingerprint(str(course.root))
    sys.stdout.write(t(args.lang, "cluster.setup", version=__version__, course=course.root,
                       course_hash=fp["course"], grader_hash=fp["grader"]))
    return 0
