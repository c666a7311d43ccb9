"""A run loads its stage's driver from the grader's compiled copy (compiled once per session, not
once per run), and from the source where that copy cannot be read."""

from __future__ import annotations

import marshal
import sys

import pytest

from grader.sandbox import child
from grader.sandbox.runs import Sandbox


@pytest.fixture(autouse=True)
def _no_driver_left():
    yield
    sys.modules.pop("driver", None)


def test_the_compiled_copy_is_what_runs(tmp_path):
    compiled = tmp_path / "driver.marshal"
    compiled.write_bytes(marshal.dumps(compile("WHO = 'compiled'", "driver.py", "exec")))
    assert child._load_driver("WHO = 'source'", str(compiled)).WHO == "compiled"


@pytest.mark.parametrize("content", [None, b"", b"not marshal data \x00\xff"])
def test_without_a_readable_copy_the_source_is_compiled(tmp_path, content):
    compiled = tmp_path / "driver.marshal"
    if content is not None:
        compiled.write_bytes(content)
    assert child._load_driver("WHO = 'source'", str(compiled)).WHO == "source"
    assert child._load_driver("WHO = 'source'").WHO == "source"


def test_the_session_compiles_each_driver_once(tmp_path):
    sandbox = Sandbox.__new__(Sandbox)
    sandbox.root = tmp_path
    (tmp_path / "inputs").mkdir()
    import threading

    sandbox._lock, sandbox._drivers = threading.RLock(), {}
    first = sandbox._driver_code("X = 1\n")
    stamp = first.stat().st_mtime_ns
    assert sandbox._driver_code("X = 1\n") == first and first.stat().st_mtime_ns == stamp
    other = sandbox._driver_code("X = 2\n")
    assert other != first
    namespace: dict = {}
    exec(marshal.loads(other.read_bytes()), namespace)
    assert namespace["X"] == 2 and oct(other.stat().st_mode & 0o777) == "0o644"
