"""A jail that behaves like Docker's defaults (hence Gradescope's), for the uid backend's tests.

``docker_like(argv, root=...)`` runs `argv` as root in a fresh mount, pid, ipc and uts namespace
made by bubblewrap *without* a user namespace (so uids other than 0 exist inside, as in Docker),
with Docker's default capability set (no CAP_SYS_ADMIN: nothing can be mounted), no network,
and a seccomp filter refusing ``unshare``, ``setns`` and ``clone`` with any namespace flag, as
Docker's default profile does: nested bubblewrap fails there exactly as on Gradescope.

`root` is the jail's ``/``: the host's own (read-only, the default), or a Debian root folder.
The folder holding the grader's Python interpreter is bound read-only at its own path, in a
``/root`` other users may pass through (the host's ``/root`` is 0700, a container's Python is not
under it).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from grader.sandbox.seccomp import NAMESPACE_FLAGS

DOCKER_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")


TIMEOUT_S = 900  # a whole attack suite, or setup.sh, on a busy machine


def why_not() -> Optional[str]:
    """Why such a jail cannot be made on this machine (None when it can)."""
    if os.geteuid() != 0:
        return "the Docker-like jail needs root (bubblewrap without a user namespace)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed"
    try:
        import pyseccomp  # noqa: F401
    except ImportError:
        return "pyseccomp is not installed"
    return None


def _docker_filter() -> int:
    import pyseccomp as sc

    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in ("unshare", "setns", "mount", "pivot_root"):
        flt.add_rule(sc.ERRNO(errno.EPERM), name)
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    with tempfile.TemporaryFile() as fh:
        flt.export_bpf(fh)
        fh.flush()
        fh.seek(0)
        code = fh.read()
    fd = os.memfd_create("jail-seccomp")
    os.write(fd, code)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _under_root() -> list[Path]:
    """The tests' Python installation, its virtual environment and this checkout, where they lie
    under /root (which other users cannot enter) or /tmp (a fresh tmpfs in the jail, as in a
    container; a CI clone may live there): each is bound at its own path in the jail."""
    here = Path(__file__).resolve().parent.parent
    paths = [Path(os.path.realpath(p)) for p in (sys.base_prefix, sys.prefix, here)]
    keep = [p for p in dict.fromkeys(paths) if p.parts[1:2] in (("root",), ("tmp",)) and len(p.parts) > 2]
    return [p for p in keep if not any(q != p and q in p.parents for q in keep)]


def private_copy(folder: Path, into: Path) -> Path:
    """A copy of `folder` in a new folder only root may enter (as setup.sh leaves the course on Gradescope)."""
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(into, 0o700)
    shutil.copytree(folder, into / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(into / folder.name, 0o700)
    return into / folder.name


def _root_view(root: Path, replaced: list[str]) -> list[str]:
    """A Debian root folder as the jail's / : a fresh tmpfs holding its top folders read-only (its
    symlinks as they are), so that /autograder and the binds get mount points of their own."""
    args = ["--tmpfs", "/"]
    for entry in sorted(root.iterdir()):
        inside = "/" + entry.name
        if inside in replaced or entry.name in ("proc", "dev", "tmp", "root"):
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), inside]
        elif entry.is_dir():
            args += ["--ro-bind", str(entry), inside]
    return args


def docker_like(argv: Sequence[str], *, root: Path = Path("/"), binds: Sequence[tuple[str, str]] = (),
                ro_binds: Sequence[tuple[str, str]] = (), env: Optional[dict] = None, cwd: str = "/",
                cgroups: bool = False, host_python: bool = True) -> subprocess.CompletedProcess:
    """Run `argv` in the jail (see the module's doc); `binds`/`ro_binds`: (host, inside) pairs, e.g.
    writable copies of a read-only root's /etc and /var. `cgroups`: the machine's cgroup tree
    writable (a container with a delegated cgroup). `host_python`: the tests' Python at its path."""
    fd = _docker_filter()
    cmd = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--die-with-parent",
           "--new-session", "--cap-drop", "ALL", *[a for c in DOCKER_CAPS for a in ("--cap-add", c)]]
    cmd += ["--ro-bind", "/", "/"] if str(root) == "/" else _root_view(root, [i for _, i in (*binds, *ro_binds)])
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    cmd += ["--perms", "0711", "--tmpfs", "/root"]
    for path in _under_root() if host_python else []:
        for parent in reversed(path.parents[:-2]):  # e.g. /root/.pyenv, /root/.pyenv/versions: passable
            cmd += ["--perms", "0711", "--dir", str(parent)]
        cmd += ["--ro-bind", str(path), str(path)]
    if cgroups:
        cmd += ["--bind", "/sys/fs/cgroup", "/sys/fs/cgroup"]
    for host, inside in ro_binds:
        cmd += ["--ro-bind", host, inside]
    for host, inside in binds:
        cmd += ["--bind", host, inside]
    cmd += ["--chdir", cwd, "--seccomp", str(fd), "--", *argv]
    base = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "HOME": "/root"}
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env={**base, **(env or {})},
                              pass_fds=(fd,), stdin=subprocess.DEVNULL)
    finally:
        os.close(fd)
