"""The Gradescope bundle, run the way Gradescope runs it.

A bare Debian root (``debootstrap --variant=minbase bookworm`` with python3, python3-venv and
bubblewrap: what Gradescope's base image offers), made once and cached by .ci/run under
``$GRADE_CI_CACHE`` with a wheelhouse of the grader's dependencies. Here it is the ``/`` of a jail
that behaves like Docker's defaults (tests/jail.py: no namespaces, Docker's capabilities, seccomp
refusing unshare and CLONE_NEWUSER, no network). The autograder zip is unpacked at
``/autograder/source``, ``setup.sh`` runs (pip installs from the wheelhouse: PIP_NO_INDEX,
PIP_FIND_LINKS), then ``run_autograder`` for a correct, a wrong and a hostile submission, and each
results.json is checked against Gradescope's documented format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import REFERENCE, variant
from helpers import MET, RMSE
from jail import docker_like, why_not

CACHE = Path(os.environ.get("GRADE_CI_CACHE", "/var/cache/grade-ci"))
ROOTFS, WHEELS = CACHE / "gradescope-root", CACHE / "wheelhouse"


def _missing() -> str | None:
    if why_not():
        return why_not()
    if not (ROOTFS / "usr" / "bin" / "python3").exists() or not WHEELS.is_dir():
        return f"no cached Debian root and wheelhouse under {CACHE} (made by .ci/run's Gradescope block)"
    return None


MISSING = _missing()
if MISSING and os.environ.get("GRADE_REQUIRE_SANDBOX"):  # CI: .ci/run made them, the test must run
    raise RuntimeError(MISSING)
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}


def check_schema(results: dict) -> None:
    """Gradescope's "Autograder Specifications" (gradescope-autograders.readthedocs.io, specs)."""
    assert isinstance(results["score"], float) and isinstance(results["execution_time"], (int, float))
    assert isinstance(results["output"], str) and results["stdout_visibility"] in VISIBILITY
    assert "leaderboard" not in results and results["tests"]
    for t in results["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(t)
        assert isinstance(t["name"], str) and isinstance(t["output"], str)
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float) and 0 <= t["score"] <= t["max_score"]
        assert t["status"] in ("passed", "failed") and t["visibility"] in VISIBILITY
    assert abs(results["score"] - sum(t["score"] for t in results["tests"])) < 1e-9


class Container:
    """One Gradescope container: the cached root read-only, with writable copies of /etc and /var
    and a fresh /autograder."""

    def __init__(self, base: Path):
        self.base = base
        for sub in ("etc", "var"):
            shutil.copytree(ROOTFS / sub, base / sub, symlinks=True)
        self.autograder = base / "autograder"
        (self.autograder / "source").mkdir(parents=True)
        os.chmod(self.autograder, 0o755)

    def run(self, script: str) -> subprocess.CompletedProcess:
        binds = [(str(self.base / "etc"), "/etc"), (str(self.base / "var"), "/var"),
                 (str(self.autograder), "/autograder")]
        env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheelhouse", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        return docker_like(["/bin/bash", "-c", script], root=ROOTFS, binds=binds, host_python=False,
                           ro_binds=[(str(WHEELS), "/wheelhouse")], env=env, cwd="/autograder")

    def grade(self, files: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess]:
        sub = self.autograder / "submission"
        shutil.rmtree(sub, ignore_errors=True)
        sub.mkdir()
        for name, text in files.items():
            (sub / name).write_text(text, encoding="utf-8")
        # then count what the student user still runs: a daemon a submission started must be gone
        proc = self.run('/autograder/run_autograder; rc=$?; n=0; me=$(id -u student); '
                        'for d in /proc/[0-9]*; do [ "$(stat -c %u "$d" 2>/dev/null)" = "$me" ] && n=$((n+1)); done; '
                        'echo "LEFT=$n"; exit $rc')
        results = self.autograder / "results" / "results.json"
        return (json.loads(results.read_text()) if results.exists() else {}), proc


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    zip_path = base / "autograder.zip"
    made = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--package", str(zip_path), "--stage", "5"],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    box = Container(base)
    with zipfile.ZipFile(zip_path) as zf:  # as Gradescope does: unzip to source/, run_autograder to /autograder
        zf.extractall(box.autograder / "source")
    for name in ("setup.sh", "run_autograder"):
        os.chmod(box.autograder / "source" / name, 0o755)
    shutil.copy2(box.autograder / "source" / "run_autograder", box.autograder / "run_autograder")
    started = time.monotonic()
    setup = box.run("bash /autograder/source/setup.sh")
    box.setup_s = time.monotonic() - started
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    box.setup = setup
    return box


def test_setup_installs_the_grader_and_the_student_user(container):
    log = container.setup.stdout + container.setup.stderr
    assert "apt-get install -y bubblewrap" in log  # (offline: it is the image's own, as on Gradescope's)
    assert (container.base / "autograder").is_dir()
    assert (container.autograder / "venv" / "bin" / "python").exists()
    assert "student:" in (container.base / "etc" / "passwd").read_text()
    print(f"setup.sh took {container.setup_s:.1f} s")


def test_a_correct_submission_scores_full_in_the_uid_sandbox(container):
    data, proc = container.grade({MET: (REFERENCE / MET).read_text()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_schema(data)
    total = sum(t["max_score"] for t in data["tests"])
    assert data["score"] == total > 0, data["output"]
    assert "sandbox: uid" in data["output"]


def test_a_wrong_submission_loses_exactly_the_rmse_cases(container):
    wrong = variant(MET, RMSE, RMSE.replace("np.sqrt(", "(", 1))  # the mean square error, not its root
    data, proc = container.grade({MET: wrong})
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_schema(data)
    total = sum(t["max_score"] for t in data["tests"])
    assert 0 < data["score"] < total
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert failed and all("rmse" in t["name"] for t in failed) and all(t["output"] for t in failed)


HOSTILE = '''
import ctypes, os
found = []
for path in ("/autograder/source/course/reference/metrics.py", "/autograder/source/course/stages/05_mae_rmse.yaml",
             "/etc/shadow", "/autograder/results/results.json"):
    try:
        open(path).read()
        found.append("READ " + path)
    except OSError as exc:
        found.append("REFUSED " + type(exc).__name__)
for path in ("/autograder/results/results.json", "/autograder/source/run_autograder", "/autograder/run_autograder"):
    try:
        open(path, "w").write('{"score": 1000.0, "tests": []}')
        found.append("WROTE " + path)
    except OSError as exc:
        found.append("REFUSED " + type(exc).__name__)
libc = ctypes.CDLL(None, use_errno=True)  # past the courtesy audit hook: only the OS says no
fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
found.append("SOCKET" if fd >= 0 else "REFUSED errno %d" % ctypes.get_errno())
found.append("KILLED" if libc.kill(1, 9) == 0 else "REFUSED errno %d" % ctypes.get_errno())
if libc.fork() == 0:  # a daemon in a session of its own, meant to outlive the grading
    libc.setsid()
    while True:
        libc.sleep(1)
import pwd
if os.getuid() != pwd.getpwnam("student").pw_uid or os.geteuid() == 0:  # --run-as student: it runs as student
    found.append("UID %d" % os.getuid())
ESCAPED = [x for x in found if not x.startswith("REFUSED")]
'''


# Its comp_mae answers right only while every attack was refused; otherwise it names what got through.
HOSTILE_MAE = '''
_honest_mae = comp_mae


def comp_mae(pred, actual):
    if ESCAPED:
        raise RuntimeError("ESCAPED " + " | ".join(ESCAPED))
    return _honest_mae(pred, actual)
'''


def test_a_hostile_submission_is_contained(container):
    runner = (container.autograder / "run_autograder").read_bytes()
    data, proc = container.grade({MET: HOSTILE + (REFERENCE / MET).read_text() + HOSTILE_MAE})
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_schema(data)  # results.json is the grader's own: the submission could not overwrite it
    assert "ESCAPED" not in json.dumps(data), data
    total = sum(t["max_score"] for t in data["tests"])
    assert data["score"] == total and "sandbox: uid" in data["output"]  # contained, and graded as honest
    assert (container.autograder / "run_autograder").read_bytes() == runner
    assert "LEFT=0" in proc.stdout  # the daemon did not outlive the grading
