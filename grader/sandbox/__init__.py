"""Running code in isolated child processes, with limits, and collecting what came back.

Every submission gets a sandbox of its own (grader/sandbox/isolation.py: bubblewrap, a memory and
pids cgroup, seccomp; or, in containers that refuse namespaces but run the grader as root, the uid
backend of grader/sandbox/uid_backend.py), never shared with another submission; the reference gets its own for
the whole session. Inside each runs a *fork server* (``child.py``) that has imported numpy
once and forks a fresh child per run; the reference's also imports what its stages require
(torch, sympy) once, since it serves every student. The grader prepares each run's working copy (the submission plus
the course's support files) in a host folder the sandbox sees read-only at /in, and the
case inputs in a folder it sees read-only at /inputs; the run copies its working copy to
the sandbox's own size-capped tmpfs. What a run leaves comes back through the fork server's
stdout: a JSON header with sizes, then the bytes, every read with a deadline and a cap, and
is parsed as hostile input (depth, types, array bounds and total size checked).

``Sandbox(require_isolation=True)`` refuses to run where no sandbox can be built;
otherwise the fork servers then run unisolated (a student's local self-check) and
``Sandbox.isolated`` says so.
"""

from grader.sandbox.job import Job, Limits, Outcome, SandboxError
from grader.sandbox.runs import Sandbox

__all__ = ["Job", "Limits", "Outcome", "Sandbox", "SandboxError"]
