"""The second sandbox backend, ``uid``: for containers that refuse new namespaces but run the grader as root.

Docker's defaults (hence Gradescope) mask /proc and refuse CLONE_NEWUSER and unshare, so
bubblewrap cannot start there. The grader is root inside, though, so each sandbox's fork
server (``child.py``) instead starts as

- a uid of its own (``setgroups([])``, ``setregid``, ``setreuid`` by ``subprocess``: no
  capability, no supplementary group), one per submission, another for the reference; or the
  ``--run-as`` user's for submissions, where the caller names one (Gradescope's ``student``);
- with ``no_new_privs`` and the same seccomp filter as bubblewrap's sandbox, loaded by the fork
  server before it imports anything, plus a refusal of every socket but AF_UNIX (no empty network
  namespace can be made, so the filter stands in for it);
- in a private working copy only that uid can write (mode 0700), its prepared jobs in a folder
  only its group may enter (root-owned, 0750);
- in the sandbox's memory and pids cgroup where one is delegated (the grader writes the fork
  server's pid into it), else under rlimits (address space, processes per uid); stopped through
  its cgroup, or its fork server's process tree, and every process of its uid once it is done.

What it cannot do that bubblewrap does (docs/security.md lists it): hide the machine's files that
are world-readable (the answers must be unreadable to other users: the grader checks this and
refuses otherwise), hide other processes' /proc entries, cap the disk a run writes beyond one
file's size, give each run a private /tmp, and show the course's platform files at their paths
without creating them on the host.
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional


FIRST_UID = 60100  # sandbox uids: FIRST_UID, FIRST_UID+1, ... (below 65534: rootless containers map 0-65535)
POOL = 400
_next = itertools.count(os.getpid() % POOL)
_lock = threading.Lock()


def new_uid(taken: Iterable[int] = ()) -> int:
    """A sandbox uid no user of this machine has, no other sandbox of this process holds and no
    running process uses (another grader's sandboxes), counted on from a start of this process's own."""
    import pwd

    busy = set(taken) | {owner for owner, _ in _processes().values()}
    with _lock:
        for _ in range(POOL):
            uid = FIRST_UID + next(_next) % POOL
            try:
                pwd.getpwuid(uid)
                continue
            except KeyError:
                pass
            if uid not in busy:
                return uid
    raise RuntimeError(f"no free sandbox uid between {FIRST_UID} and {FIRST_UID + POOL}")


def user_uid(name: str) -> Optional[int]:
    """The uid of a user named by ``--run-as`` (None when there is no such user, or it is root)."""
    import pwd

    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return None
    return uid or None


CHILD = Path(__file__).resolve().with_name("child.py")


@functools.lru_cache(maxsize=1)
def probe() -> tuple[bool, str]:
    """(available, reason): whether this process can run fork servers as another uid under seccomp."""
    from grader.sandbox import seccomp

    if not sys.platform.startswith("linux"):
        return False, f"the uid backend needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return False, f"the uid backend needs the grader to run as root (this is uid {os.geteuid()})"
    fd = seccomp.filter_fd(None, network=False)
    if fd is None:
        return False, "the seccomp library binding (pyseccomp, libseccomp2) is missing"
    uid = new_uid()
    try:  # child.py itself, read from stdin (the grader's folder may be closed to other users)
        proc = subprocess.run([*command(Path("-"), fd), "--probe"], input=CHILD.read_bytes(), capture_output=True,
                              timeout=60, cwd="/", pass_fds=(fd,), **popen_options(uid, "/"))
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"the uid backend could not start Python as uid {uid}: {exc}"
    finally:
        os.close(fd)
    if proc.returncode != 0 or b"probe ok" not in proc.stdout:
        why = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        return False, f"the uid backend could not start its sandbox here ({why[0][:200]})"
    return True, "uid sandbox (a separate unprivileged uid, seccomp, rlimits; no network namespace)"


def command(child: Path, seccomp_fd: int, argv: Iterable[str] = ()) -> list[str]:
    """The fork server's command line: it loads the seccomp filter from ``seccomp_fd`` first."""
    return [os.path.realpath(sys.executable), "-I", "-S", str(child), "--seccomp-fd", str(seccomp_fd), *argv]


def popen_options(uid: int, home: str) -> dict:
    """``subprocess`` arguments that start the fork server as `uid` (group `uid`, no other group)."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HOME": home, "TMPDIR": home}
    return {"user": uid, "group": uid, "extra_groups": [], "umask": 0o077, "env": env, "start_new_session": True}


def prepare(folders: dict[str, Path], uid: int) -> None:
    """The sandbox's folders: its prepared jobs readable only by its group (root-owned, 0750), its
    working folder writable only by it (0700). The session's folder lets others pass, not list."""
    root = folders["staging"].parent
    os.chmod(root, 0o711)
    os.chown(folders["staging"], 0, uid)
    os.chmod(folders["staging"], 0o750)
    os.chown(folders["work"], uid, uid)
    os.chmod(folders["work"], 0o700)
    os.chmod(folders["inputs"], 0o755)


def enter_cgroup(files: list[str], pid: int) -> None:
    """Move the fork server (before it forks anything) into its cgroup: it cannot write there itself."""
    for path in files:
        try:
            Path(path).write_text(str(pid))
        except OSError:
            pass


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (uid, parent pid) of every live process (zombies left out) this process can see."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] not in ("Z", "X"):
                out[int(entry.name)] = (entry.stat(follow_symlinks=False).st_uid, int(fields[1]))
        except (OSError, ValueError, IndexError):
            pass
    return out


def kill_until_gone(find: Callable[[], list[int]], rounds: int = 100) -> None:
    """SIGKILL the processes `find` lists until it lists none (or `rounds` tries have passed)."""
    for _ in range(rounds):
        pids = find()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)


def kill_uid(uid: int) -> None:
    """Kill every process of the sandbox's uid, however it detached itself."""
    kill_until_gone(lambda: [pid for pid, (owner, _) in _processes().items() if owner == uid])


def kill_tree(root: int) -> None:
    """Kill a fork server and everything under it (it is a child subreaper: orphans stay beneath it),
    leaving its sibling fork servers of the same uid alone."""

    def tree() -> list[int]:
        procs = _processes()
        found, grew = {root}, True
        while grew:
            more = {pid for pid, (_, parent) in procs.items() if parent in found} - found
            found |= more
            grew = bool(more)
        return [pid for pid in found if pid in procs]

    kill_until_gone(tree)


def private_files(folder: Path, cap: int = 5000) -> list[Path]:
    """What no sandbox may read in `folder`: a course's reference/ and stages/ (the platform's public
    files aside), or else the folder and everything in it (e.g. the other students' work)."""
    folder = Path(folder)
    tops = [folder / sub for sub in ("reference", "stages") if (folder / sub).is_dir()]
    out: list[Path] = []
    for top in tops or ([folder] if folder.is_dir() else []):
        out.append(top)
        for path in top.rglob("*"):
            if len(out) >= cap:
                return out
            if not (tops and top.name == "stages" and path.relative_to(top).parts[0] == "platform"):
                out.append(path)
    return out


def readable_by(uid: int, paths: Iterable[Path]) -> list[Path]:
    """Which of `paths` a process of `uid` could open (the answers must be none of them)."""
    paths = [str(p) for p in paths if Path(p).exists()]
    if not paths:
        return []
    code = ("import os,sys\nfor p in sys.argv[1:]:\n"
            "    try:\n        os.listdir(p) if os.path.isdir(p) else open(p,'rb').close(); print(p)\n"
            "    except OSError:\n        pass\n")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, *paths], capture_output=True, text=True,
                          timeout=60, cwd="/", **popen_options(uid, "/"))
    return [Path(p) for p in proc.stdout.splitlines() if p]


def link_platform(binds: dict[str, Path]) -> list[str]:
    """The course's platform folders at their paths (bubblewrap binds them; here a symlink at the
    top of the machine, made when the path is free). Returns the paths left unavailable."""
    missing = []
    for inside, host in binds.items():
        path = Path(inside)
        if path.is_symlink() and Path(os.readlink(path)) == host:
            continue
        try:
            path.symlink_to(host)
        except OSError:
            missing.append(inside)
    return missing
