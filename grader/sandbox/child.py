"""The process side of the sandbox: a fork server and the runner of one job.

This file runs as a script (``python -I child.py``) inside the submission's own bubblewrap
sandbox (grader/sandbox/isolation.py), outside the grader package, and uses only the standard
library and numpy. It is a *fork server*: it imports numpy (and torch when asked) once,
then for every job line on stdin forks a fresh child that

1. starts its own session, copies the prepared job (read-only at /in) to the writable tmpfs,
2. sets resource limits, loads the job's inputs and driver, installs a courtesy audit hook
   (friendly messages for subprocesses, sockets, signals; the sandbox is the boundary),
3. imports the submission, runs each case's call (seeded right before the call), and
4. appends each case's value to ``results/`` as a JSON line plus raw array bytes (never pickle).

The server is a child subreaper: when a job ends it kills every process the job left
behind, then sends the grader how the job ended followed by the run's files, framed by
their sizes, on stdout. A streaming job's records are also sent while it runs, each as it is
complete (`Relay`). Everything it sends is treated by the grader as hostile input.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import signal
import sys
import time
import traceback

STUDENT_NOTICE = "is not allowed in a submission"
MAX_DEPTH = 32


# --- value trees: JSON + raw arrays-----------------------------------------------------


class EncodeError(Exception):
    """A returned value the grader cannot compare. `key` names the sentence the grader shows
    (``encode.KEY`` in grader/messages.py, in the student's language, with `params`); the
    English text is the fallback."""

    def __init__(self, key: str, message: str, **params: str):
        super().__init__(message)
        self.key, self.params = key, params


def _is_module(obj, prefix: str) -> bool:
    return type(obj).__module__.split(".")[0] == prefix


def _sympy_number(obj):
    if getattr(obj, "is_Integer", False):
        return int(obj)
    if getattr(obj, "is_number", False):
        try:
            return float(obj)
        except TypeError:
            raise EncodeError("sympy_not_real", f"returned the sympy number {obj}, which is not real",
                              value=f"{obj!s:.80}") from None
    raise EncodeError("symbolic", f"returned the symbolic expression {obj!s:.80} instead of a number",
                      expr=f"{obj!s:.80}")


def _object_array(np, arr):
    out = np.empty(arr.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for i, item in enumerate(arr.reshape(-1)):
        if _is_module(item, "sympy"):
            item = _sympy_number(item)
        if isinstance(item, (bool, int, float, np.number)) and not isinstance(item, complex):
            flat[i] = float(item)
        else:
            raise EncodeError(
                "object_array", f"returned a numpy array of Python objects (dtype=object, holding "
                f"{type(item).__name__}); return numbers, e.g. np.asarray(result, dtype=float)",
                item=type(item).__name__)
    return out


class Arrays:
    """The arrays of one record, stored next to its JSON as one raw binary blob.

    The JSON holds `{"$arr": i}` where array i was; the blob holds the arrays' bytes back
    to back, described by (dtype, shape, offset) in the JSON. Reading needs no pickle and
    no per-array file, which keeps a run's overhead low.
    """

    def __init__(self, budget: int):
        self.budget = budget
        self.items: list = []
        self.size = 0

    def add(self, arr) -> int:
        if arr.nbytes > self.budget - self.size:
            raise EncodeError("too_much", "returned more data than the grader accepts (results are capped)")
        self.items.append(arr)
        self.size += arr.nbytes
        return len(self.items) - 1


def encode(value, arrays: Arrays, depth: int = 0):
    """Turn a value into JSON-able data, its arrays collected in ``arrays``."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise EncodeError("too_deep", "returned a value nested too deeply (or one that contains itself)")
    if value is None or isinstance(value, (bool, str, int, float)):
        return _encode_plain(value)
    if _is_module(value, "torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if _is_module(value, "sympy"):
        return encode(_sympy_number(value), arrays, depth + 1)
    if isinstance(value, (np.generic, np.ndarray)):
        return _encode_array(np, value, arrays)
    if isinstance(value, (list, tuple)):
        items = [encode(v, arrays, depth + 1) for v in value]
        return items if isinstance(value, list) else {"$tuple": items}
    if isinstance(value, dict):
        return {"$dict": {str(k): encode(v, arrays, depth + 1) for k, v in value.items()}}
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    raise EncodeError("object", f"returned a {name} object, which the grader cannot compare; return numbers, "
                      "numpy arrays, lists, tuples or dicts", type=name)


def _encode_plain(value):
    """None, bools, strings and Python numbers (big ints as floats, inf/nan tagged)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 2**63 else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    return value


def _encode_array(np, value, arrays: Arrays) -> dict:
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        arr = _object_array(np, arr)
    if arr.dtype.kind not in "biufcUS":
        raise EncodeError("dtype", f"returned an array of dtype {arr.dtype}, which the grader cannot compare",
                          dtype=str(arr.dtype))
    return {"$arr": arrays.add(arr), "scalar": isinstance(value, np.generic)}


class RecordWriter:
    """Records appended to `NAME.jsonl` (one JSON line each) and their arrays to `NAME.bin`.

    Both files are opened once, so writing a record costs no file creation; a record whose
    line is incomplete (the run was killed while writing) is simply not there.
    """

    def __init__(self, folder: str, name: str, notify: int | None = None):
        """`notify`: a pipe to the fork server, told after each record where the files end."""
        self.lines = open(os.path.join(folder, name + ".jsonl"), "a", encoding="utf-8")
        self.blob = open(os.path.join(folder, name + ".bin"), "ab")
        self.offset = 0
        self.notify = notify

    def write(self, key: str, data: dict, arrays: Arrays) -> None:
        meta = []
        for arr in arrays.items:
            self.blob.write(arr.tobytes(order="C"))
            meta.append([arr.dtype.str, list(arr.shape), self.offset])
            self.offset += arr.nbytes
        self.blob.flush()
        self.lines.write(json.dumps({"key": key, "data": data, "arrays": meta}) + "\n")
        self.lines.flush()
        if self.notify is not None:
            self._tell(data.get("output_end", 0))

    def _tell(self, output_end) -> None:
        """The record is complete: where the records, their arrays and the printed output end now.
        Never waits (a full pipe skips a notice: the next one says as much and more)."""
        try:
            ends = (os.fstat(self.lines.fileno()).st_size, os.fstat(self.blob.fileno()).st_size, int(output_end))
            os.write(self.notify, ("%d %d %d\n" % ends).encode())
        except (OSError, ValueError, TypeError):
            pass

    def close(self) -> None:
        self.lines.close()
        self.blob.close()


def read_records(folder: str, name: str) -> dict[str, tuple[dict, list]]:
    """Every complete record of `NAME.jsonl`: key -> (data, arrays)."""
    import numpy as np

    try:
        with open(os.path.join(folder, name + ".jsonl"), "rb") as fh:
            text = fh.read()
        with open(os.path.join(folder, name + ".bin"), "rb") as fh:
            blob = fh.read()
    except OSError:
        return {}
    out = {}
    for line in text.split(b"\n")[:-1]:  # the last piece is empty or an unfinished line
        try:
            entry = json.loads(line)
            arrays = []
            for dtype, shape, offset in entry.get("arrays", []):
                dt = np.dtype(str(dtype))
                if dt.kind not in "biufcUS":
                    raise ValueError(f"refused dtype {dt}")
                count = int(np.prod(shape, dtype=np.int64))
                arrays.append(np.frombuffer(blob, dtype=dt, count=count, offset=int(offset))
                              .reshape(tuple(int(n) for n in shape)).copy())
            out[str(entry["key"])] = (entry["data"], arrays)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            key = entry.get("key") if isinstance(locals().get("entry"), dict) else None
            if key is not None:
                out[str(key)] = ({"unreadable": str(exc)}, [])
    return out


def decode(data, arrays: list, depth: int = 0):
    """The inverse of ``encode``: only known tags, well-formed and not too deep, are accepted."""
    if depth > 2 * MAX_DEPTH + 4:
        raise ValueError("a value nested too deeply")
    if isinstance(data, list):
        return [decode(v, arrays, depth + 1) for v in data]
    if not isinstance(data, dict):
        if data is None or isinstance(data, (bool, int, float, str)):
            return data
        raise ValueError(f"unexpected {type(data).__name__} in results")
    if "$arr" in data:
        return _decode_array(data, arrays)
    if isinstance(data.get("$tuple"), list):
        return tuple(decode(v, arrays, depth + 1) for v in data["$tuple"])
    if isinstance(data.get("$dict"), dict):
        return {str(k): decode(v, arrays, depth + 1) for k, v in data["$dict"].items()}
    if isinstance(data.get("$float"), str):
        return float(data["$float"])
    raise ValueError(f"unknown value tag in results: {[str(k)[:20] for k in list(data)[:3]]}")


def _decode_array(data: dict, arrays: list):
    index = data["$arr"]
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(arrays):
        raise ValueError("an array reference out of range")
    arr = arrays[index]
    return arr[()] if data.get("scalar") is True else arr


# --- the audit hook (a courtesy layer, not the boundary) --------------------------------

_SPAWN = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg",
}
_NET = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo"}


def install_audit_hook() -> None:
    """Turn what a submission has no business doing into a clear message.

    The operating system (the sandbox) is what stops it; this hook only explains, early,
    why it would not work. Native code loading (ctypes, torch's libraries) is harmless
    inside the sandbox and allowed.
    """

    def refuse(what: str):
        raise PermissionError(f"{what} {STUDENT_NOTICE}")

    def hook(event: str, args: tuple) -> None:
        if event in _SPAWN:
            refuse(f"starting or signalling processes ({event})")
        elif event in _NET:
            refuse(f"network access ({event})")

    sys.addaudithook(hook)


# --- one job ----------------------------------------------------------------------------


def _limit(resource, which: str, soft: int) -> None:
    try:
        res = getattr(resource, which)
        _, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, soft if hard == resource.RLIM_INFINITY else hard))
    except (ValueError, OSError):
        pass


def _isolate(job: dict) -> None:
    """Limits before any student code runs (the sandbox and its cgroup do the rest)."""
    import resource

    limits = job["limits"]
    _limit(resource, "RLIMIT_CORE", 0)
    _limit(resource, "RLIMIT_FSIZE", int(limits["file_bytes"]))
    _limit(resource, "RLIMIT_CPU", int(math.ceil(limits["cpu_s"])))
    _limit(resource, "RLIMIT_NOFILE", 256)
    _limit(resource, "RLIMIT_NICE", 0)  # a run set to idle priority cannot raise it again
    if limits.get("memory_bytes"):  # no memory cgroup on this machine: the address-space rlimit instead
        _limit(resource, "RLIMIT_AS", int(limits["memory_bytes"]))
    if limits.get("nproc"):
        _limit(resource, "RLIMIT_NPROC", int(limits["nproc"]))
    try:  # under memory pressure the kernel kills the run, not the fork server
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass


def _student_traceback(exc: BaseException, filename: str) -> tuple[str, int | None]:
    """The traceback from the submission's first frame on, and the line in the file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.endswith("child.py") and not f.filename.startswith(("<frozen", "<string"))]
    # The student's own frames, and the innermost one (where it was raised, e.g. inside numpy);
    # the grader's driver and library frames in between are left out.
    own = [f for f in frames if os.path.basename(f.filename) == filename]
    if frames and (not own or frames[-1] is not own[-1]):
        own.append(frames[-1])
    frames = traceback.StackSummary.from_list(own)
    line = None
    for f in frames:
        if os.path.basename(f.filename) == filename:
            line = f.lineno
    if isinstance(exc, SyntaxError) and os.path.basename(exc.filename or "") == filename:
        line = exc.lineno
    text = "".join(frames.format()) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[-6000:], line


def _error(exc: BaseException, filename: str) -> dict:
    text, line = _student_traceback(exc, filename)
    if isinstance(exc, SystemExit):
        kind, message = "SystemExit", f"called sys.exit({exc.code!r})"
    else:
        kind, message = type(exc).__name__, str(exc)[:2000]
    return {"type": kind, "message": message, "line": line, "traceback": text}


def _warnings(caught) -> list[str]:
    out = []
    for w in caught:
        if issubclass(w.category, ResourceWarning) or len(out) >= 20:
            continue
        out.append(f"{w.category.__name__}: {w.message} ({os.path.basename(w.filename)}, line {w.lineno})")
    return out


def _output_offset() -> int:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return os.fstat(1).st_size
    except (OSError, ValueError):
        return 0


def _output_end(start: int, keep: int) -> int:
    """Where a case's (or the import's) printed output ends, once trimmed to what the report keeps.

    Each case may print up to the output cap; what it printed beyond `keep` bytes is cut
    off afterwards, so the cap counts per case and a later case is never blamed for it."""
    end = _output_offset()
    if end - start <= keep:
        return end
    try:
        os.ftruncate(1, start + keep)  # stdout and stderr share the file, opened for appending
    except OSError:
        return end
    return start + keep


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:  # the CPU generator, all a CPU-only run uses (torch.manual_seed also queues
        torch.default_generator.manual_seed(seed)  # a CUDA seed with its caller's stack: 0.2 ms a call)


def _write_json(path: str, data: dict) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(path + ".tmp", path)


def run_job(job: dict) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        import shutil

        os.setsid()
        if job.get("notify_from") is not None:  # the server's end of the notice pipe
            os.close(job["notify_from"])
        shutil.copytree(job["copy_from"], job["workdir"])
        os.mkdir(job["results"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(job["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        sys.stdin = open(os.devnull)
        sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        _run(job)
    except BaseException:  # the runner itself failed: leave a note for the grader
        try:
            _write_json(os.path.join(job["results"], "runner_error.json"), {"traceback": traceback.format_exc()})
        except BaseException:
            pass
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)


def _run(job: dict) -> None:
    """Prepare the process, import the submission, run every case, write each record."""
    import numpy as np

    timeline = {"start": time.time()}
    _enter(job)
    timeline["isolated"] = time.time()
    driver = _load_driver(job.get("driver_source"), job.get("driver_code"))
    stored = read_records(job["inputs"], "inputs")
    cases = [(case, decode(*stored[case["key"]])) for case in job["cases"]]
    out = RecordWriter(job["results"], "results", job.get("notify"))
    if not job["trusted"]:
        install_audit_hook()
    timeline["ready"] = time.time()
    module = _import_submission(job, out, timeline)
    if module is None:
        return
    base = {"np": np, "math": math, "student": module}
    if driver is not None:
        base["driver"] = driver
    for case, inputs in cases:
        arrays = Arrays(job["limits"]["result_bytes"])
        out.write(case["key"], _run_case(job, case, inputs, module, base, arrays), arrays)


def _enter(job: dict) -> None:
    """The run's environment, limits, working folder and import path."""
    os.environ.clear()
    os.environ.update(job["env"])
    _isolate(job)
    os.chdir(job["workdir"])
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [job["workdir"]] + [p for p in sys.path if p and os.path.realpath(p) != here]
    sys.argv = [job["file"]]
    sys.dont_write_bytecode = True
    if job.get("torch"):
        with _no_gc():
            import torch

        torch.set_num_threads(1)
        sys.modules.setdefault("torch", torch)


def _load_driver(source, compiled=None):
    """The course's driver module (trusted code sent with the job), before any student code runs;
    `compiled`: the grader's compiled copy of it (a marshal file, read-only here), else compiled now."""
    import marshal
    import types

    if source is None:
        return None
    driver = types.ModuleType("driver")
    driver.__file__ = "driver.py"
    code = None
    if compiled:
        try:
            with open(compiled, "rb") as fh:
                code = marshal.loads(fh.read())
        except (OSError, ValueError, EOFError, TypeError):
            code = None
    exec(code if code is not None else compile(source, "driver.py", "exec"), driver.__dict__)
    sys.modules["driver"] = driver
    return driver


def _import_submission(job: dict, out: RecordWriter, timeline: dict):
    """Import the student's file (seeded), write the "import" record; the module, or None."""
    import importlib.util
    import warnings

    filename, name = job["file"], job["file"][:-3]
    started = time.perf_counter()
    module = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _seed_everything(job["seed"])
        try:
            spec = importlib.util.spec_from_file_location(name, os.path.join(job["workdir"], filename))
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: B036 - SystemExit at import is a verdict too
            error = _error(exc, filename)
    out.write("import", {"error": error, "duration_s": time.perf_counter() - started,
                         "warnings": _warnings(caught), "output_end": _output_end(0, _keep(job)),
                         "timeline": timeline}, Arrays(0))
    return None if error is not None else module


def _keep(job: dict) -> int:
    return int(job["limits"].get("output_keep", 1 << 14))


def _namespace(module, base: dict, inputs: dict) -> dict:
    import copy

    namespace = dict(vars(module))
    namespace.update(base)
    namespace.update(copy.deepcopy(inputs))
    return namespace


def _run_case(job: dict, case: dict, inputs: dict, module, base: dict, arrays: Arrays) -> dict:
    """One case's call, seeded right before it; its value or error, warnings and output span."""
    import warnings

    namespace = _namespace(module, base, inputs)
    record = {"output_start": _output_offset()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _seed_everything(case["seed"])
        started = time.perf_counter()
        try:
            value = eval(case["call"], namespace)  # noqa: S307 - the spec's call, in the sandbox
            record["duration_s"] = time.perf_counter() - started
            record["value"] = encode(value, arrays)
        except EncodeError as exc:
            record["duration_s"] = time.perf_counter() - started
            record["error"] = {"type": "EncodeError", "message": str(exc), "line": None, "traceback": "",
                               "key": exc.key, "params": exc.params}
        except BaseException as exc:  # noqa: B036
            record["duration_s"] = time.perf_counter() - started
            record["error"] = _error(exc, job["file"])
    record["warnings"] = _warnings(caught)
    if job["trusted"] and case.get("mistakes") and "value" in record:
        record["mistakes"] = _mistakes(case, _namespace(module, base, inputs), arrays)
    if _output_offset() - record["output_start"] > int(job["limits"]["output_bytes"]):
        record.pop("value", None)  # this case printed more than a case may: it loses, not a later one
        record["error"] = {"type": "OutputLimit", "message": "", "line": None, "traceback": ""}
    record["output_end"] = _output_end(record["output_start"], _keep(job))
    return record


def _mistakes(case: dict, namespace: dict, arrays: Arrays) -> dict:
    """The reference side only: each known mistake's value (trusted spec expressions)."""
    out = {}
    for mname, expr in case["mistakes"].items():
        try:
            _seed_everything(case["seed"])
            out[mname] = encode(eval(expr, namespace), arrays)  # noqa: S307 - trusted spec code
        except Exception as exc:
            out[mname] = {"$error": f"{type(exc).__name__}: {exc}"}
    return out


# --- the fork server ----------------------------------------------------------------------


def _children(me: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
                ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == me:
                pids.append(int(entry))
    return pids


def _kill(pids: list[int]) -> int:
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def reap_zombies() -> int:
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def reap_leftovers() -> int:
    """Kill every remaining child (orphans of the job come to us as subreaper)."""
    me, killed = os.getpid(), 0
    for _ in range(200):
        pids = _children(me)
        if not pids:
            break
        killed += _kill(pids)
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return killed


def _reply(data: dict, files: tuple = ()) -> None:
    """One message: a JSON line with the sizes of the files that follow it, then their bytes.
    `files`: (path, cap) for a whole file, or (path, cap, start) for its bytes from `start` on."""
    _send_message(data, [_read_capped(*entry) for entry in files])


def _send_message(data: dict, blobs: list[bytes]) -> None:
    data["sizes"] = [len(b) for b in blobs]
    out = sys.stdout.buffer
    out.write((json.dumps(data) + "\n").encode())
    for blob in blobs:
        out.write(blob)
    out.flush()


def _read_capped(path: str, cap: int, start: int = 0) -> bytes:
    """At most `cap` bytes of a regular file from `start` on (never a FIFO, device or symlink the run put there)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, size = [], 0
        while size < cap:
            chunk = os.pread(fd, min(1 << 20, cap - size), start + size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


# Imported once by the fork server and shared by every forked run: what every run needs,
# and what submissions commonly import (numpy's lazily loaded submodules included).
COMMON_IMPORTS = (
    "copy", "ctypes", "importlib.util", "random", "resource", "shutil", "struct", "types", "warnings", "math",
    "collections", "itertools", "functools", "numpy", "numpy.random", "numpy.linalg", "numpy.lib.format",
)


class _no_gc:
    """No cyclic garbage collection while trusted code imports libraries, and what they made is
    then frozen (never scanned: a collection over torch's objects costs about 60 ms)."""

    def __enter__(self):
        gc.disable()

    def __exit__(self, *exc):
        gc.freeze()
        gc.enable()


def _preload(preload: list[str]) -> None:
    import importlib

    with _no_gc():
        for name in COMMON_IMPORTS + tuple(p for p in preload if p != "torch"):
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        if "torch" in preload and "torch.optim" not in sys.modules:
            import torch
            import torch.nn.functional  # noqa: F401
            import torch.optim  # noqa: F401

            torch.set_num_threads(1)
    # frozen on leaving _no_gc: what every fork shares, which its collector never walks (nor copies)


def defer_dynamo() -> None:
    """Let torch train without importing ``torch._dynamo`` (about 1 s a sandbox) until something compiles.

    Building or stepping an optimizer imports ``torch._dynamo`` only to call ``graph_break()``
    and ``disable(fn)``, which change nothing while no frame is being compiled, and nothing
    can be compiled before ``torch._dynamo`` is imported. This placeholder answers those two
    calls; anything else (``torch.compile``, another attribute, a submodule) imports the real
    ``torch._dynamo`` in its place, so behaviour is unchanged. Speed only, not a defence.
    """
    import functools
    import importlib
    import types

    if "torch._dynamo" in sys.modules:
        return
    placeholder = types.ModuleType("torch._dynamo")

    def real():
        if sys.modules.get("torch._dynamo") is placeholder:
            del sys.modules["torch._dynamo"]
            importlib.import_module("torch._dynamo")
        return sys.modules["torch._dynamo"]

    def graph_break(*args, **kwargs):
        if sys.modules.get("torch._dynamo") is not placeholder:
            return real().graph_break(*args, **kwargs)

    def disable(fn=None, recursive=True, **kwargs):
        if fn is None:
            return functools.partial(disable, recursive=recursive, **kwargs)
        disabled = []

        @functools.wraps(fn)
        def call(*a, **k):
            if sys.modules.get("torch._dynamo") is placeholder:
                return fn(*a, **k)
            if not disabled:
                disabled.append(real().disable(fn, recursive, **kwargs))
            return disabled[0](*a, **k)

        return call

    def attribute(name):  # __path__ too: a submodule import gets the real package
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)  # tools that scan sys.modules (inspect) do not need the real one
        return getattr(real(), name)

    placeholder.graph_break, placeholder.disable, placeholder.__getattr__ = graph_break, disable, attribute
    sys.modules["torch._dynamo"] = placeholder


class Relay:
    """A streaming job's records sent on as each is complete: the run tells its notice pipe where
    its files end (RecordWriter._tell); the server sends what is new of each, within the job's caps.
    The notices come from the run's process, so from the submission too: only ever forward,
    never past a cap. The final reply still sends every file whole."""

    def __init__(self, job: dict):
        self.fd, job["notify"] = os.pipe()
        job["notify_from"] = self.fd
        os.set_blocking(job["notify"], False)
        os.set_blocking(self.fd, False)  # a process the run left behind may hold the other end open
        self.job = job
        results = job["results"]
        self.paths = (os.path.join(results, "results.jsonl"), os.path.join(results, "results.bin"), job["output"])
        self.sent = [0, 0, 0]
        self.buffer = b""

    def forked(self) -> None:
        os.close(self.job["notify"])

    def read(self) -> bool:
        """The notices waiting, then what they say is new; False once the pipe is closed (the run is over)."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            return False
        self.buffer = (self.buffer + chunk)[-(1 << 12):]
        if b"\n" in self.buffer:
            done, self.buffer = self.buffer.rsplit(b"\n", 1)
            try:
                ends = [int(x) for x in done.rsplit(b"\n", 1)[-1].split()]
            except ValueError:
                ends = []
            if len(ends) == 3:
                self._send(ends)
        return True

    def _send(self, ends: list[int]) -> None:
        caps, parts = self.job["caps"], []
        for i, end in enumerate(ends):
            parts.append(_read_capped(self.paths[i], max(0, min(end, caps[i]) - self.sent[i]), self.sent[i]))
            self.sent[i] += len(parts[i])  # what was sent, whatever the notice claimed
        if any(parts):
            _send_message({"records": True}, parts)

    def close(self) -> None:
        """The run has ended: the notices it left are relayed (before the server says it ended)."""
        for _ in range(64):  # bounded: a process the run left behind may keep writing
            if not self.read():
                break
        os.close(self.fd)


def _wait(pid: int, job: dict, relay: Relay | None = None) -> tuple[int, object, str | None]:
    """Wait for the run, stopping it at its limit or when its output grows too large.

    The limit counts the run's own time: its CPU-seconds, and its wall time less the time it
    waited for a CPU (a run that sleeps spends its limit; one starved by other work does not),
    with a wide wall-clock backstop. A run past `demote_cpu_s` of CPU steps aside: it drops to
    idle priority and the grader is told (it gives the run's cgroup the smallest CPU weight), so
    that it no longer holds a worker (the reference's runs have no `demote_cpu_s`)."""
    limits = job["limits"]
    started = time.monotonic()
    backstop = started + float(limits.get("wall_s") or limits["time_s"])
    demote = limits.get("demote_cpu_s")
    # the cap counts per case: earlier cases' output is trimmed to `output_keep` bytes each
    cap = int(limits["output_bytes"]) + (len(job["cases"]) + 1) * int(limits.get("output_keep", 1 << 14))
    killed = None
    listening = relay is not None
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        fd = None
    import select

    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if killed is None:
            now, cpu = time.monotonic(), cpu_seconds(pid)
            killed = _over(job, cap, max(cpu, now - started - waited_for_cpu(pid)), now > backstop)
            if killed:
                for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                    try:
                        target()
                    except OSError:
                        pass
            elif demote is not None and cpu > float(demote):
                demote = None
                step_aside(pid)
                _reply({"demoted": pid, "cpu_s": cpu})
        watched = [f for f in (fd, listening and relay.fd) if f]
        if watched:  # the run's end (its pidfd) wakes this at once; the limits are checked every 10
            # ms at first, then less often (100 ms from 2 s on): a long run's polls cost little CPU
            pause = min(0.1, 0.01 + (time.monotonic() - started) / 20)
            readable, _, _ = select.select(watched, [], [], pause)
            if listening and relay.fd in readable:
                listening = relay.read()
        else:
            time.sleep(0.005)
    if fd is not None:
        os.close(fd)
    if relay is not None:
        relay.close()
    return status, usage, killed


def _over(job: dict, cap: int, spent: float, past_backstop: bool) -> str | None:
    """Why the run must stop now ("output", "timeout"), or None."""
    try:
        if os.stat(job["output"]).st_size > cap:
            return "output"
    except OSError:
        pass
    return "timeout" if past_backstop or spent > float(job["limits"]["time_s"]) else None


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, children: bool = True) -> float:
    """The CPU-seconds process `pid` (and its waited-for children) have used (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return sum(int(x) for x in fields[11:15 if children else 13]) / _TICK  # utime, stime, cutime, cstime
    except (OSError, ValueError, IndexError):
        return 0.0


def waited_for_cpu(pid: int) -> float:
    """Seconds the run's main thread has waited on a run queue (runnable, not running), or 0."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def step_aside(session: int) -> None:
    """Every thread of the run's session to idle priority (SCHED_IDLE, nice 19): it runs only when
    nothing else wants the CPU. Its RLIMIT_NICE of 0 keeps it from climbing back. The session's
    autogroup goes to nice 19 as well: where the kernel groups tasks by session, a run alone in
    its session would otherwise keep a whole group's share of the CPU."""
    try:
        with open(f"/proc/{session}/autogroup", "w") as fh:
            fh.write("19")
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                if int(fh.read().rsplit(b")", 1)[1].split()[3]) != session:
                    continue
            tasks = [int(t) for t in os.listdir(f"/proc/{entry}/task")]
        except (OSError, ValueError, IndexError):
            continue
        for tid in tasks:
            try:
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
                os.setpriority(os.PRIO_PROCESS, tid, 19)
            except (OSError, AttributeError):
                pass


def load_seccomp_fd(fd: int) -> None:
    """The uid backend: no new privileges, then the grader's seccomp filter (a BPF program read
    from `fd`), before anything else runs. Any failure ends the fork server: never unfiltered."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    code = b"".join(chunks)
    if not code or len(code) % 8 or len(code) // 8 > 4096:
        raise SystemExit("grade sandbox: the seccomp program is not valid")
    try:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        raise SystemExit(f"grade sandbox: no_new_privs refused ({exc.strerror})") from None
    try:
        load_seccomp(code)
    except OSError as exc:
        raise SystemExit(f"grade sandbox: the seccomp filter was refused ({exc.strerror})") from None


def _probe() -> None:
    """The uid backend's start-up check: not root, and the filter refuses a network socket."""
    import socket

    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit("grade sandbox: still root after the switch")
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        print("probe ok", flush=True)
        return
    raise SystemExit("grade sandbox: the seccomp filter let a network socket through")


def serve(argv: list[str]) -> None:
    """The fork server: the libraries first, then one forked run per job line on stdin."""
    if argv[:1] == ["--seccomp-fd"]:  # the uid backend (bubblewrap loads the filter itself)
        load_seccomp_fd(int(argv[1]))
        argv = argv[2:]
    if argv[:1] == ["--probe"]:
        _probe()
        return
    argv = _setup(argv)
    if argv[:1] == ["--zygote"]:
        _preload(argv[1:])
        warm_up(argv[1:])
        zygote()
        return
    _preload(argv)
    _serve_jobs()


def _setup(argv: list[str]) -> list[str]:
    import site

    while argv[:1] == ["--site"]:  # Python started with -S: the grader's site-packages, nothing else
        site.addsitedir(argv[1])
        argv = argv[2:]
    getattr(site, "setquit", lambda: None)()  # exit() and quit(), which students' scripts call, as `site` defines them
    defer_dynamo()
    return argv


def _serve_jobs() -> None:
    import shutil

    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass
    _reply({"ready": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if "preload" in job:  # a stage needs more modules (sympy, torch): imported once, before its runs
            _preload(job["preload"])
            _reply({"preloaded": job["preload"]})
            continue
        forked = time.time()
        relay = Relay(job) if job.get("stream") else None
        pid = os.fork()
        if pid == 0:
            run_job(job)
        if relay is not None:
            relay.forked()
        _reply({"started": pid})
        status, usage, killed = _wait(pid, job, relay)
        ended = time.time()
        leftovers = reap_leftovers()
        results, caps = job["results"], job["caps"]
        _reply({
            "exited": pid,
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "killed": killed,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "leftovers": leftovers,
            "timeline": {"forked": forked, "ended": ended, "reaped": time.time()},
        }, files=((os.path.join(results, "results.jsonl"), caps[0]), (os.path.join(results, "results.bin"), caps[1]),
                  (job["output"], caps[2]), (os.path.join(results, "runner_error.json"), caps[3])))
        shutil.rmtree(os.path.dirname(job["workdir"]), ignore_errors=True)


# --- the zygote ---------------------------------------------------------------------------
#
# One per grading worker, started by the grader (grader/sandbox/zygote.py) outside any
# sandbox, holding only libraries: never a reference, a case or a path of a submission, and
# never running a line of a submission. For each submission's sandbox (a bubblewrap holding
# only a placeholder process) it forks a child that joins that sandbox's cgroups and
# namespaces and forks the sandbox's fork server there, which drops every privilege before
# it serves its first job (see docs/sandbox.md).

PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAP_AMBIENT = 1, 24, 38, 22, 47
NS_GET_PARENT = 0xB702
NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup")


def warm_up(modules: list[str]) -> None:
    """The libraries' lazy first-use work, done once here rather than in every run."""
    with _no_gc():
        torch = sys.modules.get("torch")
        if torch is not None:
            net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            loss = torch.nn.functional.cross_entropy(net(torch.ones(4, 3)), torch.zeros(4, dtype=torch.long))
            loss.backward()
            opt.step()
            torch.manual_seed(0)
        if "sympy" in sys.modules:
            x = sys.modules["sympy"].symbols("x")
            sys.modules["sympy"].diff(x ** 2 + 1, x).subs(x, 1.0)
        if "matplotlib" in modules:
            try:
                import matplotlib
                matplotlib.use("Agg")
                import matplotlib.pyplot  # noqa: F401 - its font list loaded once
            except Exception:
                pass


MADV_COLLAPSE, HUGE, STEP = 25, 1 << 21, 8 << 20


def huge_page_steps() -> list:
    """The zygote's own memory (its heap and anonymous mappings: ~200 MB with torch) to put in 2 MB
    pages (Linux >= 6.1; elsewhere nothing happens), as steps of 8 MB each, which the zygote takes
    between spawn requests (all of them take about 0.6 s: done before its first spawn, they kept
    every torch-needing run of the batch's first students waiting). Every fork then copies a
    page-table entry per 2 MB instead of 512, and every run's exit frees as few: a fork and exit of
    a torch server cost about 11 ms of CPU in 4 kB pages, 4 in 2 MB ones (measured). A process
    writing to a shared page still copies only 4 kB of it (the kernel splits the 2 MB mapping
    first), charged to its own cgroup. `GRADE_HUGE_PAGES=0` leaves the pages as they are."""
    if os.environ.get("GRADE_HUGE_PAGES", "1") == "0":
        return []
    import ctypes

    madvise = _libc().madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    try:
        with open("/proc/self/maps") as fh:
            maps = fh.read().splitlines()
    except OSError:
        return []
    steps = []
    for line in maps:
        fields = line.split()
        if not fields[1].startswith("rw") or fields[1][3] != "p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue  # private writable anonymous memory only: not a library's file, not the stack
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start, end = (start + HUGE - 1) & ~(HUGE - 1), end & ~(HUGE - 1)
        for at in range(start, end, STEP):  # each fails with EINVAL on an older kernel, EAGAIN or
            steps.append(functools.partial(madvise, at, min(STEP, end - at), MADV_COLLAPSE))  # ENOMEM: stays 4 kB
    return steps[::-1]  # taken with pop(): in address order


def zygote() -> None:
    """Serve spawn requests on stdin (a Unix socket): each brings the new server's two pipe ends."""
    import array
    import select
    import socket

    sock = socket.socket(fileno=0)
    sock.sendall(json.dumps({"ready": os.getpid()}).encode() + b"\n")
    pages = huge_page_steps()
    while True:
        while pages and not select.select([sock], [], [], 0)[0]:
            pages.pop()()  # while no spawn request waits
        fds = array.array("i")
        msg, ancdata, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(2 * fds.itemsize))
        if not msg:  # the grader is done: wait for the spawners (their CPU then counts in ours)
            while True:
                try:
                    os.wait()
                except ChildProcessError:
                    return
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        pid = os.fork() if len(fds) == 2 else -1
        if pid == 0:
            _spawn(json.loads(msg), fds[0], fds[1])
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"spawned": pid}).encode() + b"\n")
        reap_zombies()


def _spawn(request: dict, stdin: int, stdout: int) -> None:
    """The zygote's child: into the sandbox's cgroups and namespaces, then the server is forked
    there (it must be: a pid namespace takes only children); this one waits for it. Never returns."""
    code = 71
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for path in request["cgroups"]:
            with open(path, "w") as fh:
                fh.write(str(os.getpid()))
        _enter_namespaces(int(request["pid"]))
        server = os.fork()
        if server == 0:
            _become_server(request, stdin, stdout)
        os.close(stdin)
        os.close(stdout)
        _, status = os.waitpid(server, 0)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    finally:
        os._exit(code)


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    import ctypes

    if result < 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def _prctl(option: int, arg: int = 0, arg3: int = 0) -> None:
    import ctypes

    _check(_libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(arg3), 0, 0), f"prctl({option})")


def _enter_namespaces(pid: int) -> None:
    """Join the sandbox of process `pid`: its outermost user namespace below ours first (it owns the
    others), then its mount, pid, network, ipc, uts and cgroup namespaces, then the user namespaces
    nested inside (bubblewrap's --disable-userns adds one)."""
    libc = _libc()
    fds = {ns: os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in NAMESPACES + ("user",)}
    own = os.stat("/proc/self/ns/user").st_ino
    users = [fds["user"]]
    while len(users) < 32:
        parent = libc.ioctl(users[0], NS_GET_PARENT)
        if parent < 0 or os.fstat(parent).st_ino == own:  # EPERM: above ours
            if parent >= 0:
                os.close(parent)
            break
        users.insert(0, parent)
    _check(libc.setns(users[0], 0), "setns(user)")
    for ns in NAMESPACES:
        _check(libc.setns(fds[ns], 0), f"setns({ns})")
    for fd in users[1:]:
        _check(libc.setns(fd, 0), "setns(user)")
    for fd in set(fds.values()) | set(users):
        os.close(fd)


def _become_server(request: dict, stdin: int, stdout: int) -> None:
    """In the sandbox: what bubblewrap's own child does last, before the first job is read."""
    code = 72
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd, target in ((stdin, 0), (stdout, 1), (null, 2)):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)  # no descriptor of the zygote (its socket, libraries' files) stays open
        os.chdir(request["chdir"])
        os.environ.clear()
        os.environ.update(request["env"])
        drop_privileges()
        load_seccomp(bytes.fromhex(request["seccomp"]))
        sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        _serve_jobs()
        code = 0
    except BaseException:
        code = 73
    finally:
        os._exit(code)


def drop_privileges() -> None:
    """Every capability gone (bounding, ambient, effective, permitted, inheritable); no new ones."""
    import ctypes

    libc = _libc()
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) < 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows
    _prctl(PR_CAP_AMBIENT, 4)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, twice: all zero
    _check(libc.capset(header, data), "capset")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def load_seccomp(program: bytes) -> None:
    """The grader's seccomp filter (the BPF program bwrap --seccomp would load)."""
    import ctypes

    if not program or len(program) % 8:
        raise ValueError("no seccomp program")
    filters = ctypes.create_string_buffer(program, len(program))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(program) // 8, ctypes.addressof(filters))
    _check(_libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(prog), 0, 0), "seccomp")


if __name__ == "__main__":
    serve(sys.argv[1:])
    os._exit(0)  # no interpreter tear-down: the sandbox ends at once
