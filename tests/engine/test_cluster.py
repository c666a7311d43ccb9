"""`grade batch --scheduler`: a class graded on a Dask LocalCluster (2 worker processes).

The cluster's gradebook must equal the local batch's on the same class and seed; a worker
that dies mid-batch loses no student; a worker with another course or grader is refused;
without --scheduler Dask is never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dask  # noqa: E402

from grader.batch import cluster
from grader.batch import run_batch  # noqa: E402
from grader.batch.cluster import ClusterError, ClusterGrading  # noqa: E402
from test_batch import _zip_folder, build_student, make_class, make_test_course  # noqa: E402

SEED = 4242
KINDS = {"alice": "correct", "carol": "partial", "dave": "syntax-error", "erin": "crash", "frank": "hang",
         "niaj": "empty"}


@pytest.fixture(scope="module")
def cluster_address():
    with dask.config.set(cluster.SCHEDULER_CONFIG):
        lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield lc.scheduler_address
    finally:
        lc.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_test_course(tmp_path_factory.mktemp("course"))


def _class(tmp_path: Path) -> Path:
    c = make_class(tmp_path / "class", KINDS)
    build_student(tmp_path / "zipped" / "ivan", "correct", files=("activation.py", "metrics.py"))
    _zip_folder(tmp_path / "zipped" / "ivan", c / "ivan.zip", prefix="ivan-submission/")
    return c


TIMINGS = {"duration_s", "run_s", "wait_s", "wall_s"}  # the only fields two gradings may differ in


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _reports(out: Path) -> dict:
    """Every student's gradebook.json entry (row and report, each case's verdict), without the timings:
    the reproduce command too, which must name the student's path, not the worker's copy."""
    doc = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    return {s["id"]: _untimed(s) for s in doc["students"]}


def test_cluster_gradebook_equals_the_local_one(cluster_address, course, tmp_path):
    c = _class(tmp_path)
    local = run_batch(c, tmp_path / "local", course_dir=course, jobs=2, seed=SEED, quiet=True)
    remote = run_batch(c, tmp_path / "remote", course_dir=course, seed=SEED, quiet=True,
                       grade_many=ClusterGrading(cluster_address))
    assert remote.graded == len(KINDS) + 1 and remote.cached == 0
    assert (tmp_path / "remote" / "gradebook.csv").read_bytes() == (tmp_path / "local" / "gradebook.csv").read_bytes()
    assert _reports(tmp_path / "remote") == _reports(tmp_path / "local")
    rows = {r["id"]: r for r in remote.rows}
    assert rows["alice"]["total"] == rows["alice"]["max"] > 0 and rows["frank"]["status"] == "error"
    for name in ("index.html", "students/alice.html", ".cache/alice.json"):
        assert (tmp_path / "remote" / name).is_file()
    # the client's cache serves the re-run: nothing goes to the cluster
    again = run_batch(c, tmp_path / "remote", course_dir=course, seed=SEED, quiet=True,
                      grade_many=ClusterGrading("tcp://127.0.0.1:9"))  # unreachable: must not be needed
    assert again.cached == len(KINDS) + 1 and again.graded == 0


def _zygotes_of(dask_worker=None) -> list:
    """On a worker: for each of its warm Graders, its zygotes (full and light) as (asked for a server,
    set aside, alive)."""
    plugin = dask_worker.plugins.get(cluster.PLUGIN_NAME)
    graders = plugin.graders._graders.values() if plugin is not None and plugin.graders is not None else []
    return [[(z.ready, z.failed, z.alive()) for z in g.sandbox.zygotes + g.sandbox.light_zygotes] for g in graders]


def test_the_workers_fork_their_sandboxes_from_their_zygote(cluster_address, course, tmp_path):
    """As in a local batch, a worker's sandboxes get their fork server from the worker's zygote
    (which holds torch and sympy already), not from a Python of their own."""
    from grader.sandbox import isolation

    if isolation.backend()[0] != "bwrap":
        pytest.skip("zygotes serve bubblewrap's sandboxes only")
    c = make_class(tmp_path / "class", {"alice": "correct", "bob": "correct"}, files=("activation.py",))
    res = run_batch(c, tmp_path / "out", course_dir=course, seed=SEED, quiet=True,
                    grade_many=ClusterGrading(cluster_address))
    assert res.graded == 2
    with distributed.Client(cluster_address) as client:
        seen = [z for graders in client.run(_zygotes_of).values() for zygotes in graders for z in zygotes]
    assert seen and all(alive and not failed for _, failed, alive in seen), seen
    assert any(asked for asked, _, _ in seen), seen  # a zygote forked the sandboxes' servers


def _killing_task(marker: str):
    """A task that kills its worker process: always for KILL_ALWAYS, on the first try for KILL_ONCE."""
    def task(data, request):
        import io
        import os
        import zipfile as zf

        from grader.batch.cluster import grade_submission

        names = zf.ZipFile(io.BytesIO(data)).namelist()
        if "KILL_ALWAYS" in names:
            os._exit(1)
        if "KILL_ONCE" in names and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return grade_submission(data, request)
    return task


def test_a_dying_worker_loses_no_student(cluster_address, course, tmp_path):
    c = make_class(tmp_path / "class", {"alice": "correct", "bob": "correct", "mallory": "correct",
                                        "carol": "template"}, files=("activation.py", "metrics.py"))
    (c / "bob" / "KILL_ONCE").write_text("")
    (c / "mallory" / "KILL_ALWAYS").write_text("")
    marker = tmp_path / "bob-killed-once"
    res = run_batch(c, tmp_path / "out", course_dir=course, seed=SEED, quiet=True,
                    grade_many=ClusterGrading(cluster_address, task=_killing_task(str(marker))))
    rows = {r["id"]: r for r in res.rows}
    assert set(rows) == {"alice", "bob", "mallory", "carol"}
    assert marker.exists()  # bob's first worker really died
    assert rows["bob"]["status"] == "graded" and rows["bob"]["total"] == rows["alice"]["total"] == rows["bob"]["max"]
    assert rows["mallory"]["status"] == "error" and "died twice" in rows["mallory"]["reason"]
    assert rows["carol"]["status"] == "not started" and rows["carol"]["total"] < rows["carol"]["max"]  # the template


def _stuck_task():
    """A task whose grading never ends for a submission holding STUCK (a grader bug, not student code)."""
    def task(data, request):
        import io
        import time
        import zipfile as zf

        from grader.batch.cluster import grade_submission

        if "STUCK" in zf.ZipFile(io.BytesIO(data)).namelist():
            time.sleep(3600)
        return grade_submission(data, request)
    return task


def test_a_grading_stuck_past_the_deadline_gets_an_error_row_and_its_worker_back(cluster_address, course, tmp_path):
    c = make_class(tmp_path / "class", {"alice": "correct", "stuck": "correct"}, files=("metrics.py",))
    (c / "stuck" / "STUCK").write_text("")
    res = run_batch(c, tmp_path / "out", course_dir=course, seed=SEED, quiet=True, student_timeout_s=20,
                    grade_many=ClusterGrading(cluster_address, task=_stuck_task()))
    rows = {r["id"]: r for r in res.rows}
    assert rows["alice"]["status"] == "graded" and rows["alice"]["total"] == rows["alice"]["max"]
    assert rows["stuck"]["status"] == "error" and "did not finish within 20 s" in rows["stuck"]["reason"]
    with distributed.Client(cluster_address) as client:  # the stuck worker was restarted: both serve again
        client.wait_for_workers(2, timeout=60)
        assert sum(client.nthreads().values()) == 2
        assert not any(client.processing().values())


def test_a_worker_with_another_grader_is_refused(cluster_address, course, tmp_path, monkeypatch):
    c = make_class(tmp_path / "class", {"alice": "correct"}, files=("metrics.py",))
    with distributed.Client(cluster_address) as client:
        client.wait_for_workers(2, timeout=60)  # the previous test's killed workers come back
        workers_fp = client.run(cluster.fingerprint, str(course))
    mine = cluster.fingerprint(str(course))
    assert len(workers_fp) == 2 and all(fp == mine for fp in workers_fp.values())
    # This client now runs another grader version than the workers (they are other processes).
    monkeypatch.setattr(cluster, "_grader_id", lambda: "f" * 16)
    with pytest.raises(ClusterError) as err:
        run_batch(c, tmp_path / "out", course_dir=course, seed=SEED, quiet=True,
                  grade_many=ClusterGrading(cluster_address))
    msg = str(err.value)
    assert "f" * 16 in msg and mine["grader"] in msg and mine["course"] in msg and "same grader" in msg
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_a_task_on_a_worker_that_differs_is_refused(cluster_address, course, tmp_path):
    """A worker that joins later is checked by the task itself."""
    build_student(tmp_path / "alice", "correct", files=("metrics.py",))
    client = distributed.Client(cluster_address)
    try:
        client.wait_for_workers(2, timeout=60)
        theirs = client.run(cluster.fingerprint, str(course))
        other = {"course": "0" * 16, "grader": next(iter(theirs.values()))["grader"]}
        request = {"course_dir": str(course), "seed": SEED, "lang": "en", "stages": None, "expect": other}
        st = type("S", (), {"root": tmp_path / "alice", "file_id": "alice", "key": "k"})()
        with pytest.raises(ClusterError, match="0" * 16):
            list(cluster.grade_on_cluster(client, [st], request))
    finally:
        client.close()


def test_pack_keeps_regular_files_only(tmp_path):
    build_student(tmp_path / "s", "correct", files=("metrics.py",))
    (tmp_path / "s" / "__pycache__").mkdir()
    (tmp_path / "s" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    os.symlink("/etc/passwd", tmp_path / "s" / "link.py")
    names = zipfile.ZipFile(__import__("io").BytesIO(cluster.pack(tmp_path / "s"))).namelist()
    assert names == ["metrics.py"]
    (tmp_path / "u").mkdir()
    root = cluster.unpack(cluster.pack(tmp_path / "s"), tmp_path / "u")
    assert (root / "metrics.py").read_bytes() == (tmp_path / "s" / "metrics.py").read_bytes()


def test_without_scheduler_dask_is_not_imported(course, tmp_path):
    c = make_class(tmp_path / "class", {"alice": "correct"}, files=("metrics.py",))
    code = ("import sys; from grader.batch import main; "
            f"rc = main([{str(c)!r}, '--out', {str(tmp_path / 'out')!r}, '--course', {str(course)!r}, '-q', "
            "'--stage', '5']); "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr
    assert "alice" in (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8-sig")


def test_cli_uses_the_scheduler_from_the_environment(cluster_address, course, tmp_path, monkeypatch, capsys):
    from grader.cli import main
    from test_batch import read_csv

    c = make_class(tmp_path / "class", {"alice": "correct", "carol": "template"}, files=("metrics.py",))
    sent = []
    real = cluster.grade_on_cluster
    monkeypatch.setattr(cluster, "grade_on_cluster", lambda client, students, *a, **k: real(
        client, sent.extend(s.id for s in students) or students, *a, **k))
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster_address)
    args = ["batch", str(c), "--out", str(tmp_path / "out"), "--course", str(course), "--seed", "5", "-q"]
    assert main(args) == 0
    assert sorted(sent) == ["alice", "carol"]
    rows = read_csv(tmp_path / "out" / "gradebook.csv")
    assert rows["alice"]["status"] == "graded" and rows["alice"]["total"] == rows["alice"]["max"]
    assert rows["carol"]["status"] == "not started" and float(rows["carol"]["total"]) < float(rows["carol"]["max"])
    # options that only a local batch uses are said to be ignored, not silently dropped
    capsys.readouterr()
    assert main(args + ["--force", "--jobs", "3", "--no-fork-server"]) == 0
    assert "ignored with --scheduler: --jobs --no-fork-server" in capsys.readouterr().err
    # a client whose grader differs from the workers': refused, exit 2, one clear line
    monkeypatch.setattr(cluster, "_grader_id", lambda: "e" * 16)
    assert main(args[:-1] + ["--force", "-q"]) == 2
    assert "same grader" in capsys.readouterr().err


def test_worker_setup_prints_the_commands_and_this_machines_hashes(course, capsys):
    from grader.cli import main

    assert main(["worker-setup", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    mine = cluster.fingerprint(str(course))
    assert f"course {mine['course']}, grader {mine['grader']}" in out
    assert "dask scheduler" in out and "--nthreads 1 --nworkers" in out and f"GRADE_COURSE={course}" in out
    assert main(["worker-setup", "--course", str(course), "--lang", "zh"]) == 0
    assert f"课程 {mine['course']},评分器 {mine['grader']}" in capsys.readouterr().out


def test_a_changed_course_changes_the_fingerprint(course, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(course, other)
    assert cluster.fingerprint(str(other)) == cluster.fingerprint(str(course))  # same content, other place
    spec = next((other / "stages").glob("*.yaml"))
    spec.write_text(spec.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert cluster.fingerprint(str(other))["course"] != cluster.fingerprint(str(course))["course"]


def test_a_worker_without_a_sandbox_is_refused_unless_unsafe(cluster_address, course, tmp_path):
    c = make_class(tmp_path / "class", {"alice": "correct"}, files=("metrics.py",))

    def no_sandbox(on: bool) -> None:  # runs in the worker processes
        import grader.batch.cluster as gc

        if on:
            gc._real_refusal = gc.sandbox_refusal
            gc.sandbox_refusal = lambda unsafe, lang: None if unsafe else "no sandbox on this worker"
        else:
            gc.sandbox_refusal = gc._real_refusal

    with distributed.Client(cluster_address) as client:
        client.wait_for_workers(2, timeout=60)
        client.run(no_sandbox, True)
        try:
            with pytest.raises(ClusterError, match="no sandbox on this worker"):
                run_batch(c, tmp_path / "out", course_dir=course, seed=SEED, quiet=True,
                          grade_many=ClusterGrading(cluster_address))
            assert not (tmp_path / "out" / "gradebook.csv").exists()
            res = run_batch(c, tmp_path / "out", course_dir=course, seed=SEED, quiet=True,
                            grade_many=ClusterGrading(cluster_address, unsafe=True))
        finally:
            client.run(no_sandbox, False)
    assert [(r["id"], r["status"]) for r in res.rows] == [("alice", "graded")]
