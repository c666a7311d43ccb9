"""The web process keeps its worker process alive and the queue moving.

Every few seconds: a worker that has died is started again (its running jobs go back in
the queue at once, attempts counted), and jobs whose lease expired anywhere are requeued
(queue.requeue: after MAX_ATTEMPTS tries they end not gradable with the reason).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import Optional

from grader.messages import t
from grader.serve import queue

WATCHDOG_S = 5.0


class Supervisor:
    def __init__(self, engine, cmd: list[str], lang: str):
        self.engine, self.cmd, self.lang = engine, cmd, lang
        self.proc: Optional[subprocess.Popen] = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="serve-watchdog")

    def start(self) -> "Supervisor":
        self.proc = subprocess.Popen(self.cmd)
        self.thread.start()
        return self

    def check(self) -> None:
        """One round: restart a dead worker, requeue its jobs and any job past its lease."""
        reason = t(self.lang, "serve.worker_lost", n=queue.MAX_ATTEMPTS)
        if self.proc is not None and self.proc.poll() is not None:
            dead = self.proc
            print(t(self.lang, "serve.worker_restarted", code=dead.returncode), file=sys.stderr, flush=True)
            queue.requeue(self.engine, reason, expired_only=False, owner_prefix=f"{socket.gethostname()}:{dead.pid}:")
            self.proc = subprocess.Popen(self.cmd)
        queue.requeue(self.engine, reason)

    def _loop(self) -> None:
        while not self.stop_event.wait(WATCHDOG_S):
            try:
                self.check()
            except Exception as exc:  # the database restarting: the next round tries again
                print(f"grade serve: watchdog: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self.stop_event.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
