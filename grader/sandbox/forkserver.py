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
from typing import Optional

from grader.sandbox import isolation, seccomp, uid_backend
from grader.sandbox.isolation import runs_folder
from grader.sandbox.job import MEMORY_SLACK, PIDS_MAX, Limits, SandboxError

CHILD = Path(__file__).resolve().with_name("child.py")


class ForkServer:
    """One ``child.py`` fork server inside its own sandbox, serving one job at a time."""

    def __init__(self, preload: tuple[str, ...], folders: dict[str, Path], isolated: bool,
                 binds: Optional[dict[str, Path]] = None, uid: Optional[int] = None):
        """`binds`: more host folders the runs see read-only (inside path -> host), e.g. the platform's files.
        `uid`: the uid backend's sandbox (grader/sandbox/uid_backend.py) instead of bubblewrap's."""
        self.preload = preload
        self.isolated = isolated
        self.uid = uid if isolated else None
        self.cgroup = isolation.Cgroup(PIDS_MAX) if isolated else None
        argv = [a for d in isolation.site_dirs() for a in ("--site", d)] + list(preload)
        options: dict = {"env": None, "start_new_session": True}
        if self.uid is not None:
            self.paths = {}
            self.work = str(folders["work"])
            fd = seccomp.filter_fd(runs_folder(), network=False)
            if fd is None:
                raise SandboxError("the seccomp filter cannot be built (pyseccomp, libseccomp2)")
            cmd = uid_backend.command(child_program(), fd, argv)
            options = uid_backend.popen_options(self.uid, self.work)
        elif isolated:
            self.paths = {"/in": folders["staging"], "/inputs": folders["inputs"], **(binds or {})}
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
        options["env"] = options["env"] or env
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, cwd="/",
                                         pass_fds=(fd,) if fd is not None else (), **options)
        finally:
            if fd is not None:
                os.close(fd)
        if self.uid is not None and self.cgroup:
            uid_backend.enter_cgroup(self.cgroup.procs_files(), self.proc.pid)
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
        if self.uid is not None and not (self.cgroup and self.cgroup.dirs):
            uid_backend.kill_tree(self.proc.pid)  # no cgroup holds them: everything beneath the fork server
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
