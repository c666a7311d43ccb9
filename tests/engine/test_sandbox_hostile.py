"""Hostile submissions, one per test: each must end in bounded time with a verdict and a
clear message, and leave the system as it was."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import REFERENCE, ROOT, case, failed, make_course, make_submission, variant
from grader.engine import Grader
from grader.sandbox.isolation import runs_folder

from helpers import MET, RMSE, RMSE_CASES  # noqa: E402


@pytest.fixture(scope="module")
def grade(stage5_course):
    with Grader(course=stage5_course, seed=11) as g:
        def run(sub: Path) -> dict:
            started = time.monotonic()
            stage = g.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]
            stage["elapsed"] = time.monotonic() - started
            return stage
        yield run


def rmse_body(code: str) -> str:
    """metrics.py whose comp_rmse runs `code` (indented 4) and then returns RMSE."""
    indented = "\n".join("    " + line for line in code.strip("\n").splitlines())
    return variant(MET, RMSE, indented.lstrip() + "\n    " + RMSE)


def all_output(stage: dict) -> str:
    parts = [stage.get("details", {}).get("output", "")]
    parts += [c.get("details", {}).get("output", "") + c["message"] for c in stage["cases"]]
    return "\n".join(parts)


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if "__pycache__" in p.parts:
            continue
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_reading_the_reference_by_walking_the_disk(grade, tmp_path, stage5_course):
    thief = rmse_body(f"""
import os
stolen = None
for top in ({str(stage5_course)!r}, {str(ROOT)!r}, {str(runs_folder())!r}):
    for root, dirs, files in os.walk(top):
        if root.count(os.sep) > 6:
            dirs[:] = []
        for name in files:
            mine = os.path.realpath(root) == os.getcwd()
            if name == 'metrics.py' and ('reference' in root or '/job-' in root) and 'submission' not in root and not mine:
                path = os.path.join(root, name)
                try:
                    src = open(path).read()
                except Exception as exc:
                    print('REFUSED', path, exc)
                    continue
                print('READ', path)
                ns = {{}}
                exec(src, ns)
                stolen = ns['comp_rmse']
if stolen is not None:
    return stolen(pred, actual)
return 0.0
""")
    stage = grade(make_submission(tmp_path, {MET: thief}))
    out = all_output(stage)
    assert "READ" not in out
    assert RMSE_CASES <= failed(stage)


def test_monkeypatching_numpy_comparisons_changes_nothing(grade, tmp_path):
    text = rmse_body("""
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
return -1.0
""")
    stage = grade(make_submission(tmp_path, {MET: text}))
    assert failed(stage) == RMSE_CASES


def test_fake_verdict_json_on_stdout(tmp_path, stage5_course):
    fake = {"score": 1000, "max_score": 1000, "stages": [{"status": "passed"}]}
    text = rmse_body(f"print({json.dumps(json.dumps(fake))})\nreturn 0.0")
    sub = make_submission(tmp_path, {MET: text})
    res = subprocess.run([sys.executable, "-m", "grader", str(sub), "--stage", "5", "--course", str(stage5_course),
                          "--format", "json"], capture_output=True, text=True, timeout=120)
    report = json.loads(res.stdout)  # exactly one document, the grader's
    assert res.returncode == 1
    assert report["score"] < report["max_score"] and report["max_score"] != 1000


def test_connecting_to_a_loopback_listener(grade, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    seen: list = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                seen.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    text = rmse_body(f"""
import socket
try:
    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)
    s.sendall(b'answers please')
    print('CONNECTED')
except Exception as exc:
    print('NO NETWORK', type(exc).__name__, exc)
""")
    try:
        stage = grade(make_submission(tmp_path, {MET: text}))
    finally:
        time.sleep(0.3)
        stop.set()
        thread.join()
        server.close()
    assert seen == []
    out = all_output(stage)
    assert "CONNECTED" not in out and "NO NETWORK" in out
    assert "network access" in out and "not allowed in a submission" in out
    assert failed(stage) == set()  # the function itself is right


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd:
                found.append(int(entry))
    return found


def test_daemonised_grandchild_is_gone_when_grading_returns(grade, tmp_path):
    marker = f"{time.time() % 1000:.6f}"
    # Spawning through the C helper skips the audit hook, so the kill-everything layer is what holds.
    text = rmse_body(f"""
import _posixsubprocess, os
try:
    subprocess_ok = True
    import subprocess
    subprocess.Popen(['sleep', '1'])
except PermissionError as exc:
    print('HOOK', exc)
args = [b'/bin/sh', b'-c', b'setsid sleep {marker} >/dev/null 2>&1 < /dev/null & exit 0']
r, w = os.pipe()
try:
    pid = _posixsubprocess.fork_exec(args, [b'/bin/sh'], True, (), None, None, -1, -1, -1, -1, -1, -1, r, w,
                                     True, False, None, None, None, -1, None, False)
    print('SPAWNED', pid)
except Exception as exc:
    print('NO SPAWN', type(exc).__name__, exc)
""")
    stage = grade(make_submission(tmp_path, {MET: text}))
    out = all_output(stage)
    assert "HOOK" in out and "starting or signalling processes" in out
    time.sleep(0.2)
    assert _processes_with(f"sleep {marker}") == [], out


def test_fork_bomb_is_contained(grade, tmp_path):
    marker = f"{time.time() % 1000:.6f}"
    # Bounded: at most 300 sleepers, so a broken sandbox cannot hurt the machine.
    text = rmse_body(f"""
import _posixsubprocess, os
started = 0
for i in range(300):
    r, w = os.pipe()
    try:
        _posixsubprocess.fork_exec([b'/bin/sleep', b'{marker}'], [b'/bin/sleep'], True, (), None, None,
                                   -1, -1, -1, -1, -1, -1, r, w, True, False, None, None, None, -1, None, False)
        started += 1
    except Exception as exc:
        print('LIMITED after', started, type(exc).__name__)
        break
    finally:
        os.close(r); os.close(w)
print('STARTED', started)
""")
    stage = grade(make_submission(tmp_path, {MET: text}))
    assert stage["elapsed"] < 60
    time.sleep(0.2)
    assert _processes_with(f"sleep {marker}") == []
    out = all_output(stage)
    if Path("/sys/fs/cgroup/pids").is_dir() and os.geteuid() == 0:
        assert "LIMITED after" in out  # the run's pids cgroup caps it


def test_memory_hog_under_numpy(grade, tmp_path):
    stage = grade(make_submission(tmp_path, {MET: rmse_body("hog = np.ones(3 * 2**30 // 8)")}))
    c = case(stage, "rmse-small")
    assert c["status"] == "error" and "exceeded the 300 MiB memory limit" in c["message"]
    assert stage["elapsed"] < 60


def test_memory_hog_under_torch(tmp_path):
    pytest.importorskip("torch")
    root = make_course(tmp_path / "course", ("10_l2_regularization.yaml",), memory_mb=700)
    text = (REFERENCE / "l2_regularization.py").read_text()
    text = text.replace("import torch\n", "import torch\n_hog = torch.ones(3 * 2**30 // 4)\n", 1)
    sub = make_submission(tmp_path, {"l2_regularization.py": text})
    with Grader(course=root, seed=1) as g:
        stage = g.grade(sub, ["l2-regularization"]).to_dict()["stages"][0]
    assert stage["status"] == "error" and stage["score"] == 0
    assert "exceeded the 700 MiB memory limit" in stage["message"]


def test_writing_the_graders_own_source_is_refused(grade, tmp_path):
    target = ROOT / "grader" / "engine.py"
    before = target.read_bytes()
    text = rmse_body(f"""
for path in ({str(target)!r}, {str(ROOT / 'reference' / 'metrics.py')!r}, {str(Path.home() / 'grade-was-here')!r}):
    try:
        with open(path, 'a') as fh:
            fh.write('# owned')
        print('WROTE', path)
    except Exception as exc:
        print('REFUSED', type(exc).__name__, exc)
""")
    stage = grade(make_submission(tmp_path, {MET: text}))
    out = all_output(stage)
    assert "WROTE" not in out and "REFUSED" in out
    assert target.read_bytes() == before
    assert not (Path.home() / "grade-was-here").exists()


def test_rewriting_its_submission_folder(grade, tmp_path):
    text = rmse_body("""
import os, shutil
for name in os.listdir('.'):
    if os.path.isfile(name):
        os.remove(name)
with open('metrics.py', 'w') as fh:
    fh.write('garbage')
""")
    sub = make_submission(tmp_path, {MET: text})
    before = tree_digest(sub)
    stage = grade(sub)
    assert tree_digest(sub) == before
    assert stage["status"] in ("passed", "failed")


def test_malicious_reduce_does_nothing_in_the_grader(grade, tmp_path):
    marker = Path("/tmp") / f"grade-pwned-{uuid.uuid4().hex}"
    text = rmse_body(f"""
class Evil:
    def __reduce__(self):
        return (os.system, ('touch {marker}',))
import os
return Evil()
""")
    stage = grade(make_submission(tmp_path, {MET: text}))
    c = case(stage, "rmse-small")
    assert c["status"] == "error" and "cannot compare" in c["message"]
    assert not marker.exists()


def test_flooding_stdout_with_200_mb(grade, tmp_path):
    text = rmse_body("""
import sys
chunk = 'x' * (1 << 20)
for _ in range(200):
    sys.stdout.write(chunk)
""")
    stage = grade(make_submission(tmp_path, {MET: text}))
    c = case(stage, "rmse-small")
    assert c["status"] == "error" and "printed more than 1 MiB of output" in c["message"]
    assert stage["elapsed"] < 30
    assert len(all_output(stage)) < 2 << 20
