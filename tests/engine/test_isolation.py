"""The host side of the sandbox: where runs live, and the seccomp program kept between runs."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from grader.sandbox import isolation, seccomp


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """The runs folder's parent pointed at tmp_path, runs_folder's memo cleared before and after."""
    monkeypatch.setattr(isolation, "runs_parent", lambda: str(tmp_path))
    isolation.runs_folder.cache_clear()
    yield tmp_path
    isolation.runs_folder.cache_clear()


def test_runs_live_in_a_folder_only_this_user_writes(temp_root):
    folder = isolation.runs_folder()
    st = os.lstat(folder)
    assert folder == temp_root / f"grade-runs-{os.geteuid()}"
    assert st.st_uid == os.geteuid() and not st.st_mode & 0o022


@pytest.mark.parametrize("plant", ["group-writable", "another-owner", "symlink"])
def test_a_runs_folder_planted_by_someone_else_is_passed_over(temp_root, plant):
    """Another local user who creates /tmp/grade-runs-UID first must not hold the runs (nor child.pyc)."""
    planted = temp_root / f"grade-runs-{os.geteuid()}"
    if plant == "symlink":
        (temp_root / "elsewhere").mkdir()
        planted.symlink_to(temp_root / "elsewhere")
    else:
        planted.mkdir()
        os.chmod(planted, 0o777)
        if plant == "another-owner":
            if os.geteuid() != 0:
                pytest.skip("chown needs root")
            os.chmod(planted, 0o711)
            os.chown(planted, 65534, 65534)
    folder = isolation.runs_folder()
    assert folder != planted and folder.parent == temp_root
    st = os.lstat(folder)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700


def test_runs_go_to_memory_when_the_machine_offers_enough(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "_free", lambda folder: 4 << 30)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert isolation.runs_parent() == str(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    expected = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    assert isolation.runs_parent() == expected
    # a container's small /dev/shm (64 MB) is passed over for the temporary folder
    monkeypatch.setattr(isolation, "_free", lambda folder: 64 << 20)
    assert isolation.runs_parent() == tempfile.gettempdir()


def test_the_seccomp_program_is_kept_and_reused(tmp_path):
    fresh = seccomp.program()
    if fresh is None:
        pytest.skip("libseccomp's binding is not installed")
    kept = seccomp.program(tmp_path)
    assert kept == fresh
    [path] = tmp_path.glob("seccomp-*.bpf")
    assert path.read_bytes() == fresh
    seccomp._cached.cache_clear()
    path.write_bytes(fresh)  # read back from the file, not compiled again
    assert seccomp.program(tmp_path) == fresh
