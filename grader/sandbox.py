"""Running code in isolated child processes, with limits, and collecting what came back.

Every submission gets a sandbox of its own (grader/isolation.py: bubblewrap, a memory and
pids cgroup, seccomp), never shared with another submission; the reference gets its own for
the whole session. Inside each runs a *fork server* (``child.py``) that has imported numpy
once and forks a fresh child per run; the reference's also imports what its stages require
(torch, sympy) once, since it serves every student. The grader prepares each run's working copy (the submission plus
the course's support files) in a host folder the sandbox sees read-only at /in, and the
case inputs in a folder it sees read-only at /inputs; the run copies its working copy to
the sandbox's own size-capped tmpfs. What a run leaves comes back through the fork server's
stdout: a JSON header with sizes, then the bytes, every read with a deadline and a cap, and
is parsed as hostile input (depth, types, array bounds and total size checked).

``Sandbox(require_isolation=True)`` refuses to run where no sandbox can be built;
otherwise the fork servers then run unisolated (a student's local self-check) and
``Sandbox.isolated`` says so.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
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

from grader import isolation, seccomp
from grader.isolation import runs_folder  # noqa: F401 - where runs live (tests use it from here)
from grader.child import decode
from grader.sources import find_source, prepare_sources

CHILD = Path(__file__).resolve().with_name("child.py")
POLL_S = 0.01
OUTPUT_CAP = 1 << 20  # bytes of stdout+stderr a run may print before it is stopped
OUTPUT_KEEP = 16 << 10  # bytes of it kept for the report, per case and for the import
COPY_CAP = 50 << 20  # a submission folder larger than this is refused
PIDS_MAX = 64  # processes a sandbox may hold at once
MEMORY_SLACK = 64 << 20  # bytes a sandbox may use above its fork server's baseline plus the stage's limit
RECORDS_CAP = 16 << 20  # bytes of JSON records a run may send back
ERROR_CAP = 64 << 10


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
    requires: tuple[str, ...] = ()  # modules the stage needs (torch, sympy); the reference's server preloads them
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
    queued_s: float = 0.0  # time the run waited for its sandbox (busy with the submission's other stages)

    def output_between(self, start: Optional[int], end: Optional[int]) -> str:
        if start is None:
            return ""
        chunk = self._raw[start:end] if end is not None else self._raw[start:]
        return chunk[:OUTPUT_KEEP].decode("utf-8", errors="replace")

    _raw: bytes = b""


class ForkServer:
    """One ``child.py`` fork server inside its own sandbox, serving one job at a time."""

    def __init__(self, preload: tuple[str, ...], folders: dict[str, Path], isolated: bool):
        self.preload = preload
        self.isolated = isolated
        self.cgroup = isolation.Cgroup(PIDS_MAX) if isolated else None
        argv = [a for d in isolation.site_dirs() for a in ("--site", d)] + list(preload)
        if isolated:
            self.paths = {"/in": folders["staging"], "/inputs": folders["inputs"]}
            self.work = isolation.WORK_DIR
            fd = seccomp.filter_fd(runs_folder())
            cmd = isolation.bwrap_command(child_program(), self.paths, fd, argv)
            cmd = _into_cgroups(self.cgroup, cmd)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            self.paths = {}
            self.work = str(folders["work"])
            fd = None
            cmd = [sys.executable, "-I", "-S", str(child_program()), *argv]
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
            env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=env, cwd="/", start_new_session=True,
                                         pass_fds=(fd,) if fd is not None else ())
        finally:
            if fd is not None:
                os.close(fd)
        self.ready = False
        self.baseline = 0
        self.loaded = set(preload)
        self._buffer = b""

    def inside(self, host: Path) -> str:
        """Where a host folder bound into the sandbox appears inside it."""
        for inside, folder in self.paths.items():
            if host == folder or folder in host.parents:
                return inside + "/" + str(host.relative_to(folder)) if host != folder else inside
        return str(host)

    def _fill(self, size: int, deadline: Optional[float]) -> bool:
        fd = self.proc.stdout.fileno()
        while len(self._buffer) < size:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([fd], [], [], timeout)
            if not readable:
                return False
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise SandboxError("the sandbox's fork server stopped unexpectedly")
            self._buffer += chunk
        return True

    def _read(self, deadline: Optional[float]) -> Optional[dict]:
        """The server's next header line, or None when the deadline passes first."""
        while b"\n" not in self._buffer:
            if len(self._buffer) > 1 << 16:
                raise SandboxError("the sandbox sent an overlong message")
            if not self._fill(len(self._buffer) + 1, deadline):
                return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            raise SandboxError("the sandbox sent an unreadable message") from None
        if not isinstance(msg, dict):
            raise SandboxError("the sandbox sent an unreadable message")
        return msg

    def _payload(self, msg: dict, caps: list[int], deadline: float) -> list[bytes]:
        sizes = msg.get("sizes")
        if (not isinstance(sizes, list) or len(sizes) != len(caps)
                or not all(type(n) is int and 0 <= n <= cap for n, cap in zip(sizes, caps))):
            raise SandboxError("the sandbox sent more than the grader accepts")
        if not self._fill(sum(sizes), deadline):
            raise SandboxError("the sandbox stopped sending its results")
        out = []
        for n in sizes:
            out.append(self._buffer[:n])
            self._buffer = self._buffer[n:]
        return out

    def _wait_ready(self) -> None:
        if not self.ready:
            msg = self._read(time.monotonic() + 120)
            if not msg or "ready" not in msg:
                raise SandboxError("the sandbox's fork server did not start (is numpy installed?)")
            self.ready = True
            self.baseline = self.cgroup.usage() if self.cgroup else 0

    def load(self, modules: tuple[str, ...]) -> None:
        """Have the fork server import what a stage needs (once), then take its memory baseline again."""
        self._wait_ready()
        missing = [m for m in modules if m not in self.loaded]
        if not missing:
            return
        self.proc.stdin.write((json.dumps({"preload": missing}) + "\n").encode())
        self.proc.stdin.flush()
        msg = self._read(time.monotonic() + 120)
        if not msg or "preloaded" not in msg:
            raise SandboxError("the sandbox could not import " + ", ".join(missing))
        self.loaded.update(missing)
        self.baseline = self.cgroup.usage() if self.cgroup else 0

    def run(self, spec: dict, limits: Limits) -> tuple[dict, list[bytes]]:
        """Send one job and wait for its report; past the deadline the whole sandbox is killed."""
        self._wait_ready()
        oom_before = self.cgroup.oom_kills() if self.cgroup else 0
        if self.cgroup and self.cgroup.memory:
            self.cgroup.set_memory(self.baseline + limits.memory_mb * 2**20 + MEMORY_SLACK)
        self.proc.stdin.write((json.dumps(spec) + "\n").encode())
        self.proc.stdin.flush()
        started_msg = self._read(time.monotonic() + 30)
        if not started_msg or "started" not in started_msg:
            raise SandboxError("the sandbox did not start the run")
        start = time.monotonic()
        deadline = start + limits.time_s + 2.0
        stopped = False
        try:
            msg = self._read(deadline)
            payload = self._payload(msg, spec["caps"], deadline + 5) if msg is not None and "exited" in msg else None
        except SandboxError:  # the fork server died (killed by its own run) or sent garbage
            msg = payload = None
            stopped = True
        memory = bool(self.cgroup and self.cgroup.oom_kills() > oom_before)
        if payload is None:
            self.kill()
            killed = "memory" if memory else None if stopped else "timeout"
            return {"killed": killed, "signal": signal.SIGKILL if stopped else None,
                    "wall_s": time.monotonic() - start}, [b""] * 4
        return self._ended(msg, memory, time.monotonic() - start), payload

    def _ended(self, msg: dict, memory: bool, wall_s: float) -> dict:
        """The fork server's report of a finished run, with what only the grader can tell (memory)."""
        msg["wall_s"] = wall_s
        msg["killed"] = "memory" if memory else msg.get("killed") if msg.get("killed") in ("timeout", "output") else None
        peak = (self.cgroup.peak() - self.baseline) if self.cgroup and self.cgroup.memory else 0
        rss = msg.get("maxrss_kb", 0) if type(msg.get("maxrss_kb")) in (int, float) else 0
        msg["peak_mb"] = max(peak, rss * 1024) / 2**20
        return msg

    def kill(self) -> None:
        """Stop the sandbox and everything in it."""
        if self.cgroup:
            self.cgroup.kill_all()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()

    def stop(self) -> None:
        """Ask the fork server to end (it exits when its stdin closes)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        self.stop()
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.proc.wait()
        if self.cgroup:
            self.cgroup.remove()


def _into_cgroups(cgroup: Optional[isolation.Cgroup], cmd: list[str]) -> list[str]:
    """Prefix ``cmd`` so that it starts inside the cgroup (its first process, before any fork)."""
    files = cgroup.procs_files() if cgroup else []
    if not files:
        return cmd
    script = " && ".join(f'echo $$ > "${i + 1}"' for i in range(len(files))) + f" && shift {len(files)} && exec \"$@\""
    return ["/bin/sh", "-c", script, "sh", *files, *cmd]


class Sandbox:
    """The sandboxes of a grading session: one per submission, plus the reference's.

    ``release(source)`` stops a submission's sandboxes once it is graded. ``fork_server=False``
    starts a fresh sandbox for every run instead (slower; the baseline of the benchmarks).
    """

    def __init__(self, workers: int = 2, fork_server: bool = True, require_isolation: bool = False):
        self.isolated, self.why = isolation.isolation()
        if require_isolation and not self.isolated:
            raise isolation.IsolationError(f"no sandbox can be built on this machine: {self.why}")
        self.workers = max(1, workers)
        self.fork_server = fork_server
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=runs_folder()))
        (self.root / "inputs").mkdir()
        self._ids = itertools.count()
        self._owners: dict[str, Path] = {}
        self._pools: dict[tuple, queue.Queue] = {}
        self._made: dict[tuple, list[ForkServer]] = {}
        self._lock = threading.RLock()

    # -- pool ----------------------------------------------------------------------------

    def _folders(self, owner: str) -> dict[str, Path]:
        with self._lock:
            if owner not in self._owners:
                self._owners[owner] = self.root / f"sb-{next(self._ids)}"
                self._owners[owner].mkdir()
                (self._owners[owner] / "work").mkdir()
        staging = self._owners[owner]
        return {"staging": staging, "inputs": self.root / "inputs", "work": staging / "work"}

    def _new(self, key: tuple) -> ForkServer:
        server = ForkServer(key[1], self._folders(key[0]), self.isolated)
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
            return ForkServer(key[1], self._folders(key[0]), self.isolated)
        with self._lock:
            # One submission alone (a self-check) may use every worker; in a batch the
            # submissions run side by side, so each gets one sandbox (one start-up each).
            students = {k[0] for k in self._made if k[0]}
            limit = self.workers if not key[0] or students <= {key[0]} else 1
            pool = self._pools.setdefault(key, queue.Queue())
            if pool.empty() and len(self._made.get(key, [])) < limit:
                return self._new(key)
        return pool.get()

    def _release(self, key: tuple, server: ForkServer, broken: bool) -> None:
        if not self.fork_server:
            server.close()
            return
        if broken or server.proc.poll() is not None:
            server.close()
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
        _close_all(servers)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self, wait: bool = False) -> None:
        """Stop every sandbox of the session and remove its folders."""
        with self._lock:
            servers = [s for group in self._made.values() for s in group]
            self._made.clear()
            self._pools.clear()
        _close_all(servers)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def run(self, job: Job) -> Outcome:
        if find_source(job.source, job.file) is None:
            return Outcome(None, {}, None, None, None, 0.0, 0.0, 0.0, "", missing_file=True)
        key = ("" if job.trusted else _owner(job.source), ("numpy",))
        folders = self._folders(key[0])
        folder = folders["staging"] / f"job-{next(self._ids)}"
        try:
            folder.mkdir()
            copy_workspace(job.source, folder / "work")
            prepare_sources(folder / "work", {job.file})  # notebooks, encodings, name case (grader/sources.py)
            for path in job.support:
                shutil.copyfile(path, folder / "work" / path.name)
            inputs = self._inputs(job)
            queued: list[float] = []
            try:
                report, payload = self._run_on(key, job, folder, inputs, queued)
            except BrokenPipeError:  # the sandbox was gone before the job reached it: one fresh try
                report, payload = self._run_on(key, job, folder, inputs, queued)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        outcome = collect(report, payload, job.limits)
        outcome.queued_s = sum(queued)
        return outcome

    def _run_on(self, key: tuple, job: Job, folder: Path, inputs: Path,
                queued: list[float]) -> tuple[dict, list[bytes]]:
        """One job on one of the key's fork servers; a server that failed is replaced."""
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
            report, payload = server.run(self._spec(job, server, folder, inputs), job.limits)
            broken = report.get("exited") is None
            return report, payload
        except (SandboxError, OSError, ValueError):
            broken = True
            raise
        finally:
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
            "caps": [RECORDS_CAP, limits.result_bytes, limits.output_bytes + OUTPUT_KEEP, ERROR_CAP],
            "env": {
                "PATH": "/usr/bin:/bin", "HOME": f"{run_dir}/work", "TMPDIR": f"{run_dir}/work", "LANG": "C.UTF-8",
                "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
            },
            "limits": {
                "time_s": limits.time_s,
                "cpu_s": limits.time_s + 1,
                "output_bytes": limits.output_bytes,
                "output_keep": OUTPUT_KEEP,
                "result_bytes": limits.result_bytes,
                "file_bytes": max(limits.output_bytes, limits.result_bytes) + (1 << 20),
                "memory_bytes": None if cgroup or not server.isolated else _address_space(limits),
                "nproc": None if server.cgroup and server.cgroup.dirs else (PIDS_MAX if server.isolated else None),
            },
        }

    def _inputs(self, job: Job) -> Path:
        """The job's inputs as files: written once per `inputs_key`, shared by its runs (read-only to them)."""
        from grader.child import Arrays, RecordWriter, encode

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


def _close_all(servers: list[ForkServer]) -> None:
    """Stop sandboxes side by side, then make sure each is gone."""
    for server in servers:
        server.stop()
    for server in servers:
        server.close()


def _owner(source: Optional[Path]) -> str:
    return "" if source is None else str(Path(source).resolve())


def _address_space(limits: Limits) -> int:
    """The rlimit fallback when no memory cgroup can be made: generous, since libraries reserve address space."""
    return (limits.memory_mb << 20) + (2 << 30)


def parse_records(text: bytes, blob: bytes, budget: int) -> dict[str, tuple[Any, list]]:
    """Every complete record a run sent back: key -> (data, arrays); hostile input, checked.

    Arrays must lie back to back in the blob (no region used twice) and their total size
    stays within ``budget``; a record that cannot be read becomes ``{"unreadable": why}``.
    """
    import numpy as np

    out: dict[str, tuple[Any, list]] = {}
    offset = 0
    for line in text.split(b"\n")[:-1]:  # the last piece is empty or an unfinished line
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        try:
            arrays = []
            for dtype, shape, start in entry.get("arrays", []):
                dt = np.dtype(str(dtype))
                if dt.kind not in "biufcUS" or start != offset or not all(type(n) is int and n >= 0 for n in shape):
                    raise ValueError("a malformed array")
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                offset += count * dt.itemsize
                if offset > min(len(blob), budget):
                    raise ValueError("arrays beyond the data sent")
                arrays.append(np.frombuffer(blob, dtype=dt, count=count, offset=start).reshape(tuple(shape)).copy())
            out[entry["key"]] = (entry["data"], arrays)
        except (ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:
            out[entry["key"]] = ({"unreadable": str(exc)[:200]}, [])
    return out


def collect(report: dict, payload: list[bytes], limits: Limits) -> Outcome:
    """Read back a finished run's records; nothing in them can execute code."""
    text, blob, raw, error = payload
    records: dict[str, dict] = {}
    imported = None
    for key, (data, arrays) in parse_records(text, blob, limits.result_bytes).items():
        if not isinstance(data, dict):
            continue
        if key == "import":
            imported = _checked_import(data)
        elif "unreadable" in data:
            records[key] = {"error": {"type": "ResultError", "message": f"its result could not be read "
                                      f"({data['unreadable']})", "line": None, "traceback": ""}}
        else:
            records[key] = _decode_record(data, arrays)
    runner_error = None
    try:
        runner_error = str(json.loads(error)["traceback"])[-4000:] if error else None
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    outcome = Outcome(
        imported=imported,
        cases=records,
        killed=report.get("killed"),
        exit_code=report.get("code") if type(report.get("code")) is int else None,
        signal=report.get("signal") if type(report.get("signal")) is int else None,
        wall_s=_number(report.get("wall_s")),
        cpu_s=_number(report.get("cpu_s")),
        peak_mb=_number(report.get("peak_mb")),
        output=raw[:OUTPUT_KEEP].decode("utf-8", errors="replace"),
        runner_error=runner_error,
        timeline={},
    )
    outcome._raw = raw
    return outcome


def _number(value: Any) -> float:
    return float(value) if type(value) in (int, float) and math.isfinite(value) else 0.0


def _checked_import(data: dict) -> dict:
    """The import record with the types the engine relies on (anything else dropped)."""
    out = {k: v for k, v in data.items() if k in ("duration_s", "output_end") and type(v) in (int, float)}
    out["warnings"] = [str(w)[:500] for w in data.get("warnings", [])[:20]] if isinstance(data.get("warnings"), list) else []
    err = data.get("error")
    out["error"] = _checked_error(err) if err is not None else None
    return out


def _checked_error(err: Any) -> dict:
    if not isinstance(err, dict):
        return {"type": "ResultError", "message": "an unreadable error", "line": None, "traceback": ""}
    line = err.get("line")
    return {"type": str(err.get("type", ""))[:100], "message": str(err.get("message", ""))[:2000],
            "line": line if type(line) is int else None, "traceback": str(err.get("traceback", ""))[-6000:]}


def child_program() -> Path:
    """``child.py`` compiled, once per version of it: a script given to Python is compiled
    on every start (about 6 ms a sandbox), a compiled file is not."""
    path = runs_folder() / f"child-{_child_key()}.pyc"
    if not path.exists():
        import py_compile

        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        py_compile.compile(str(CHILD), cfile=str(tmp), dfile=str(CHILD), doraise=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


def _decode_record(data: dict, arrays: list) -> dict:
    """A case record with only the fields and types the engine relies on."""
    record: dict[str, Any] = {k: data[k] for k in ("duration_s", "output_start", "output_end")
                              if type(data.get(k)) in (int, float) and data[k] >= 0}
    warnings = data.get("warnings")
    record["warnings"] = [str(w)[:500] for w in warnings[:20]] if isinstance(warnings, list) else []
    try:
        if "error" in data:
            record["error"] = _checked_error(data["error"])
        elif "value" in data:
            record["value"] = decode(data["value"], arrays)
        else:
            raise ValueError("no value")
        mistakes = data.get("mistakes")
        if isinstance(mistakes, dict) and "value" in record:
            record["mistakes"] = {str(name): None if isinstance(tree, dict) and "$error" in tree else decode(tree, arrays)
                                  for name, tree in mistakes.items()}
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        record.pop("value", None)
        record["error"] = {"type": "ResultError", "message": f"its result could not be read ({exc})",
                           "line": None, "traceback": ""}
    return record


@functools.lru_cache(maxsize=1)
def _child_key() -> str:
    return hashlib.sha256(CHILD.read_bytes() + sys.version.encode()).hexdigest()[:20]


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
