"""One ``child.py`` fork server inside its own sandbox (bubblewrap, cgroups, seccomp), serving one job at a time."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from grader.sandbox import isolation, seccomp, uid_backend
from grader.sandbox.isolation import runs_folder
from grader.sandbox.job import MEMORY_SLACK, PIDS_MAX, Limits, SandboxError, wall_backstop

CHILD = Path(__file__).resolve().with_name("child.py")


class ForkServer:
    """One ``child.py`` fork server inside its own sandbox, serving one job at a time."""

    def __init__(self, preload: tuple[str, ...], folders: dict[str, Path], isolated: bool,
                 binds: Optional[dict[str, Path]] = None, zygote: Optional[Any] = None,
                 uid: Optional[int] = None):
        """`binds`: more host folders the runs see read-only (inside path -> host), e.g. the platform's files.
        `zygote`: the trusted zygote (grader/sandbox/zygote.py) that forks this sandbox's server
        (bubblewrap's sandboxes only). `uid`: the uid backend's sandbox (grader/sandbox/uid_backend.py)
        instead of bubblewrap's."""
        self.preload = preload
        self.isolated = isolated
        self.uid = uid if isolated else None
        usable = isolated and self.uid is None and zygote is not None and not zygote.failed
        self.zygote = zygote if usable else None
        self.cgroup = isolation.Cgroup(PIDS_MAX) if isolated else None
        if isolated and self.uid is None:
            self.paths = {"/in": folders["staging"], "/inputs": folders["inputs"], **(binds or {})}
            self.work = isolation.WORK_DIR
        else:
            self.paths = {}
            self.work = str(folders["work"])
        self._launch()
        self.ready = False
        self.baseline = 0
        self.loaded = set(preload) | (set(self.zygote.libraries) if self.zygote is not None else set())
        self._buffer = b""

    def _launch(self) -> None:
        """Start the sandbox: the uid backend's fork server as its own uid; bwrap around the fork
        server's own Python; or bwrap around a placeholder that the zygote forks the server into
        (then ``_info`` reads the placeholder's process id)."""
        argv = [a for d in isolation.site_dirs() for a in ("--site", d)] + list(self.preload)
        self._info = None
        if self.uid is not None:
            fd = seccomp.filter_fd(runs_folder(), network=False)
            if fd is None:
                raise SandboxError("the seccomp filter cannot be built (pyseccomp, libseccomp2)")
            fds = [fd]
            cmd = uid_backend.command(child_program(), fd, argv)
            options = uid_backend.popen_options(self.uid, self.work)
        else:
            cmd, fds = self._bwrap_command(argv) if self.isolated else self._plain_command(argv)
            options = {"env": self._env(), "start_new_session": True}
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, cwd="/", pass_fds=tuple(fds), **options)
        finally:
            for fd in fds:
                os.close(fd)
        if self.uid is not None and self.cgroup:
            uid_backend.enter_cgroup(self.cgroup.procs_files(), self.proc.pid)
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def _bwrap_command(self, argv: list[str]) -> tuple[list[str], list[int]]:
        """bwrap around the fork server, or around the zygote's placeholder; the descriptors it is handed."""
        seccomp_fd = seccomp.filter_fd(runs_folder())
        fds = [seccomp_fd] if seccomp_fd is not None else []
        if self.zygote is not None:
            self._info, info_w = os.pipe()
            fds.append(info_w)
            cmd = isolation.bwrap_command(child_program(), self.paths, seccomp_fd, [], placeholder=info_w)
        else:
            cmd = isolation.bwrap_command(child_program(), self.paths, seccomp_fd, argv)
        return _into_cgroups(self.cgroup, cmd), fds

    def _plain_command(self, argv: list[str]) -> tuple[list[str], list[int]]:
        """The fork server without a sandbox (developer machines): this Python, no descriptors."""
        return [sys.executable, "-I", "-S", str(child_program()), *argv], []

    def _env(self) -> dict:
        if self.isolated:
            return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        return env

    def _from_zygote(self) -> Optional[dict]:
        """The server forked into the sandbox by the zygote, and its first message; where that fails
        on this machine, the zygote is set aside and this sandbox (and every later one) starts its own Python."""
        try:
            self._spawn()
            msg = self._read(time.monotonic() + 60)
            if msg and "ready" in msg:
                return msg
        except (SandboxError, OSError):
            pass
        self.zygote.failed = True
        self.zygote = None
        self.kill()
        self.proc.wait()
        for pipe in {self.stdin, self.stdout, self.proc.stdin, self.proc.stdout}:
            pipe.close()
        self._buffer = b""
        self.loaded = set(self.preload)
        self._launch()
        return self._read(time.monotonic() + 120)

    def _spawn(self) -> None:
        """The placeholder is up: have the zygote fork this sandbox's fork server into it."""
        info, self._info = self._info, None
        raw = b""
        deadline = time.monotonic() + 60
        try:
            while len(raw) < 1 << 14:
                readable, _, _ = select.select([info], [], [], max(0.0, deadline - time.monotonic()))
                chunk = os.read(info, 1 << 12) if readable else b""
                if not chunk:
                    break
                raw += chunk
        finally:
            os.close(info)
        try:
            pid = json.loads(raw)["child-pid"]
        except (ValueError, KeyError, TypeError):
            raise SandboxError("the sandbox did not start (bubblewrap gave no process)") from None
        if type(pid) is not int or pid <= 1:
            raise SandboxError("the sandbox did not start (bubblewrap gave no process)")
        if not self._fill(3, time.monotonic() + 60) or self._buffer != b"up\n":  # every mount is made
            raise SandboxError("the sandbox did not start")
        self._buffer = b""
        self.stdin, self.stdout = self.zygote.spawn({
            "pid": pid, "cgroups": self.cgroup.procs_files() if self.cgroup else [],
            "seccomp": (seccomp.program(runs_folder()) or b"").hex(), "chdir": self.work,
            "env": isolation.SANDBOX_ENV,
        })

    def inside(self, host: Path) -> str:
        """Where a host folder bound into the sandbox appears inside it."""
        for inside, folder in self.paths.items():
            if host == folder or folder in host.parents:
                return inside + "/" + str(host.relative_to(folder)) if host != folder else inside
        return str(host)

    def _fill(self, size: int, deadline: Optional[float]) -> bool:
        fd = self.stdout.fileno()
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
            msg = self._from_zygote() if self._info is not None else self._read(time.monotonic() + 120)
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
        self.stdin.write((json.dumps({"preload": missing}) + "\n").encode())
        self.stdin.flush()
        msg = self._read(time.monotonic() + 120)
        if not msg or "preloaded" not in msg:
            raise SandboxError("the sandbox could not import " + ", ".join(missing))
        self.loaded.update(missing)
        self.baseline = self.cgroup.usage() if self.cgroup else 0

    def run(self, spec: dict, limits: Limits, demoted: Optional[Callable[[], None]] = None,
            on_records: Optional[Callable[[list[bytes]], None]] = None) -> tuple[dict, list[bytes]]:
        """Send one job and wait for its report; past the deadline the whole sandbox is killed.
        `demoted` is called if the run steps aside (idle priority: see child.py `_wait`);
        `on_records`, with what is new of the run's records, arrays and output each time the run
        completes a record (a job with ``"stream": true``; see child.py `Relay`)."""
        self._wait_ready()
        oom_before = self.cgroup.oom_kills() if self.cgroup else 0
        if self.cgroup and self.cgroup.memory:
            self.cgroup.set_memory(self.baseline + limits.memory_mb * 2**20 + MEMORY_SLACK)
        self.stdin.write((json.dumps(spec) + "\n").encode())
        self.stdin.flush()
        started_msg = self._read(time.monotonic() + 30)
        if not started_msg or "started" not in started_msg:
            raise SandboxError("the sandbox did not start the run")
        start = time.monotonic()
        deadline = start + wall_backstop(limits) + 2.0
        stopped = stepped_aside = idle = False
        streamed = [0, 0, 0]  # bytes of records, arrays and output relayed so far (within the caps)
        try:
            msg = self._read(deadline)
            while msg is not None and ("demoted" in msg and not stepped_aside or "records" in msg):
                if "records" in msg:
                    self._relayed(msg, spec["caps"], streamed, deadline, on_records)
                else:
                    stepped_aside, idle = True, bool(self.cgroup and self.cgroup.set_idle(True))
                    if demoted is not None:
                        demoted()
                msg = self._read(deadline)
            payload = self._payload(msg, spec["caps"], deadline + 5) if msg is not None and "exited" in msg else None
        except SandboxError:  # the fork server died (killed by its own run) or sent garbage
            msg = payload = None
            stopped = True
        finally:
            if idle:
                self.cgroup.set_idle(False)
        memory = bool(self.cgroup and self.cgroup.oom_kills() > oom_before)
        if payload is None:
            self.kill()
            killed = "memory" if memory else None if stopped else "timeout"
            return {"killed": killed, "signal": signal.SIGKILL if stopped else None,
                    "wall_s": time.monotonic() - start}, [b""] * 4
        return self._ended(msg, memory, time.monotonic() - start, limits), payload

    def _relayed(self, msg: dict, caps: list[int], streamed: list[int], deadline: float,
                 on_records: Optional[Callable[[list[bytes]], None]]) -> None:
        """A streamed part of the run's files: read (within what is left of each cap), handed on."""
        left = [cap - done for cap, done in zip(caps, streamed)]
        parts = self._payload(msg, left, deadline + 5)
        for i, part in enumerate(parts):
            streamed[i] += len(part)
        if on_records is not None:
            on_records(parts)

    def restore_priority(self) -> None:
        """The sandbox's run back to normal priority, from outside (child.py `step_aside` undone):
        its CPU weight, and each of its threads' scheduling policy, nice value and autogroup."""
        if not self.cgroup:
            return
        self.cgroup.set_idle(False)
        for pid in self.cgroup.pids():
            isolation.normal_priority(pid)

    def _ended(self, msg: dict, memory: bool, wall_s: float, limits: Limits) -> dict:
        """The fork server's report of a finished run, with what only the grader can tell (memory).
        A run the kernel ended at its CPU rlimit (SIGXCPU, or SIGKILL at the hard limit, a second
        past the stage's) before its fork server saw it pass the limit ran out of time too."""
        msg["wall_s"] = wall_s
        msg["killed"] = "memory" if memory else msg.get("killed") if msg.get("killed") in ("timeout", "output") else None
        cpu = msg.get("cpu_s")
        if (msg["killed"] is None and msg.get("signal") in (signal.SIGKILL, signal.SIGXCPU)
                and type(cpu) in (int, float) and cpu >= limits.time_s):
            msg["killed"] = "timeout"
        peak = (self.cgroup.peak() - self.baseline) if self.cgroup and self.cgroup.memory else 0
        rss = msg.get("maxrss_kb", 0) if type(msg.get("maxrss_kb")) in (int, float) else 0
        msg["peak_mb"] = max(peak, rss * 1024) / 2**20
        return msg

    def kill(self) -> None:
        """Stop the sandbox and everything in it."""
        if self.cgroup:
            self.cgroup.kill_all()
        if self.uid is not None and not (self.cgroup and self.cgroup.dirs):
            uid_backend.kill_tree(self.proc.pid)  # no cgroup holds them: everything beneath the fork server
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()

    def stop(self) -> None:
        """Ask the fork server to end (it exits when its stdin closes; a placeholder, when its own does)."""
        for pipe in {self.stdin, self.proc.stdin}:
            try:
                pipe.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop()
        if self._info is not None:
            os.close(self._info)
            self._info = None
        for pipe in {self.stdout, self.proc.stdout}:
            pipe.close()
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


def close_all(servers: list[ForkServer]) -> None:
    """Stop sandboxes side by side, then make sure each is gone."""
    for server in servers:
        server.stop()
    for server in servers:
        server.close()

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


@functools.lru_cache(maxsize=1)
def _child_key() -> str:
    return hashlib.sha256(CHILD.read_bytes() + sys.version.encode()).hexdigest()[:20]
