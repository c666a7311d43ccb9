"""The trusted zygote: one Python per grading worker that has imported the libraries once, and
forks each submission's fork server into that submission's own sandbox.

Importing torch costs about 1.5 CPU-seconds; a fresh fork server per submission paid it in
every run that needed torch. The zygote pays it once per worker. It runs outside any sandbox,
as the grader's user, and is trusted because of what it holds and does: only libraries
(numpy, torch with one intra-op thread and its lazy first-use work done, sympy, matplotlib
with Agg), never a reference, a case, a course file or a path of a submission, and it never
runs a line of a submission. For each sandbox (bubblewrap holding a placeholder process, see
ForkServer) it forks a child that joins the sandbox's cgroups and namespaces and forks the
sandbox's fork server there, which drops every privilege and loads the seccomp filter before it
reads its first job (grader/sandbox/child.py, `_spawn`; docs/sandbox.md). `GRADE_ZYGOTE=0`
(or `grade batch --no-zygote`) turns it off: every sandbox then starts its own Python.
"""

from __future__ import annotations

import array
import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from typing import BinaryIO

from grader.sandbox import isolation
from grader.sandbox.isolation import runs_folder
from grader.sandbox.job import SandboxError

LIBRARIES = ("numpy", "torch", "sympy", "matplotlib")


def enabled() -> bool:
    """Whether a batch's sandboxes are forked from zygotes (`GRADE_ZYGOTE=0` says no)."""
    return os.environ.get("GRADE_ZYGOTE", "1").strip().lower() not in ("0", "no", "off", "false")


class Zygote:
    """One trusted zygote process and the socket the grader asks it for fork servers on."""

    def __init__(self, libraries: tuple[str, ...] = LIBRARIES) -> None:
        """`libraries`: what it imports (the light zygote: numpy only, see grader/sandbox/libraries.py)."""
        from grader.sandbox.forkserver import child_program

        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        preload = [m for m in libraries if importlib.util.find_spec(m) is not None]
        self.libraries = tuple(preload)  # what each server forked from it holds already
        argv = [a for d in isolation.site_dirs() for a in ("--site", d)] + ["--zygote", *preload]
        mpl = runs_folder() / "matplotlib"
        mpl.mkdir(mode=0o700, exist_ok=True)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg",
               "GRADE_HUGE_PAGES": os.environ.get("GRADE_HUGE_PAGES", "1"), "MPLCONFIGDIR": str(mpl), "HOME": str(mpl)}
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-S", str(child_program()), *argv],
                                         stdin=theirs, stdout=theirs, stderr=subprocess.DEVNULL, env=env, cwd="/",
                                         start_new_session=True)
        finally:
            theirs.close()
        self.lock = threading.Lock()
        self.cpu_s = {"own": 0.0, "total": 0.0}  # when closed: its imports, and everything forked from it
        self.ready = False
        self.failed = False  # it could not start a server here: sandboxes start their own Python

    def _receive(self, deadline: float) -> dict:
        while True:
            readable, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            if not readable:
                raise SandboxError("the zygote did not answer in time")
            data = self.sock.recv(1 << 12)
            if not data:
                raise SandboxError("the zygote stopped (is numpy installed?)")
            try:
                msg = json.loads(data)
            except ValueError:
                raise SandboxError("the zygote sent an unreadable message") from None
            if isinstance(msg, dict):
                return msg

    def spawn(self, request: dict) -> tuple[BinaryIO, BinaryIO]:
        """A fork server in the sandbox `request` names; its stdin (to write) and stdout (to read)."""
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            with self.lock:
                if not self.ready:
                    self.ready = "ready" in self._receive(time.monotonic() + 300)
                self.sock.sendmsg([json.dumps(request).encode()],
                                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [job_r, out_w]))])
                reply = self._receive(time.monotonic() + 60)
        except (OSError, SandboxError):
            for fd in (job_r, job_w, out_r, out_w):
                os.close(fd)
            raise
        os.close(job_r)
        os.close(out_w)
        if not isinstance(reply.get("spawned"), int) or reply["spawned"] <= 0:
            os.close(job_w)
            os.close(out_r)
            raise SandboxError("the zygote could not start a fork server")
        return os.fdopen(job_w, "wb"), os.fdopen(out_r, "rb", buffering=0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the zygote (it ends when its socket closes, once its spawners have), keeping its CPU."""
        from grader.sandbox.child import cpu_seconds

        own = cpu_seconds(self.proc.pid, children=False)  # its imports, mostly
        self.sock.close()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already
                return
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.cpu_s = {"own": own, "total": usage.ru_utime + usage.ru_stime}
                return
            time.sleep(0.01)
        self.proc.kill()
        self.proc.wait()
