"""The trusted zygote (grader/sandbox/zygote.py): each submission's fork server is forked from a
process that already holds numpy, torch, sympy and matplotlib, into the submission's own sandbox.

Each test grades real submissions against real sandboxes. The attacks aim only at what the
test made: the zygotes of its own Grader, and canaries in its own runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import REFERENCE, ROOT, case, make_submission, variant
from grader.engine import Grader
from grader.sandbox import Sandbox, isolation
from helpers import MET, RMSE, RMSE_CASES

pytestmark = pytest.mark.skipif(not isolation.isolation()[0], reason=isolation.isolation()[1])

PROBE = r'''
import ctypes, json, os, sys
def _probe():
    status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines() if ':' in line)
    keep = ('Uid', 'Gid', 'CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb', 'NoNewPrivs', 'Seccomp')
    fds = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            fds[fd] = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            pass
    import numpy
    return {'status': {k: status[k].split() for k in keep if k in status}, 'fds': fds,
            'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
            'planted': [p for p in ('/tmp/planted', os.path.expanduser('~/planted')) if os.path.exists(p)],
            'numpy_planted': hasattr(numpy, 'planted_by_a_run'), 'torch': 'torch' in sys.modules}
print('PROBE' + json.dumps(_probe()) + 'END')
'''


def probed(stage: dict) -> dict:
    text = stage.get("details", {}).get("output", "") + "".join(c.get("details", {}).get("output", "")
                                                                for c in stage["cases"])
    assert "PROBE" in text, stage["message"]
    return json.loads(text.split("PROBE", 1)[1].split("END", 1)[0])


@pytest.fixture(scope="module")
def grader(stage5_course):
    with Grader(course=stage5_course, seed=11, sandbox=Sandbox(workers=1, zygote=True)) as g:
        assert g.sandbox.zygotes, "the sandboxes are not forked from a zygote here"
        yield g


def grade(grader, sub: Path) -> dict:
    return grader.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]


def with_probe(extra: str = "") -> str:
    return (REFERENCE / MET).read_text(encoding="utf-8") + "\n" + extra + PROBE


def test_a_run_holds_no_privilege_and_no_descriptor_of_the_zygote(grader, tmp_path):
    stage = grade(grader, make_submission(tmp_path, {MET: with_probe()}))
    assert stage["score"] == stage["max_score"], stage["message"]
    info = probed(stage)
    st = info["status"]
    assert st["Uid"] == [str(isolation.INSIDE_UID)] * 4 and st["Gid"][0] == str(isolation.INSIDE_UID)
    for cap in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert int(st[cap][0], 16) == 0, (cap, st[cap])
    assert st["NoNewPrivs"] == ["1"] and st["Seccomp"] == ["2"]
    # every open descriptor is the run's own: its output, its results, /dev/null (and the one listing them)
    for fd, target in info["fds"].items():
        assert target == "/dev/null" or target.startswith((isolation.WORK_DIR + "/", "/proc/")), (fd, target)
    # a file that imports no heavy library forks from the light zygote: no torch to copy and tear down
    assert info["torch"] is False
    # only its own sandbox's processes: bubblewrap's init, the placeholder, the server, the run
    assert len(info["pids"]) <= 5, info["pids"]


def test_a_file_that_imports_torch_anywhere_forks_from_the_zygote_that_holds_it(grader, tmp_path):
    # the probe runs before the file's own (lazy) import: torch is there already, preloaded
    lazy = "\ndef _later():\n    import torch\n    return torch\n"
    stage = grade(grader, make_submission(tmp_path, {MET: with_probe(lazy)}))
    assert stage["score"] == stage["max_score"], stage["message"]
    assert probed(stage)["torch"] is True


def test_a_change_planted_by_one_run_is_absent_in_the_next(grader, tmp_path):
    zygotes = [z.proc.pid for z in grader.sandbox.zygotes + grader.sandbox.light_zygotes]
    plant = f"""
import ctypes, os, signal
import numpy
numpy.planted_by_a_run = True
for path in ('/tmp/planted', os.path.expanduser('~/planted')):
    with open(path, 'w') as fh:
        fh.write('x')
libc = ctypes.CDLL(None)
for pid in {zygotes!r} + [1]:
    libc.kill(pid, signal.SIGKILL)  # the zygote's number, seen from inside (around the courtesy hook)
"""
    first = grade(grader, make_submission(tmp_path, {MET: with_probe(plant)}))
    assert probed(first)["numpy_planted"] is True and len(probed(first)["planted"]) == 2
    assert all(z.alive() for z in grader.sandbox.zygotes + grader.sandbox.light_zygotes)
    later = grade(grader, make_submission(tmp_path, {MET: with_probe()}))
    info = probed(later)
    assert info["planted"] == [] and info["numpy_planted"] is False
    assert later["score"] == later["max_score"], later["message"]


def test_a_run_cannot_see_or_signal_another_run(grader, tmp_path):
    """One student's run kills every process it can see while another student's run sleeps."""
    import threading

    sleeper = make_submission(tmp_path, {MET: variant(MET, RMSE, "import time; time.sleep(0.4)\n    " + RMSE)})
    killer = make_submission(tmp_path, {MET: variant(
        MET, RMSE, "import ctypes\n    [ctypes.CDLL(None).kill(p, 9) for p in range(1, 40000)]\n    " + RMSE)})
    results = {}
    thread = threading.Thread(target=lambda: results.setdefault("sleeper", grade(grader, sleeper)))
    thread.start()
    results["killer"] = grade(grader, killer)
    thread.join()
    assert results["sleeper"]["score"] == results["sleeper"]["max_score"], results["sleeper"]["message"]
    assert RMSE_CASES <= {c["name"] for c in results["killer"]["cases"] if c["status"] != "passed"}
    assert all(z.alive() for z in grader.sandbox.zygotes + grader.sandbox.light_zygotes)


def test_the_memory_limit_is_charged_to_the_run_not_the_zygote(grader, tmp_path):
    # torch is mapped from the zygote: a numpy stage that imports it keeps its whole 300 MB for itself
    fits = variant(MET, RMSE, "import torch\n    keep = np.ones(200 * 2**20 // 8)\n    " + RMSE)
    stage = grade(grader, make_submission(tmp_path, {MET: fits}))
    assert stage["score"] == stage["max_score"], stage["message"]
    hog = variant(MET, RMSE, "keep = np.ones(900 * 2**20 // 8)\n    " + RMSE)
    c = case(grade(grader, make_submission(tmp_path, {MET: hog})), "rmse-small")
    assert c["status"] == "error" and "memory limit" in c["message"], c["message"]


def test_the_zygote_holds_no_answer(grader, stage5_course):
    for zygote in grader.sandbox.zygotes + grader.sandbox.light_zygotes:
        pid = zygote.proc.pid
        seen = Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
        for target in os.listdir(f"/proc/{pid}/fd"):
            try:
                seen += os.readlink(f"/proc/{pid}/fd/{target}").encode()
            except OSError:
                pass
        for secret in (stage5_course, REFERENCE, ROOT / "reference", ROOT / "stages"):
            assert str(secret).encode() not in seen
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "reference" not in maps and str(stage5_course) not in maps


ACCEPTED = ROOT / "stages" / "accepted"  # the seed's answers, as the platform accepted them


def test_the_gradebook_is_the_same_with_the_zygote_off(tmp_path):
    torch_top = make_submission(tmp_path, {
        "activation.py": "import torch\nprint('hi')\n" + (REFERENCE / "activation.py").read_text(encoding="utf-8"),
        "steepest_descent.py": "import sympy\n" + (REFERENCE / "steepest_descent.py").read_text(encoding="utf-8"),
    })
    seed = make_submission(tmp_path, {"l2_regularization.py": (ACCEPTED / "l2-regularization" / "seed002.py").read_text(
        encoding="utf-8"), "activation.py": (ACCEPTED / "relu" / "seed002.py").read_text(encoding="utf-8")})
    broken = make_submission(tmp_path, {"metrics.py": "import numpy as np\ndef comp_mae(:\n"})
    stages = ["1", "2", "5", "6", "10"]
    books = []
    for zygote in (True, False):
        with Grader(seed=5, sandbox=Sandbox(workers=2, zygote=zygote)) as g:
            assert bool(g.sandbox.zygotes) is zygote
            books.append([[(s.number, s.score, s.status, [(c.name, c.status, c.score) for c in s.cases])
                           for s in g.grade(sub, stages).stages] for sub in (torch_top, seed, broken)])
    assert books[0] == books[1]
    assert books[0][1][-1][1] > 0  # the seed's stage 10 trained, and was graded, with the zygote


def test_where_the_zygote_cannot_serve_each_sandbox_starts_its_own_python(stage5_course, tmp_path):
    with Grader(course=stage5_course, seed=11, sandbox=Sandbox(workers=1, zygote=True)) as g:
        zygotes = [g.sandbox.zygotes[0], g.sandbox.light_zygotes[0]]
        for zygote in zygotes:
            zygote.proc.kill()  # as if setns were refused on this machine: the spawn fails
            zygote.proc.wait()
        stage = grade(g, make_submission(tmp_path, {}))
        assert stage["score"] == stage["max_score"], stage["message"]
        assert zygotes[1].failed  # the student's numpy run asked the light one (the reference may be cached)



def _huge_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def _collapses() -> bool:
    """Whether this kernel backs private memory with 2 MB pages on request (MADV_COLLAPSE)."""
    import ctypes
    import mmap

    area = mmap.mmap(-1, 4 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    area.write(b"x" * (4 << 20))
    view = (ctypes.c_char * (4 << 20)).from_buffer(area)
    start = (ctypes.addressof(view) + (1 << 21) - 1) & ~((1 << 21) - 1)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    try:
        return libc.madvise(start, 1 << 21, 25) == 0
    finally:
        del view
        area.close()


@pytest.mark.parametrize("setting", ["1", "0"])
def test_the_zygotes_memory_is_in_2_mb_pages_where_the_kernel_can(setting, monkeypatch):
    """A fork and exit of a torch-holding process costs a third in 2 MB pages (docs/sandbox.md)."""
    if not _collapses():
        pytest.skip("this kernel does not collapse memory into 2 MB pages (Linux < 6.1, or THP off)")
    import time

    from grader.sandbox.zygote import Zygote

    monkeypatch.setenv("GRADE_HUGE_PAGES", setting)
    z = Zygote(("numpy",))
    try:
        assert "ready" in z._receive(time.monotonic() + 120)
        z.ready = True
        deadline = time.monotonic() + 10  # it collapses its pages while no spawn request waits
        while setting == "1" and not _huge_kb(z.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        huge = _huge_kb(z.proc.pid)
        thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
        always = thp.is_file() and "[always]" in thp.read_text()  # 2 MB pages then come unasked
        assert (huge > 0) if setting == "1" else (huge == 0 or always), huge
    finally:
        z.close()
