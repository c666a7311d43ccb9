"""Running code in isolated child processes, with limits, and collecting what came back.

The grader keeps a few *fork servers* (``child.py``): Python processes that have imported
numpy (and torch for torch stages) once and fork a fresh, isolated child per run. Each run
gets a temporary folder::

    job-N/work/      copy of the submission + trusted support files (the cwd of the run)
    inputs-KEY/      the case inputs (JSON lines + raw arrays), read before student code starts, written
                     once and shared by every run of the same stage and seed
    job-N/results/   what the run sends back (JSON lines + raw arrays, never pickle)
    job-N/output.txt the run's stdout and stderr, capped

While a run goes on, the grader watches its wall time, resident memory and output size
and kills its whole process group when a limit is crossed; the fork server then kills
anything the run left behind.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from grader.child import decode, read_records
from grader.sources import find_source, prepare_sources

CHILD = Path(__file__).resolve().with_name("child.py")
POLL_S = 0.01
OUTPUT_CAP = 1 << 20  # bytes of stdout+stderr a run may print before it is stopped
OUTPUT_KEEP = 16 << 10  # bytes of it kept for the report, per case and for the import
COPY_CAP = 50 << 20  # a submission folder larger than this is refused
NOBODY = 65534


class SandboxError(Exception):
    """The grader could not run the job at all (not the submission's fault)."""


@dataclass
class Limits:
    time_s: float
    memory_mb: int
    output_bytes: int = OUTPUT_CAP
    result_bytes: int = 256 << 20


@dataclass
class Job:
    """One run: a module file of a workspace, and the calls to make on it."""

    source: Path  # the workspace folder to copy
    file: str  # the module to import, e.g. "metrics.py"
    cases: list[dict]  # {"key", "call", "seed", "inputs": encoded tree, "mistakes": {name: expr}}
    limits: Limits
    seed: int
    trusted: bool = False  # the reference: no audit hook, no privilege drop
    support: list[Path] = field(default_factory=list)
    driver_source: Optional[str] = None
    requires: tuple[str, ...] = ()  # modules the fork server preloads (e.g. torch, sympy)
    inputs_key: Optional[str] = None  # runs with the same key share one copy of the inputs
    forbidden: list[Path] = field(default_factory=list)


@dataclass
class Outcome:
    """What a run left: import result, per-case records, how it ended, its output."""

    imported: Optional[dict]
    cases: dict[str, dict]
    killed: Optional[str]  # "timeout" | "memory" | "output" | None
    exit_code: Optional[int]
    signal: Optional[int]
    wall_s: float
    cpu_s: float
    peak_mb: float
    output: str
    runner_error: Optional[str] = None
    missing_file: bool = False
    timeline: dict = field(default_factory=dict)  # wall-clock marks of the run's phases

    def output_between(self, start: Optional[int], end: Optional[int]) -> str:
        if start is None:
            return ""
        chunk = self._raw[start:end] if end is not None else self._raw[start:]
        return chunk[:OUTPUT_KEEP].decode("utf-8", errors="replace")

    _raw: bytes = b""


class ForkServer:
    """One ``child.py`` process serving one job at a time."""

    def __init__(self, preload: tuple[str, ...]):
        self.preload = preload
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(CHILD), *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
        )
        self.ready = False
        self._buffer = b""

    def _read(self, deadline: Optional[float]) -> Optional[dict]:
        """The server's next message, or None when the deadline passes first."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([fd], [], [], timeout)
            if not readable:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise SandboxError("the sandbox's fork server stopped unexpectedly")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _wait_ready(self) -> None:
        if not self.ready:
            msg = self._read(time.monotonic() + 120)
            if not msg or "ready" not in msg:
                raise SandboxError("the sandbox's fork server did not start (is numpy installed?)")
            self.ready = True

    def run(self, spec: dict, limits: Limits, output_path: Path) -> dict:
        """Send one job, police its limits, return the server's exit report plus `killed`."""
        self._wait_ready()
        self.proc.stdin.write((json.dumps(spec) + "\n").encode())
        self.proc.stdin.flush()
        started_msg = self._read(time.monotonic() + 30)
        if not started_msg or "started" not in started_msg:
            raise SandboxError("the sandbox did not start the run")
        pid = started_msg["started"]
        start = time.monotonic()
        killed = None
        page = os.sysconf("SC_PAGE_SIZE")
        peak = 0
        while True:
            msg = self._read(time.monotonic() + POLL_S)
            if msg is not None:
                msg["killed"], msg["wall_s"] = killed, time.monotonic() - start
                msg["peak_mb"] = max(peak, msg.get("maxrss_kb", 0) * 1024) / 2**20
                return msg
            if killed:
                continue
            reason = None
            if time.monotonic() - start > limits.time_s:
                reason = "timeout"
            else:
                try:
                    with open(f"/proc/{pid}/statm") as fh:
                        rss = int(fh.read().split()[1]) * page
                    peak = max(peak, rss)
                    if rss > limits.memory_mb * 2**20:
                        reason = "memory"
                except (OSError, ValueError, IndexError):
                    pass
                try:
                    if output_path.stat().st_size > limits.output_bytes:
                        reason = "output"
                except OSError:
                    pass
            if reason:
                killed = reason
                for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                    try:
                        target()
                    except (ProcessLookupError, PermissionError):
                        pass

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        self.stop()
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Sandbox:
    """A pool of fork servers and the temporary folders of the runs.

    ``fork_server=False`` starts a fresh Python for every run instead (slower; the
    baseline the benchmarks compare against).
    """

    def __init__(self, workers: int = 2, fork_server: bool = True):
        self.workers = max(1, workers)
        self.fork_server = fork_server
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=runs_folder()))
        os.chmod(self.root, 0o711)
        self._ids = itertools.count()
        self._pools: dict[tuple[str, ...], queue.Queue] = {}
        self._made: dict[tuple[str, ...], int] = {}
        self._all: list[ForkServer] = []
        self._lock = threading.Lock()
        self.run_as = NOBODY if os.geteuid() == 0 and python_readable_by_others() else None

    # -- pool ----------------------------------------------------------------------------

    def warm(self, preload: tuple[str, ...] = ("numpy",), count: Optional[int] = None) -> None:
        """Start fork servers ahead of time so their imports overlap other work."""
        if not self.fork_server:
            return
        for _ in range(count or self.workers):
            with self._lock:
                pool = self._pools.setdefault(preload, queue.Queue())
                if self._made.get(preload, 0) >= self.workers:
                    return
                self._made[preload] = self._made.get(preload, 0) + 1
                server = ForkServer(preload)
                self._all.append(server)
            pool.put(server)

    def _acquire(self, preload: tuple[str, ...]) -> ForkServer:
        if not self.fork_server:
            return ForkServer(preload)
        with self._lock:
            pool = self._pools.setdefault(preload, queue.Queue())
            if pool.empty() and self._made.get(preload, 0) < self.workers:
                self._made[preload] = self._made.get(preload, 0) + 1
                server = ForkServer(preload)
                self._all.append(server)
                return server
        return pool.get()

    def _release(self, server: ForkServer, broken: bool) -> None:
        if not self.fork_server:
            server.close()
            return
        if broken or server.proc.poll() is not None:
            server.close()
            with self._lock:
                self._all.remove(server)
                server = ForkServer(server.preload)
                self._all.append(server)
        self._pools[server.preload].put(server)

    def close(self, wait: bool = False) -> None:
        """Stop the fork servers: each exits (and tidies its cgroup) once its stdin closes."""
        for server in list(self._all):
            server.stop()
        if wait:
            for server in list(self._all):
                server.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def run(self, job: Job) -> Outcome:
        folder = self.root / f"job-{next(self._ids)}"
        try:
            return self._run(job, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _prepare(self, job: Job, folder: Path) -> dict:
        from grader.child import encode

        work, results = folder / "work", folder / "results"
        folder.mkdir(mode=0o700)
        copy_workspace(job.source, work)
        prepare_sources(work, {job.file})  # notebooks, encodings, name case (grader/sources.py)
        for path in job.support:
            shutil.copyfile(path, work / path.name)
        results.mkdir()
        output = folder / "output.txt"
        output.touch()
        inputs = self._inputs(job)
        cases = [{k: v for k, v in case.items() if k != "inputs"} for case in job.cases]
        if self.run_as is not None and not job.trusted:
            for path in [work, results, output, *work.rglob("*")]:
                os.chown(path, self.run_as, self.run_as)
            os.chmod(folder, 0o711)
        return {
            "workdir": str(work),
            "inputs": str(inputs),
            "results": str(results),
            "output": str(output),
            "file": job.file,
            "cases": cases,
            "seed": job.seed,
            "trusted": job.trusted,
            "torch": "torch" in job.requires,
            "driver_source": job.driver_source,
            "forbidden": [str(p) for p in job.forbidden] + [str(runs_folder())],
            "run_as_uid": self.run_as,
            "run_as_gid": self.run_as,
            "env": {
                "PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
                "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
            },
            "limits": {
                "cpu_s": job.limits.time_s + 1,
                "file_bytes": max(job.limits.output_bytes, job.limits.result_bytes) + (1 << 20),
                "result_bytes": job.limits.result_bytes,
            },
        }

    def _inputs(self, job: Job) -> Path:
        """The job's inputs as files: written once per `inputs_key`, shared by its runs."""
        from grader.child import Arrays, RecordWriter, encode

        key = job.inputs_key or f"job-{next(self._ids)}"
        folder = self.root / f"inputs-{key}"
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

    def _run(self, job: Job, folder: Path) -> Outcome:
        if find_source(job.source, job.file) is None:
            return Outcome(None, {}, None, None, None, 0.0, 0.0, 0.0, "", missing_file=True)
        spec = self._prepare(job, folder)
        preload = ("numpy", *sorted(job.requires))
        server = self._acquire(preload)
        broken = False
        try:
            report = server.run(spec, job.limits, folder / "output.txt")
        except (SandboxError, OSError, ValueError):
            broken = True
            raise
        finally:
            self._release(server, broken)
        return collect(folder, report)


def collect(folder: Path, report: dict) -> Outcome:
    """Read back a finished run's records; nothing in them can execute code."""
    results = folder / "results"
    records: dict[str, dict] = {}
    imported = None
    runner_error = None
    for key, (data, arrays) in read_records(str(results), "results").items():
        if not isinstance(data, dict):
            continue
        if key == "import":
            imported = data
        elif "unreadable" in data:
            records[key] = {"error": {"type": "ResultError", "message": f"its result could not be read "
                                      f"({data['unreadable']})", "line": None, "traceback": ""}}
        else:
            records[key] = _decode_record(data, arrays)
    try:
        runner_error = json.loads((results / "runner_error.json").read_text())["traceback"][-4000:]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(folder / "output.txt", "rb") as fh:
            raw = fh.read(OUTPUT_CAP + OUTPUT_KEEP)
    except OSError:
        raw = b""
    outcome = Outcome(
        imported=imported,
        cases=records,
        killed=report.get("killed"),
        exit_code=report.get("code"),
        signal=report.get("signal"),
        wall_s=report.get("wall_s", 0.0),
        cpu_s=report.get("cpu_s", 0.0),
        peak_mb=report.get("peak_mb", 0.0),
        output=raw[:OUTPUT_KEEP].decode("utf-8", errors="replace"),
        runner_error=runner_error,
        timeline={**(imported or {}).get("timeline", {}), **report.get("timeline", {})},
    )
    outcome._raw = raw
    return outcome


def runs_folder() -> Path:
    """The parent of every sandbox's runs on this machine; no run may read another's."""
    path = Path(tempfile.gettempdir()) / f"grade-runs-{os.geteuid()}"
    path.mkdir(mode=0o711, exist_ok=True)
    return path


def python_readable_by_others() -> bool:
    """Whether an unprivileged user could run this Python (e.g. not when it lives in /root)."""
    paths = [os.path.realpath(sys.executable)] + [p for p in sys.path if p and os.path.isdir(p)]
    for path in paths:
        path = os.path.realpath(path)
        while True:
            parent = os.path.dirname(path)
            if parent == path:
                break
            try:
                if not os.stat(parent).st_mode & 0o001:
                    return False
            except OSError:
                return False
            path = parent
    return True


def _decode_record(record: dict, arrays: list) -> dict:
    try:
        if "value" in record:
            record["value"] = decode(record["value"], arrays)
        for name, tree in list(record.get("mistakes", {}).items()):
            record["mistakes"][name] = None if isinstance(tree, dict) and "$error" in tree else decode(tree, arrays)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        record.pop("value", None)
        record["error"] = {"type": "ResultError", "message": f"its result could not be read ({exc})",
                           "line": None, "traceback": ""}
    return record


def copy_workspace(source: Path, dest: Path) -> None:
    """Copy a submission: regular files only (no symlinks, sockets...), size-capped."""
    total = 0
    dest.mkdir()
    for root, dirs, files in os.walk(source, followlinks=False):
        rel = Path(root).relative_to(source)
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".git", ".venv", "node_modules")
                   and not (Path(root) / d).is_symlink()]
        for d in dirs:
            (dest / rel / d).mkdir(exist_ok=True)
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            total += path.stat().st_size
            if total > COPY_CAP:
                raise SandboxError(f"the submission folder is larger than {COPY_CAP >> 20} MB")
            shutil.copyfile(path, dest / rel / name)
