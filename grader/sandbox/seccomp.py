"""The seccomp filter every sandbox runs under, built with libseccomp (via ``pyseccomp``).

Everything is allowed except system calls a numeric submission never needs and an attacker
would use to reach out of the sandbox or into other processes: debugging other processes,
kernel keyrings, BPF, mounting, loading kernel code, new namespaces, io_uring (which
bypasses seccomp for the operations it queues) and userfaultfd. Each is refused with EPERM,
except ``clone3`` (ENOSYS, so the C library falls back to ``clone``, whose flags the filter
can see).

``network=False`` (the uid backend, which cannot make an empty network namespace) also refuses
``socket`` for every address family but AF_UNIX: no TCP/UDP, raw or netlink socket at all.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Optional

REFUSED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "fanotify_init",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "unshare", "setns", "personality", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "pidfd_getfd", "open_by_handle_at", "name_to_handle_at", "quotactl", "swapon", "swapoff",
    "reboot", "syslog", "acct", "settimeofday", "clock_settime", "adjtimex", "sethostname",
    "setdomainname", "iopl", "ioperm", "lookup_dcookie", "vhangup", "nfsservctl",
)
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000, 0x00000080)  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
TIOCSTI = 0x5412
AF_UNIX = 1


def filter_fd(cache: Optional[Path] = None, network: bool = True) -> Optional[int]:
    """A file descriptor holding the compiled BPF program (for ``bwrap --seccomp FD``), or None.

    ``cache``: a folder only this user can write to, where the program is kept between runs
    (importing libseccomp's binding and compiling take a few ms of every `grade` start).
    """
    code = program(cache, network)
    if code is None:
        return None
    fd = os.memfd_create("grade-seccomp") if hasattr(os, "memfd_create") else _temp_fd()
    os.write(fd, code)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _temp_fd() -> int:
    with tempfile.TemporaryFile() as fh:
        return os.dup(fh.fileno())


def program(cache: Optional[Path] = None, network: bool = True) -> Optional[bytes]:
    """The compiled filter, or None where libseccomp's binding is missing and none is kept."""
    return _cached(cache, network) if cache is not None else _program(network)


@functools.lru_cache(maxsize=None)
def _cached(cache: Path, network: bool = True) -> Optional[bytes]:
    """The program from `cache`, compiled and stored there first if it is not (keyed by this
    file's rules and the machine's architecture)."""
    key = hashlib.sha256(Path(__file__).read_bytes() + os.uname().machine.encode()).hexdigest()[:20]
    path = cache / f"seccomp-{key}{'' if network else '-nonet'}.bpf"
    try:
        return path.read_bytes()
    except OSError:
        pass
    program = _program(network)
    if program is not None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(program)
            os.replace(tmp, path)
        except OSError:
            pass
    return program


@functools.lru_cache(maxsize=None)
def _program(network: bool = True) -> Optional[bytes]:
    """The filter, compiled by libseccomp once per process."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError, RuntimeError):
        return None
    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in REFUSED:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except (ValueError, RuntimeError, OSError):
            pass  # not a system call on this architecture
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
    if not network:
        flt.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.NE, AF_UNIX))
    with tempfile.TemporaryFile() as fh:
        flt.export_bpf(fh)
        fh.flush()
        fh.seek(0)
        return fh.read()
