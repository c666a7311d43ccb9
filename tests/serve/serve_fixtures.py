"""Fixtures of the `grade serve` tests (imported by its test modules): a fresh database on SQLite and on a real PostgreSQL
server, a running service (the real `grade serve` command in a subprocess).

PostgreSQL comes from $GRADE_TEST_PG_DSN (a DSN of a database the tests may create
databases from; .ci/run starts a throwaway cluster and sets it). On a developer machine
without it the PostgreSQL variants skip; under CI (GRADE_REQUIRE_SANDBOX=1) they fail.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

pytest.importorskip("sqlalchemy", reason="the serve extra is not installed (pip install -e '.[serve]')")
import sqlalchemy as sa  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PG_ENV = "GRADE_TEST_PG_DSN"


def _pg_admin() -> Optional[str]:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        if os.environ.get("GRADE_REQUIRE_SANDBOX"):
            pytest.fail(f"{PG_ENV} is not set: .ci/run starts PostgreSQL and sets it; the PostgreSQL tests must run")
        pytest.skip(f"no PostgreSQL server: set {PG_ENV}=postgresql://user@host:port/db to run these")
    return dsn


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database, dropped afterwards."""
    from grader.serve.db import connect

    admin_url = _pg_admin()
    name = f"grade_test_{secrets.token_hex(4)}"
    admin = connect(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        from grader.serve.db import sqlite_url
        return sqlite_url(tmp_path / "serve.sqlite")
    return request.getfixturevalue("pg_url")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A `grade serve` subprocess (its own process group: killing it kills its worker too)."""

    db_url: str
    folder: Path
    roster: list[str]
    port: int = field(default_factory=free_port)
    proc: Optional[subprocess.Popen] = None
    tokens: dict[str, str] = field(default_factory=dict)
    extra: tuple = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        roster = self.folder / "roster.csv"
        roster.write_text("id,name\n" + "".join(f"{s},{s.title()}\n" for s in self.roster), encoding="utf-8")
        links = self.folder / f"links-{secrets.token_hex(3)}.csv"
        log = open(self.folder / "server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "serve", str(roster), "--db", self.db_url, "--port", str(self.port),
             "--links", str(links), "--course", str(ROOT), *self.extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder)
        self._wait_up(links)
        return self

    def _wait_up(self, links: Path) -> None:
        import csv
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "server.log").read_text(errors="replace"))
            try:
                httpx.get(self.url + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        if links.exists():
            for row in csv.DictReader(links.open(encoding="utf-8")):
                self.tokens[row["id"]] = row["token"]

    def kill(self) -> None:
        """SIGKILL to the whole group: the server and its worker die mid-work."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def make_server(tmp_path):
    servers: list[Server] = []

    def make(db_url: str, roster: list[str], *extra: str) -> Server:
        s = Server(db_url=db_url, folder=tmp_path, roster=roster, extra=extra)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()
