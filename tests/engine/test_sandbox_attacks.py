"""The attacks of issue 10, each a hostile submission graded for real against a real sandbox.

Every attack aims only at things this test created: a course copy (its reference is the
decoy), canary files in tmp_path, and a sleeper process started here as the victim.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REFERENCE, ROOT, case, failed, make_submission, variant
from grader.sandbox import isolation
from grader.engine import Grader
from grader.sandbox import Limits, Sandbox
from grader.sandbox.records import collect, parse_records

pytestmark = pytest.mark.skipif(not isolation.isolation()[0], reason=isolation.isolation()[1])

from helpers import MET, RMSE, RMSE_CASES, uid_cannot  # noqa: E402


@pytest.fixture(scope="module")
def grader(stage5_course):
    with Grader(course=stage5_course, seed=11) as g:
        yield g


@pytest.fixture()
def grade(grader):
    def run(sub: Path) -> dict:
        started = time.monotonic()
        stage = grader.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]
        stage["elapsed"] = time.monotonic() - started
        return stage
    return run


@pytest.fixture()
def victim():
    """A process of the test's own that attacks try to reach (signal, renice, prlimit)."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def attack(code: str) -> str:
    """metrics.py whose comp_rmse runs `code` (indented) and returns `stolen(pred, actual)` or 0."""
    indented = "\n".join("    " + line for line in ("stolen = None\n" + code.strip("\n")).splitlines())
    body = indented.lstrip() + "\n    if stolen is not None:\n        return stolen(pred, actual)\n    return 0.0"
    return variant(MET, RMSE, body + "\n    " + RMSE)


def output(stage: dict) -> str:
    parts = [stage.get("details", {}).get("output", "")]
    parts += [c.get("details", {}).get("output", "") + c["message"] for c in stage["cases"]]
    return "\n".join(parts)


def honest_full_marks(grade, tmp_path) -> None:
    stage = grade(make_submission(tmp_path, {}))
    assert stage["status"] == "passed" and stage["score"] == stage["max_score"], stage["message"]


STEAL = """
def steal(path):
    global stolen
    try:
        src = open(path).read() if isinstance(path, str) else os.read(path, 1 << 20).decode()
    except Exception as exc:
        print('REFUSED', type(exc).__name__)
        return
    print('GOT-IT')
    ns = {}
    exec(src, ns)
    stolen = ns.get('comp_rmse')
"""


def test_dir_fd_open_of_the_reference_found_through_proc(grade, stage5_course, tmp_path):
    ref = str(stage5_course / "reference" / "metrics.py")
    code = f"""
import os
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            print('CMD', open(f'/proc/{{pid}}/cmdline', 'rb').read()[:200])
        except OSError:
            pass
root = os.open('/', os.O_RDONLY)
try:
    fd = os.open({ref.lstrip('/')!r}, os.O_RDONLY, dir_fd=root)
    src = os.read(fd, 1 << 20).decode()
    print('GOT-IT')
    ns = {{}}
    exec(src, ns)
    stolen = ns['comp_rmse']
except OSError as exc:
    print('REFUSED', type(exc).__name__)
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    out = output(stage)
    assert "GOT-IT" not in out and "REFUSED" in out
    assert str(stage5_course) not in out  # no process of the sandbox names the course
    assert RMSE_CASES <= failed(stage)


@uid_cannot("hide world-readable files: the grader's own checkout (its tests' fixtures) is readable there")
def test_every_second_copy_of_the_answers_is_out_of_sight(grade, tmp_path):
    canary = tmp_path / "answers-copy" / "metrics.py"
    canary.parent.mkdir()
    canary.write_text((REFERENCE / MET).read_text())
    paths = [str(canary), str(ROOT / "reference" / MET), str(ROOT / "grader" / "engine.py"),
             str(Path.cwd() / "reference" / MET)]
    code = "import os\n" + STEAL + f"""
for path in {paths!r}:
    steal(path)
for top in {[str(ROOT), str(tmp_path)]!r}:
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != 'site-packages']
        for name in files:
            if name == 'metrics.py':
                steal(os.path.join(root, name))
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    out = output(stage)
    assert "GOT-IT" not in out and "REFUSED" in out
    assert RMSE_CASES <= failed(stage)


def test_a_fresh_interpreter_without_the_hook_sees_nothing_either(grade, stage5_course, tmp_path):
    ref = stage5_course / "reference" / MET
    code = f"""
import ctypes, os, sys
cmd = f"{{sys.executable}} -c 'print(open({str(ref)!r}).read())' > child-said 2>&1"
status = ctypes.CDLL(None).system(cmd.encode())  # native code: no audit event at all
got = open('child-said', 'rb').read()
print('CHILD SAID', status, b'def comp_rmse' in got)
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    out = output(stage)
    assert "CHILD SAID" in out and "True" not in out.split("CHILD SAID", 1)[1].splitlines()[0]
    assert RMSE_CASES <= failed(stage)


def test_rewriting_drivers_support_and_the_prepared_copies(grader, stage5_course, tmp_path):
    drivers = stage5_course / "stages" / "drivers"
    before = {p: p.read_bytes() for p in (stage5_course / "stages").rglob("*") if p.is_file()}
    targets = [str(p) for p in before] + ["/in", "/inputs"]
    code = f"""
import os
for top in {targets!r}:
    paths = [os.path.join(r, n) for r, _, ns in os.walk(top) for n in ns] if os.path.isdir(top) else [top]
    for path in paths:
        try:
            with open(path, 'w') as fh:
                fh.write('stolen = 1')
            print('WROTE', path)
        except OSError as exc:
            print('REFUSED', type(exc).__name__)
"""
    sub = make_submission(tmp_path, {MET: attack(code)})
    stage = grader.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]
    assert "WROTE" not in output(stage) and "REFUSED" in output(stage)
    assert {p: p.read_bytes() for p in before} == before and drivers.is_dir()
    honest = grader.grade(make_submission(tmp_path, {}), ["mae-rmse"]).to_dict()["stages"][0]
    assert honest["score"] == honest["max_score"]


def test_signals_renice_prlimit_and_pidfd_cannot_reach_the_victim(grade, victim, tmp_path):
    before = os.getpriority(os.PRIO_PROCESS, victim.pid)
    code = f"""
import os, signal, resource
for what, act in [
    ('kill', lambda: os.kill({victim.pid}, signal.SIGKILL)),
    ('pidfd', lambda: signal.pidfd_send_signal(os.pidfd_open({victim.pid}), signal.SIGKILL)),
    ('grader', lambda: os.kill({os.getpid()}, signal.SIGKILL)),
    ('renice', lambda: os.setpriority(os.PRIO_PROCESS, {victim.pid}, 19)),
    ('prlimit', lambda: resource.prlimit({victim.pid}, resource.RLIMIT_NOFILE, (1, 1))),
    ('hostname', lambda: __import__('socket').sethostname('owned')),
    ('mknod', lambda: os.mknod('/tmp/owned-dev', 0o600 | 0o020000, os.makedev(1, 3))),
    ('fifo', lambda: os.mkfifo({str(tmp_path / 'owned-fifo')!r})),
]:
    try:
        act()
        print('DONE', what)
    except Exception as exc:
        print('REFUSED', what, type(exc).__name__)
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    out = output(stage)
    assert "DONE" not in out, out
    assert victim.poll() is None and os.getpriority(os.PRIO_PROCESS, victim.pid) == before
    assert not (tmp_path / "owned-fifo").exists()
    assert os.uname().nodename != "owned"


def test_kill_everything_it_can_see(grade, tmp_path, victim):
    stage = grade(make_submission(tmp_path, {MET: attack("import os\nos.kill(-1, 9)")}))
    assert RMSE_CASES <= failed(stage) and victim.poll() is None
    honest_full_marks(grade, tmp_path)


def test_refused_system_calls(grade, tmp_path):
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {'ptrace': (101, 16, 1, 0, 0), 'process_vm_readv': (310, 1, 0, 1, 0), 'mount': (165, 0, 0, 0, 0),
         'unshare': (272, 0x10000000, 0, 0, 0), 'setns': (308, 0, 0, 0, 0), 'keyctl': (250, 0, 0, 0, 0),
         'bpf': (321, 0, 0, 0, 0), 'perf_event_open': (298, 0, 0, 0, 0), 'userfaultfd': (323, 0, 0, 0, 0),
         'io_uring_setup': (425, 1, 0, 0, 0), 'personality': (135, 0x0040000, 0, 0, 0),
         'clone_newuser': (56, 0x10000000 | 17, 0, 0, 0)}
for name, args in calls.items():
    ret = libc.syscall(*[ctypes.c_long(a) for a in args])
    err = ctypes.get_errno()
    print('SYSCALL', name, ret, os.strerror(err) if ret < 0 else 'OK')
    if ret == 0 and name == 'clone_newuser':
        os._exit(0)
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    lines = [l for l in output(stage).splitlines() if l.startswith("SYSCALL")]
    assert len(lines) >= 12
    assert all(" -1 Operation not permitted" in l for l in lines), lines


def test_fifo_in_place_of_the_results_file(grade, tmp_path):
    code = """
import os
for name in ('results.jsonl', 'results.bin'):
    path = os.path.join('..', 'results', name)
    os.remove(path)
    os.mkfifo(path)
print('FIFO')
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    assert stage["elapsed"] < 30 and RMSE_CASES <= failed(stage)
    honest_full_marks(grade, tmp_path)


def test_memfd_beyond_the_memory_limit_is_stopped(grade, tmp_path):
    code = """
import os
chunk = b'x' * (16 << 20)
for n in range(8):  # each memfd stays under the file-size rlimit, together 1 GiB
    fd = os.memfd_create('hog')
    for i in range(8):
        os.write(fd, chunk)
print('HELD 1 GiB')
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    assert "HELD" not in output(stage) and RMSE_CASES <= failed(stage)
    # Told to the student on the case, or on the stage when the limit struck while the file was
    # being imported (under the uid backend's cgroup the kill may land either side of the import).
    said = case(stage, "rmse-small")["message"] + " " + (stage.get("message") or "")
    assert "exceeded the 300 MiB memory limit" in said


def test_disk_reservation_is_capped(grade, tmp_path):
    code = """
import os
fd = os.open('big', os.O_CREAT | os.O_WRONLY)
try:
    os.posix_fallocate(fd, 0, 1 << 30)
    print('RESERVED 1 GB')
except OSError as exc:
    print('NO SPACE', exc)
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    assert "RESERVED" not in output(stage)
    assert RMSE_CASES <= failed(stage)


def test_forged_records_give_a_verdict_not_a_crash(grade, tmp_path):
    code = """
import os, json
deep = '[' * 100000 + ']' * 100000
with open(os.path.join('..', 'results', 'results.bin'), 'ab') as fh:
    fh.write(b'\\0' * (1 << 20))
meta = [['<f8', [131072], 0]] * 2000
with open(os.path.join('..', 'results', 'results.jsonl'), 'a') as fh:
    fh.write(json.dumps({'key': 'import', 'data': {'error': None}, 'arrays': meta}) + '\\n')
    fh.write('{"key": "import", "data": {"error": ' + deep + '}}\\n')
"""
    stage = grade(make_submission(tmp_path, {MET: attack(code)}))
    assert stage["status"] in ("failed", "error") and RMSE_CASES <= failed(stage)


def test_parse_records_refuses_aliasing_depth_and_wrong_types():
    blob = np.arange(4, dtype="<f8").tobytes()
    alias = json.dumps({"key": "a", "data": {"value": {"$arr": 0}}, "arrays": [["<f8", [4], 32], ["<f8", [4], 0]]})
    deep = '{"key": "b", "data": ' + "[" * 100000 + "]" * 100000 + "}"
    typed = json.dumps({"key": "c", "data": {"value": {"$arr": 7}}, "arrays": []})
    good = json.dumps({"key": "d", "data": {"value": {"$arr": 0}}, "arrays": [["<f8", [4], 0]]})
    records = parse_records("\n".join([good, alias, deep, typed, ""]).encode(), blob, 1 << 20)
    assert "unreadable" in records["a"][0] and "b" not in records
    assert records["d"][1][0].tolist() == [0.0, 1.0, 2.0, 3.0]
    lines = [typed, json.dumps({"key": "e", "data": {"value": {"$dict": {"x": [[[[{"$arr": 0}]]]] * 3}}},
                                "arrays": [["<f8", [4], 0]]})]
    outcome = collect({"exited": 1}, ["\n".join(lines + [""]).encode(), blob, b"", b""], Limits(1, 100))
    assert outcome.cases["c"]["error"]["type"] == "ResultError"
    nested = "[" * 100 + "1" + "]" * 100
    outcome = collect({}, [('{"key": "f", "data": {"value": ' + nested + '}}\n').encode(), b"", b"", b""],
                      Limits(1, 100))
    assert outcome.cases["f"]["error"]["type"] == "ResultError"


def test_sleeping_past_the_limit_is_stopped_from_outside(grade, tmp_path):
    stage = grade(make_submission(tmp_path, {MET: attack("import time\ntime.sleep(60)")}))
    assert stage["elapsed"] < 30 and case(stage, "rmse-small")["status"] == "timeout"
    honest_full_marks(grade, tmp_path)


def test_torch_imported_at_the_top_of_a_numpy_stage_scores_full(tmp_path):
    pytest.importorskip("torch")
    text = "import torch\n" + (REFERENCE / "activation.py").read_text()
    sub = make_submission(tmp_path, {"activation.py": text})
    with Grader(seed=3) as g:
        stage = g.grade(sub, ["sigmoid"]).to_dict()["stages"][0]
    assert stage["score"] == stage["max_score"] > 0, stage["message"]


def test_isolation_can_be_required(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "backend", lambda: (None, "no bubblewrap in this test"))
    with pytest.raises(isolation.IsolationError, match="no bubblewrap in this test"):
        Sandbox(require_isolation=True)
    with Sandbox() as sandbox:
        assert not sandbox.isolated
        with Grader(seed=3, sandbox=sandbox) as g:
            stage = g.grade(make_submission(tmp_path, {}), ["mae-rmse"]).to_dict()["stages"][0]
    assert stage["score"] == stage["max_score"]
