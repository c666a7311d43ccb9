"""The sandboxes of a grading session (one per submission, plus the reference's) and the runs in them."""

from __future__ import annotations

import itertools
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from grader.contents import Contents, copy_into, walk
from grader.sandbox import isolation, libraries, uid_backend
from grader.sandbox import zygote as zygotes
from grader.sandbox.forkserver import ForkServer, close_all
from grader.sandbox.isolation import runs_folder
from grader.sandbox.job import COPY_CAP, ERROR_CAP, PIDS_MAX, Job, Limits, Outcome, SandboxError, demote_after, wall_backstop
from grader.sandbox.records import Streamed, collect
from grader.sources import find_source, prepare_sources, read_source, write_module


LIGHT = ("numpy",)  # a server's preload: what its Python imported before its first job
FULL = zygotes.LIBRARIES


class Sandbox:
    """The sandboxes of a grading session: one per submission, plus the reference's.

    ``release(source)`` stops a submission's sandboxes once it is graded. ``fork_server=False``
    starts a fresh sandbox for every run instead (slower; the baseline of the benchmarks).
    With ``zygote=True`` (a batch), each sandbox's fork server is forked from one of the session's
    two trusted zygotes (grader/sandbox/zygote.py: a full one, a light one) instead of starting its
    own Python.
    """

    def __init__(self, workers: int = 2, fork_server: bool = True, require_isolation: bool = False,
                 platform: Optional[Path] = None, backend: Optional[str] = None, zygote: bool = False):
        """`platform`: a course's platform files (``stages/platform/``), read-only in every run.
        `backend`: ``bwrap`` or ``uid`` (default: the one this machine can build, isolation.backend()).
        `zygote`: bubblewrap's sandboxes only (the uid backend's servers start their own Python)."""
        self.backend, self.why = isolation.backend() if backend is None else isolation.named_backend(backend)
        self.isolated = self.backend is not None
        self.binds = isolation.platform_binds(platform)
        if require_isolation and not self.isolated:
            raise isolation.IsolationError(f"no sandbox can be built on this machine: {self.why}")
        self.run_as: Optional[int] = None  # the uid backend: the uid of every submission's sandbox (--run-as)
        self._uids: dict[str, int] = {}
        if self.backend == "uid":
            uid_backend.link_platform(self.binds)  # no mount namespace: a symlink where the path is free
        self.workers = max(1, workers)
        self.fork_server = fork_server
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=runs_folder()))
        (self.root / "inputs").mkdir()
        self._ids = itertools.count()
        self._owners: dict[str, Path] = {}
        self._pools: dict[tuple, queue.Queue] = {}
        self._made: dict[tuple, list[ForkServer]] = {}
        self._lock = threading.RLock()
        forked = zygote and self.backend == "bwrap" and fork_server
        # One full zygote serves every worker of the session (a spawn is a fork: its lock is held for
        # milliseconds), so torch is imported once per batch, not once per worker; and a light one,
        # for the runs that need numpy only (grader/sandbox/libraries.py)
        self.zygotes = [zygotes.Zygote()] if forked else []
        self.light_zygotes = [zygotes.Zygote(LIGHT)] if forked else []
        self._closed = False
        self._drivers: dict[str, Path] = {}  # a driver's source -> its compiled copy (_driver_code)
        self._heavy: dict[tuple[str, str], bool] = {}  # (owner, file) -> its runs fork from the full zygote
        self.demote_cpu_s = demote_after()
        # where the CPU went (`grade batch --profile`): see _record, _close and _profile
        self.stats: dict[str, Any] = {"runs": 0, "runs_cpu_s": 0.0, "reference_runs": 0, "reference_cpu_s": 0.0,
                                      "stepped_aside": 0, "stages": {}, "sandboxes": 0, "sandboxes_counted": 0,
                                      "in_sandboxes_cpu_s": 0.0}
        self._started_cpu = _cpu_here()
        # called with a submission's folder when one of its runs steps aside (a batch frees its
        # worker); set where other submissions share the machine: runs step aside only then
        self.on_demote: Optional[Callable[[str], None]] = None
        self._aside: set[ForkServer] = set()  # servers whose run has stepped aside and not ended
        self._only_aside = False  # nothing else is left to grade: stepped-aside runs get their priority back

    def _stepped_aside(self, owner: str, server: ForkServer, job: Job) -> None:
        with self._lock:
            self.stats["stepped_aside"] += 1
            self._stage_stats(job)["stepped_aside"] += 1
            self._aside.add(server)
            restore = self._only_aside
        if restore:
            server.restore_priority()
        callback = self.on_demote
        if callback is not None and owner:
            callback(owner)

    def only_stepped_aside_left(self) -> None:
        """Every run still going has stepped aside and no other work waits (a batch's last students
        loop): their priority and CPU weight come back, so that on a machine that is never idle they
        end at their limit, not at the wall backstop. On an idle machine this changes nothing."""
        with self._lock:
            self._only_aside = True
            servers = list(self._aside)
        for server in servers:
            server.restore_priority()

    def _zygote(self, key: tuple) -> Optional["zygotes.Zygote"]:
        """The zygote for the key's server, light or full (None: the sandbox starts its own Python)."""
        group = self.light_zygotes if key[0] and key[1] == LIGHT else self.zygotes
        return group[0] if group else None

    def _key(self, job: Job) -> tuple:
        """The pool a job's run goes to: its submission's light server, or its full one (zygotes only)."""
        owner = "" if job.trusted else _owner(job.source)
        if not owner or not self.light_zygotes:
            return owner, LIGHT
        with self._lock:
            heavy = self._heavy.get((owner, job.file))
        if heavy is None:
            def read(name: str) -> Optional[str]:
                if name == job.file and job.module_text is not None:
                    return job.module_text
                found = read_source(job.source, name)
                return found.text if found is not None else None

            heavy = libraries.needs_heavy(job.file, read, job.requires, job.driver_source)
            with self._lock:
                self._heavy[(owner, job.file)] = heavy
        return owner, FULL if heavy else LIGHT

    # -- pool ----------------------------------------------------------------------------

    def _folders(self, owner: str) -> dict[str, Path]:
        with self._lock:
            if owner not in self._owners:
                self._owners[owner] = self.root / f"sb-{next(self._ids)}"
                self._owners[owner].mkdir()
                (self._owners[owner] / "work").mkdir()
                if self.backend == "uid":
                    uid = self.run_as if owner and self.run_as else uid_backend.new_uid(self._uids.values())
                    self._uids[owner] = uid
                    uid_backend.prepare(self._paths(owner), uid)
        return self._paths(owner)

    def _paths(self, owner: str) -> dict[str, Path]:
        staging = self._owners[owner]
        return {"staging": staging, "inputs": self.root / "inputs", "work": staging / "work"}

    def guard(self, folders: list[Path], lang: str = "en") -> None:
        """The uid backend sees the machine's files: refuse where a sandbox could read the answers
        (a course's reference/ and stages/) or another folder no submission may read (other students')."""
        if self.backend != "uid":
            return
        from grader.messages import t

        secret = [path for folder in dict.fromkeys(folders) for path in uid_backend.private_files(folder)]
        seen = uid_backend.readable_by(uid_backend.new_uid(self._uids.values()), secret)
        if seen:
            raise isolation.IsolationError(t(lang, "uid_answers_readable", path=seen[0]))

    def _server(self, key: tuple, zygote: Optional["zygotes.Zygote"] = None) -> ForkServer:
        folders = self._folders(key[0])
        return ForkServer(key[1], folders, self.isolated, self.binds, zygote, uid=self._uids.get(key[0]))

    def _new(self, key: tuple) -> ForkServer:
        if self._closed:
            raise SandboxError("the grading session is closed")
        server = self._server(key, self._zygote(key))
        self._made.setdefault(key, []).append(server)
        return server

    def warm(self, preload: tuple[str, ...] = ("numpy",), source: Optional[Path] = None) -> None:
        """Start a sandbox ahead of time (the reference's, or ``source``'s) so its start overlaps other work.

        One sandbox per submission serves all its stages: it starts with numpy, and each
        stage's run imports what else it needs (torch, sympy) in its own forked process.
        """
        key = (_owner(source), ("numpy",))
        with self._lock:
            if not self.fork_server or self._made.get(key):
                return
            self._pools.setdefault(key, queue.Queue()).put(self._new(key))

    def _acquire(self, key: tuple) -> ForkServer:
        if not self.fork_server:
            return self._server(key)
        with self._lock:
            # One submission alone (a self-check) may use every worker; in a batch the
            # submissions run side by side, so each gets one sandbox (one start-up each).
            students = {k[0] for k in self._made if k[0]}
            limit = self.workers if not key[0] or students <= {key[0]} else 1
            pool = self._pools.setdefault(key, queue.Queue())
            if pool.empty() and len(self._made.get(key, [])) < limit:
                return self._new(key)
        server = pool.get()
        if server is None:  # the session was closed while this run waited for its sandbox
            pool.put(None)
            raise SandboxError("the grading session is closed")
        return server

    def _release(self, key: tuple, server: ForkServer, broken: bool) -> None:
        if not self.fork_server:
            self._close([server])
            return
        if self._closed:  # close() stopped it (with every other sandbox of the session)
            return
        if broken or server.proc.poll() is not None:
            self._close([server])
            with self._lock:
                self._made[key].remove(server)
                server = self._new(key)
        self._pools[key].put(server)

    def release(self, source: Path) -> None:
        """The submission is graded: stop its sandboxes and remove its prepared copies."""
        owner = _owner(source)
        with self._lock:
            keys = [k for k in self._made if k[0] == owner]
            servers = [s for k in keys for s in self._made.pop(k)]
            for k in keys:
                self._pools.pop(k, None)
            folder = self._owners.pop(owner, None)
            uid = self._uids.pop(owner, None)
            for k in [k for k in self._heavy if k[0] == owner]:
                del self._heavy[k]
        self._close(servers)
        if uid is not None and uid != self.run_as:
            uid_backend.kill_uid(uid)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self, wait: bool = False) -> None:
        """Stop every sandbox of the session and remove its folders."""
        with self._lock:
            self._closed = True  # a run that ends now gets no new sandbox
            servers = [s for group in self._made.values() for s in group]
            self._made.clear()
            pools = list(self._pools.values())
            self._pools.clear()
            uids = list(self._uids.values())
            self._uids.clear()
        for pool in pools:  # a run waiting for its sandbox is told
            pool.put(None)
        self._close(servers)
        for zygote in self.zygotes + self.light_zygotes:
            zygote.close()
        for uid in set(uids):
            uid_backend.kill_uid(uid)
        shutil.rmtree(self.root, ignore_errors=True)
        self._profile()

    def _close(self, servers: list[ForkServer]) -> None:
        """Stop sandboxes, keeping the CPU each used in all (its cgroup's count, killed processes included)."""
        close_all(servers)
        used = [s.cgroup.used_cpu_s if s.cgroup is not None else None for s in servers]
        with self._lock:
            self.stats["sandboxes"] += len(servers)
            self.stats["sandboxes_counted"] += sum(u is not None for u in used)
            self.stats["in_sandboxes_cpu_s"] += sum(u for u in used if u is not None)

    def _profile(self) -> None:
        """Where the session's CPU went (``stats``, read by `grade batch --profile`), once it is closed.

        Each sandbox's cgroup counts all it used, the processes killed at a limit too; the kernel's
        children accounting (the fallback where there are no cgroups) misses those, since a killed
        sandbox's processes are never waited for. So with cgroups the total is the grader's own
        process, the zygotes' imports and the sandboxes' cgroups, and the parts add up to it;
        without, the total is the grader and what it waited for, and a part may exceed it."""
        grader, children = (now - then for now, then in zip(_cpu_here(), self._started_cpu))
        imports = sum(z.cpu_s["own"] for z in self.zygotes + self.light_zygotes)
        runs = self.stats["runs_cpu_s"] + self.stats["reference_cpu_s"]
        counted = self.stats["sandboxes"] > 0 and self.stats["sandboxes_counted"] == self.stats["sandboxes"]
        inside = self.stats["in_sandboxes_cpu_s"] if counted else children - imports
        for row in self.stats["stages"].values():
            row["mean_ms"] = 1000 * row["wall_s"] / max(row["runs"], 1)
        self.stats.update(grader_cpu_s=grader, zygotes=len(self.zygotes + self.light_zygotes),
                          zygote_imports_cpu_s=imports, sandboxes_cpu_s=max(0.0, inside - runs),
                          counted_by="cgroups" if counted else "rusage",
                          total_cpu_s=grader + imports + inside if counted else grader + children)

    def _stage_stats(self, job: Job) -> dict:
        """The students' runs of the job's stage (under the lock)."""
        return self.stats["stages"].setdefault(job.stage or job.file, {
            "file": job.file, "runs": 0, "cpu_s": 0.0, "wall_s": 0.0, "max_ms": 0.0, "stepped_aside": 0})

    def _record(self, job: Job, outcome: Outcome, sandbox_cpu_s: Optional[float]) -> None:
        """A run's CPU: what its process tree used (the fork server waited for it), or, for a run killed
        at a limit (never waited for), what its sandbox used meanwhile (one run at a time in a sandbox)."""
        cpu = outcome.cpu_s if outcome.cpu_s or sandbox_cpu_s is None else sandbox_cpu_s
        with self._lock:
            self.stats["reference_runs" if job.trusted else "runs"] += 1
            self.stats["reference_cpu_s" if job.trusted else "runs_cpu_s"] += cpu
            if not job.trusted:
                row = self._stage_stats(job)
                row["runs"] += 1
                row["cpu_s"] += cpu
                row["wall_s"] += outcome.wall_s
                row["max_ms"] = max(row["max_ms"], 1000 * outcome.wall_s)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def run(self, job: Job, on_records: Optional[Callable[[Outcome], None]] = None) -> Outcome:
        """The job's run; `on_records` is called with the run so far (records.Streamed) each time
        it completes a record (the engine judges each case as it comes)."""
        if find_source(job.source, job.file) is None:
            return Outcome(None, {}, None, None, None, 0.0, 0.0, 0.0, "", missing_file=True)
        key = self._key(job)
        folders = self._folders(key[0])
        folder = folders["staging"] / f"job-{next(self._ids)}"
        try:
            folder.mkdir()
            copy_workspace(job.contents or walk(job.source), folder / "work")
            if job.module_text is not None:  # read once for every stage of the submission
                write_module(folder / "work", job.file, job.module_text)
            else:
                prepare_sources(folder / "work", {job.file})  # notebooks, encodings, name case (grader/sources.py)
            for path in job.support:
                target = folder / "work" / path.name
                if target.is_dir() or target.is_symlink():  # the engine has told the student already
                    raise SandboxError(f"{path.name} in the submission is not a file")
                shutil.copyfile(path, target)
            inputs = self._inputs(job)
            queued: list[float] = []
            used: list[Optional[float]] = []  # the sandbox's CPU during the run (its cgroup)

            def streamed() -> Optional[Callable[[list[bytes]], None]]:
                return None if on_records is None else Streamed(job.limits, on_records).heard
            try:
                report, payload = self._run_on(key, job, folder, inputs, queued, used, streamed())
            except BrokenPipeError:  # the sandbox was gone before the job reached it: one fresh try
                report, payload = self._run_on(key, job, folder, inputs, queued, used, streamed())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        outcome = collect(report, payload, job.limits)
        outcome.queued_s = sum(queued)
        self._record(job, outcome, used[-1] if used else None)
        return outcome

    def _run_on(self, key: tuple, job: Job, folder: Path, inputs: Path, queued: list[float],
                used: list[Optional[float]],
                streamed: Optional[Callable[[list[bytes]], None]] = None) -> tuple[dict, list[bytes]]:
        """One job on one of the key's fork servers; a server that failed is replaced. `queued` gets the
        time it waited for the server, `used` the CPU the sandbox used while it ran (None: no cgroup);
        `streamed` hears the records relayed while it runs."""
        asked = time.perf_counter()
        server = self._acquire(key)
        queued.append(time.perf_counter() - asked)
        if server.proc.poll() is not None:  # it died while idle (e.g. killed with its run): a fresh one
            self._release(key, server, True)
            server = self._acquire(key)
        broken = False
        try:
            if job.trusted:  # the reference's one sandbox serves every student: import torch, sympy once
                server.load(tuple(sorted(job.requires)))
            # a submission's own sandbox runs each stage once: its run imports what it needs itself,
            # so a student who never imports sympy does not pay for it
            before = server.cgroup.cpu_s() if server.cgroup is not None else None
            spec = {**self._spec(job, server, folder, inputs), "stream": streamed is not None}
            try:
                report, payload = server.run(spec, job.limits, lambda: self._stepped_aside(key[0], server, job),
                                             streamed)
            finally:
                after = server.cgroup.cpu_s() if server.cgroup is not None else None
                used.append(None if before is None or after is None else max(0.0, after - before))
            broken = report.get("exited") is None
            return report, payload
        except (SandboxError, OSError, ValueError):
            broken = True
            raise
        finally:
            with self._lock:
                self._aside.discard(server)
            self._release(key, server, broken)

    def _spec(self, job: Job, server: ForkServer, folder: Path, inputs: Path) -> dict:
        run_dir = f"{server.work}/{folder.name}"
        limits = job.limits
        cgroup = server.cgroup is not None and server.cgroup.memory is not None
        return {
            "copy_from": server.inside(folder / "work"),
            "workdir": f"{run_dir}/work",
            "inputs": server.inside(inputs),
            "results": f"{run_dir}/results",
            "output": f"{run_dir}/output.txt",
            "file": job.file,
            "cases": [{k: v for k, v in case.items() if k != "inputs"} for case in job.cases],
            "seed": job.seed,
            "trusted": job.trusted,
            "torch": "torch" in job.requires,
            "driver_source": job.driver_source,
            "driver_code": server.inside(self._driver_code(job.driver_source)) if job.driver_source else None,
            "caps": [limits.records_bytes, limits.result_bytes, limits.output_bytes + limits.output_keep_bytes, ERROR_CAP],
            "env": {
                "PATH": "/usr/bin:/bin", "HOME": f"{run_dir}/work", "TMPDIR": f"{run_dir}/work", "LANG": "C.UTF-8",
                "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
            },
            "limits": {
                "time_s": limits.time_s,
                "wall_s": wall_backstop(limits),
                "demote_cpu_s": self._step_aside_after(job),
                "cpu_s": limits.time_s + 1,
                "output_bytes": limits.output_bytes,
                "output_keep": limits.output_keep_bytes,
                "result_bytes": limits.result_bytes,
                "file_bytes": max(limits.output_bytes, limits.result_bytes) + (1 << 20),
                "memory_bytes": None if cgroup or not server.isolated else _address_space(limits),
                "nproc": None if server.cgroup and server.cgroup.dirs else (PIDS_MAX if server.isolated else None),
            },
        }

    def _step_aside_after(self, job: Job) -> Optional[float]:
        """CPU-seconds after which the job's run steps aside; None for the reference, for a session
        nobody else shares (no `on_demote`: a student's own `grade` of a folder, where stepping
        aside would make room for nothing and only end a loop later on a busy machine), and for a
        stage whose limit is under twice that (its run would have little left to do at idle
        priority, and would only end later)."""
        if job.trusted or self.on_demote is None or job.limits.time_s < 2 * self.demote_cpu_s:
            return None
        return self.demote_cpu_s

    def _driver_code(self, source: str) -> Path:
        """The driver compiled once for the session (`marshal`, this Python's own format), beside the
        inputs, read-only to the runs: each run used to compile it afresh (1 to 7 ms a run)."""
        import hashlib
        import marshal

        with self._lock:
            path = self._drivers.get(source)
            if path is None:
                path = self.root / "inputs" / f"driver-{hashlib.sha256(source.encode()).hexdigest()[:24]}.marshal"
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(marshal.dumps(compile(source, "driver.py", "exec")))
                tmp.chmod(0o644)
                tmp.replace(path)
                self._drivers[source] = path
        return path

    def _inputs(self, job: Job) -> Path:
        """The job's inputs as files: written once per `inputs_key`, shared by its runs (read-only to them)."""
        from grader.sandbox.child import Arrays, RecordWriter, encode

        key = job.inputs_key or f"job-{next(self._ids)}"
        folder = self.root / "inputs" / f"inputs-{key}"
        with self._lock:
            if not (folder / "complete").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(mode=0o755)
                writer = RecordWriter(str(folder), "inputs")
                for case in job.cases:
                    arrays = Arrays(1 << 31)
                    writer.write(case["key"], encode(case["inputs"], arrays), arrays)
                writer.close()
                (folder / "complete").touch()
        return folder


def _cpu_here() -> tuple[float, float]:
    """CPU-seconds of this process, and of its waited-for children (sandboxes, zygotes and what they waited for)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _owner(source: Optional[Path]) -> str:
    return "" if source is None else str(Path(source).resolve())


def _address_space(limits: Limits) -> int:
    """The rlimit fallback when no memory cgroup can be made: generous, since libraries reserve address space."""
    return (limits.memory_mb << 20) + (2 << 30)


def copy_workspace(contents: Contents, dest: Path) -> None:
    """Copy a submission as its one walk saw it: regular files only, each read bounded, size-capped."""
    if contents.over:
        raise SandboxError(f"the submission folder is larger than {COPY_CAP >> 20} MB")
    copy_into(contents, dest)
