"""Runaway runs step aside: past a few CPU-seconds a submission's run drops to idle priority and
no longer holds a batch worker; its limit counts CPU-seconds, with a wide wall-clock backstop."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from conftest import make_submission, variant
from grader.batch import run_batch
from grader.engine import Grader
from grader.sandbox import Limits, isolation
from grader.sandbox.job import DEMOTE_CPU_S, wall_backstop
from grader.verdict import Report
from helpers import MET, RMSE, RMSE_CASES

sandboxed = pytest.mark.skipif(not isolation.isolation()[0], reason=isolation.isolation()[1])

SPIN = """import os, time
    while time.process_time() < {cpu} and os.sched_getscheduler(0) != os.SCHED_IDLE:  # until it steps aside
        pass
    print('POLICY', os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0),
          open('/proc/self/autogroup').read().split()[-1], round(time.process_time(), 1))
    """


@pytest.fixture(scope="module")
def grader(stage5_course):
    with Grader(course=stage5_course, seed=11) as g:  # stage 5 alone, 5 s, 300 MB
        yield g


def _output(stage: dict) -> str:
    return "".join(c.get("details", {}).get("output", "") for c in stage["cases"])


@sandboxed
def test_a_run_past_the_threshold_runs_at_idle_priority_and_keeps_its_marks(grader, tmp_path, monkeypatch):
    asked, weights = [], []

    def stepped_aside(owner):
        asked.append(owner)
        weights.extend(_cpu_weights(grader.sandbox, owner))

    grader.sandbox.on_demote = stepped_aside
    # the first case spins until the run steps aside (past DEMOTE_CPU_S), within the 5 s limit; it then
    # needs next to no CPU, which it gets even on a busy machine
    text = variant(MET, RMSE, SPIN.format(cpu=4.5) + RMSE)
    sub = make_submission(tmp_path, {MET: text})
    stage = grader.grade(sub, ["mae-rmse"]).to_dict(details=True)["stages"][0]
    assert stage["score"] == stage["max_score"], stage["message"]
    policies = [line.split()[1:] for line in _output(stage).splitlines() if line.startswith("POLICY")]
    assert policies and all(p[:3] == [str(os.SCHED_IDLE), "19", "19"] for p in policies), policies
    assert DEMOTE_CPU_S <= float(policies[0][3]) < 4.5  # it stepped aside past the threshold
    assert asked == [str(sub.resolve())]
    # from outside, where the run cannot undo it: its sandbox's cpu cgroup has the smallest weight
    # meanwhile (where this machine lets the grader make cpu cgroups), the default again after
    assert all(w == "2" for w in weights), weights
    if os.geteuid() == 0 and Path("/sys/fs/cgroup/cpu").is_dir():
        assert weights


def _cpu_weights(sandbox, owner: str) -> list[str]:
    out = []
    for (key_owner, _), servers in list(sandbox._made.items()):
        for server in servers if key_owner == owner else ():
            path = server.cgroup.dirs.get("cpu") if server.cgroup else None
            if path is not None:
                out.append((path / "cpu.shares").read_text().strip())
    return out


@sandboxed
def test_a_loop_still_ends_at_its_limit_with_the_same_verdict(grader, tmp_path):
    grader.sandbox.on_demote = None
    text = variant(MET, RMSE, "while True:\n        pass\n    " + RMSE)
    started = time.monotonic()
    stage = grader.grade(make_submission(tmp_path, {MET: text}), ["mae-rmse"]).to_dict()["stages"][0]
    assert time.monotonic() - started < wall_backstop(Limits(5, 300)) + 10
    timed_out = {c["name"] for c in stage["cases"] if c["status"] == "timeout"}
    assert len(timed_out) == 1 and timed_out <= RMSE_CASES, stage["cases"]


@sandboxed
def test_the_reference_and_a_lone_submission_never_step_aside(grader, stage5_course):
    import dataclasses

    spec = grader.course.stages[0]
    grader.sandbox.on_demote = lambda folder: None  # a batch's
    job = grader._job(spec, grader.course.reference, grader.draws(spec), True)
    assert grader.sandbox._spec(job, _Server(), Path("/x"), Path("/y"))["limits"]["demote_cpu_s"] is None
    student = dataclasses.replace(job, trusted=False)
    assert grader.sandbox._spec(student, _Server(), Path("/x"), Path("/y"))["limits"]["demote_cpu_s"] == DEMOTE_CPU_S
    # a stage whose limit is under twice the threshold: its run would have little left at idle
    # priority, and would only end later
    short = dataclasses.replace(student, limits=Limits(1.5 * DEMOTE_CPU_S, 300))
    assert grader.sandbox._spec(short, _Server(), Path("/x"), Path("/y"))["limits"]["demote_cpu_s"] is None
    # a student's own `grade` of a folder: nobody to make room for
    grader.sandbox.on_demote = None
    assert grader.sandbox._spec(student, _Server(), Path("/x"), Path("/y"))["limits"]["demote_cpu_s"] is None


class _Server:
    work, cgroup, isolated = "/w", None, True

    @staticmethod
    def inside(path):
        return str(path)


class _Sandbox:
    on_demote = None


class _StuckGrader:
    """Two students loop (their runs step aside and never end until released); the rest are quick."""

    release = threading.Event()
    by_rows = False  # set when the honest rows, not the loopers' 30 s, released them
    timed_out = False

    def __init__(self, *a, **k):
        self.sandbox = _Sandbox()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.release.set()

    def grade(self, path, stages=None, contents=None):
        if Path(path).name.startswith("loop"):
            self.sandbox.on_demote(str(Path(path).resolve()))
            if not self.release.wait(30):
                _StuckGrader.timed_out = True  # no honest row came while the loopers held their threads
        return Report(submission=str(path), course="", seed=1, lang="en")


@pytest.mark.parametrize("honest", ["abcd", "stuvwxyz"])  # the loopers sorted first, then after
def test_looping_students_do_not_hold_the_workers(tmp_path, honest):
    c = tmp_path / "class"
    for name in ("loop1", "loop2", *honest):
        (c / name).mkdir(parents=True)
        (c / name / "metrics.py").write_text("x = 1\n")
    done: set[str] = set()

    class Stream:
        def write(self, text):
            done.update(name for name in honest if f"] {name}:" in text)
            if len(done) == len(honest) and not _StuckGrader.release.is_set():
                _StuckGrader.by_rows = True
                _StuckGrader.release.set()  # every honest row is in: let the loopers end

        def flush(self):
            pass

        def isatty(self):
            return False

    _StuckGrader.release.clear()
    _StuckGrader.timed_out = _StuckGrader.by_rows = False
    res = run_batch(c, tmp_path / "out", grader_factory=_StuckGrader, jobs=1, seed=1, stream=Stream())
    assert {r["id"] for r in res.rows} == {"loop1", "loop2", *honest}
    # with both workers held by the loopers, no honest row would come before their 30 s are up;
    # with more honest students than threads, the threads that took the loopers' places must go on
    assert done == set(honest) and _StuckGrader.by_rows and not _StuckGrader.timed_out


@sandboxed
def test_batch_profile_says_where_the_cpu_went(stage5_course, tmp_path, capsys, monkeypatch):
    from grader.batch import main as batch_main

    monkeypatch.setenv("GRADE_REFERENCE_CACHE", "off")  # the reference is run, and counted
    c = tmp_path / "class"
    for name, text in (("honest", None), ("spins", variant(MET, RMSE, SPIN.format(cpu=4.5) + RMSE))):
        (c / name).mkdir(parents=True)
        (c / name / MET).write_text(text or (stage5_course / "reference" / MET).read_text())
    code = batch_main([str(c), "--out", str(tmp_path / "out"), "--course", str(stage5_course), "--seed", "3",
                       "--jobs", "1", "--quiet", "--profile"])
    assert code == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("where the CPU went"))
    assert "(2 runs, 1 stepped aside to idle priority)" in line and "(1 runs)" in line and "(2 zygotes)" in line  # a light one and a full one
    students = float(line.split("the students' runs ")[1].split()[0])
    assert students >= 0.5  # the spinning student's own CPU-seconds are counted


class _LeftSandbox:
    """Records when the batch says only stepped-aside runs are left, and lets the loopers end then."""

    on_demote = None
    rows_then: list = []
    told = threading.Event()

    def only_stepped_aside_left(self):
        _LeftSandbox.rows_then.append(set(_LeftGrader.done))
        _LeftSandbox.told.set()


class _LeftGrader(_StuckGrader):
    done: set = set()

    def __init__(self, *a, **k):
        self.sandbox = _LeftSandbox()

    def grade(self, path, stages=None, contents=None):
        if Path(path).name.startswith("loop"):
            self.sandbox.on_demote(str(Path(path).resolve()))
            _LeftSandbox.told.wait(30)
        else:
            _LeftGrader.done.add(Path(path).name)
        return Report(submission=str(path), course="", seed=1, lang="en")


def test_when_only_stepped_aside_runs_are_left_the_batch_says_so(tmp_path):
    c = tmp_path / "class"
    for name in ("loop1", "a", "b", "loop2", "c"):
        (c / name).mkdir(parents=True)
        (c / name / "metrics.py").write_text("x = 1\n")
    _LeftSandbox.told.clear()
    _LeftSandbox.rows_then.clear()
    _LeftGrader.done.clear()
    started = time.monotonic()
    res = run_batch(c, tmp_path / "out", grader_factory=_LeftGrader, jobs=1, seed=1, quiet=True)
    assert {r["id"] for r in res.rows} == {"loop1", "loop2", "a", "b", "c"}
    # told once the honest students were all graded (not before), and in time for the loopers
    assert _LeftSandbox.rows_then and _LeftSandbox.rows_then[0] == {"a", "b", "c"}, [(r["id"], r["status"], r["reason"]) for r in res.rows]
    assert time.monotonic() - started < 25


SPIN_UNTIL_RESTORED = """import os, time
    while time.process_time() < 4.5 and os.sched_getscheduler(0) != os.SCHED_IDLE:  # until it steps aside
        pass
    while time.process_time() < 4.5 and os.sched_getscheduler(0) == os.SCHED_IDLE:  # until it is given back
        pass
    print('POLICY', os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0),
          open('/proc/self/autogroup').read().split()[-1], round(time.process_time(), 1))
    """


@sandboxed
def test_stepped_aside_runs_get_their_priority_back_when_nothing_else_is_left(stage5_course, tmp_path):
    if not (os.geteuid() == 0 and Path("/sys/fs/cgroup").is_dir()):
        pytest.skip("the grader gives priority back through the sandbox's cgroup (root, cgroups)")
    sub = make_submission(tmp_path, {MET: variant(MET, RMSE, SPIN_UNTIL_RESTORED + RMSE)})
    with Grader(course=stage5_course, seed=11) as g:
        g.sandbox.on_demote = lambda folder: None  # as a batch's
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("report", g.grade(sub, ["mae-rmse"])))
        worker.start()
        deadline = time.monotonic() + 30
        while not g.sandbox.stats["stepped_aside"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert g.sandbox.stats["stepped_aside"] == 1
        g.sandbox.only_stepped_aside_left()  # from outside: the run cannot do this itself
        worker.join(60)
    stage = out["report"].to_dict(details=True)["stages"][0]
    assert stage["score"] == stage["max_score"], stage["message"]
    policies = [line.split()[1:] for line in _output(stage).splitlines() if line.startswith("POLICY")]
    # back to SCHED_OTHER, nice 0, autogroup 0, well before its 4.5 CPU-s
    assert policies and policies[0][:3] == [str(os.SCHED_OTHER), "0", "0"], policies
    assert float(policies[0][3]) < 4.0


def test_a_run_the_kernel_ended_at_its_cpu_rlimit_ran_out_of_time():
    """Seen once on a loaded box: a looper killed by RLIMIT_CPU (a second past its limit) before its
    fork server's own check read "ended abruptly (SIGKILL)"; it is a timeout, as on the cluster."""
    import signal

    from grader.sandbox.forkserver import ForkServer

    server = ForkServer.__new__(ForkServer)
    server.cgroup, server.baseline = None, 0
    limits = Limits(20, 300)
    for sig in (signal.SIGKILL, signal.SIGXCPU):
        assert server._ended({"signal": sig, "cpu_s": 20.6}, False, 25.0, limits)["killed"] == "timeout"
    # a SIGKILL well within the limit (the student's own os.kill) stays what it was
    assert server._ended({"signal": signal.SIGKILL, "cpu_s": 3.0}, False, 4.0, limits)["killed"] is None
    assert server._ended({"signal": signal.SIGKILL, "cpu_s": "20"}, False, 4.0, limits)["killed"] is None


@sandboxed
def test_closing_the_session_ends_a_run_that_is_still_going(stage5_course, tmp_path):
    """A batch's Ctrl-C: a looper stepped aside to idle priority may wait a long while for a CPU
    (on a busy machine, up to its wall backstop); the session's close stops its sandbox at once."""
    sub = make_submission(tmp_path, {MET: variant(MET, RMSE, "import time\n    time.sleep(60)\n    " + RMSE)})
    started = threading.Event()
    g = Grader(course=stage5_course, seed=3)
    g.sandbox.on_demote = None
    thread = threading.Thread(target=lambda: (started.set(), g.grade(sub, ["mae-rmse"])), daemon=True)
    thread.start()
    started.wait(10)
    deadline = time.monotonic() + 20
    while not any(k[0] for k in g.sandbox._made) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the student's own sandbox exists (its run starts then)
    time.sleep(1.0)
    began = time.monotonic()
    g.close()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - began < 3  # not the 5 s limit, not the backstop
