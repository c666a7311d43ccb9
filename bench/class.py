"""Grade a class like a real one with `grade batch`, and say where the time and the CPU went.

    .venv/bin/python bench/class.py 25 [--loops 1] [--jobs 2] [--config NAME=ARGS ...] [--no-floor]

The class is built from files written to match what students hand in (one kind per student,
in turn):

    torch-top     the reference's files, `import torch` at the top of activation.py and
                  early_stopping.py, `import sympy` in steepest_descent.py, prints at import
    seed          the seed's accepted answers (stages/accepted/*/seed002.py), the rest the reference's
    plots         matplotlib imported and a figure drawn (and shown) at import, prints
    partial       half the files still the template (a comment added), the others the reference's
    notebook      activation and metrics handed in as Jupyter notebooks
    zip           torch-top, handed in as a .zip
    torchvision   seed-style `import torchvision` / `from torchvision import datasets` at the top
                  of the digits and mnist files, torch at the top of the L2 file

plus one empty folder, and `--loops K` students who loop forever, in turn at import
(activation.py) and inside a function (metrics.comp_mae), the rest of their work the reference's.

Printed, for each configuration (`--config NAME=ARGS`: extra `grade batch` arguments; the
first is the baseline the others are compared with; default one, "default"): wall seconds,
machine CPU-seconds (from /proc/stat: every process on the machine, so other users' work is
noise in it), the batch's own CPU-seconds (its process tree, counted by a cgroup of its own when
the machine lets us make one), CPU-s per honest student, per looping student (against the same
class without the loops, graded in the same run), when the last honest row was written, and
what `grade batch --profile` said (where the CPU went, and the 3 stages whose runs cost most).
The floor, measured in the same run, is the students' own code run bare: each honest
student's files imported by one plain Python (no sandbox, no grader), two at a time.
`--cluster` grades the same class (same seed) once more on a Dask cluster of 2 local worker
processes that the bench starts as docs/cluster.md tells a teacher (`dask scheduler`, then
`dask worker ADDRESS --nthreads 1 --nworkers 2`, both with the course in GRADE_COURSE), with
`grade batch --scheduler ADDRESS`; its own CPU-seconds count the scheduler's and the workers'
(their sandboxes and zygotes too), and its gradebook is compared with the first configuration's
row by row (gradebook.csv whole; in gradebook.json every field but the timings): "gradebooks
identical: yes/no", and the bench exits with status 1 when they differ.
Not a test; the box it runs on may be shared, so prefer the CPU-seconds to the wall.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE, TEMPLATE, ACCEPTED = ROOT / "reference", ROOT / "student_template", ROOT / "stages" / "accepted"
KINDS = ("torch-top", "seed", "plots", "partial", "notebook", "zip", "torchvision")
GRADE = Path(sys.executable).with_name("grade")


def _ref(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def _prepend(text: str, lines: str) -> str:
    return lines + text


PLOT = ("import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [3, 1, 2])\nplt.title('loss')\nplt.show()\nprint('plotted')\n")


def _notebook(text: str) -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# 作业\n"]},
             {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
              "source": text.splitlines(keepends=True)}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, ensure_ascii=False)


def honest_files(kind: str, i: int) -> dict[str, str]:
    """File name -> text of honest student number i of this kind."""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(REFERENCE.glob("*.py"))}
    if kind in ("torch-top", "zip"):
        files["activation.py"] = _prepend(files["activation.py"], "import torch\nprint('torch', torch.__version__)\n")
        files["early_stopping.py"] = _prepend(files["early_stopping.py"], "import torch\nimport numpy as np\n")
        files["steepest_descent.py"] = _prepend(files["steepest_descent.py"], "import sympy as sp\n")
        files["metrics.py"] += "\nprint('MAE', comp_mae(np.array([1., 2.]), np.array([1., 3.])))\n"
    elif kind == "seed":
        for slug, name in _stage_files().items():
            if (ACCEPTED / slug / "seed002.py").is_file():
                files[name] = (ACCEPTED / slug / "seed002.py").read_text(encoding="utf-8")
    elif kind == "plots":
        files["metrics.py"] += "\n" + PLOT
        files["mp_neuron.py"] += "\n" + PLOT
        files["data_split.py"] += "\nprint('split', train_test_split(list(range(10))))\n"
    elif kind == "partial":
        for n, name in enumerate(sorted(files)):
            if (n + i) % 2:
                files[name] = (TEMPLATE / name).read_text(encoding="utf-8") + "\n# 还没写完\n"
    elif kind == "notebook":
        for name in ("activation.py", "metrics.py"):
            files[name[:-3] + ".ipynb"] = _notebook(files.pop(name))
    elif kind == "torchvision":
        files["digits_network.py"] = _prepend(files["digits_network.py"], "import torchvision\n")
        files["mnist_idx.py"] = _prepend(files["mnist_idx.py"], "from torchvision import datasets, transforms\n")
        files["l2_regularization.py"] = _prepend(files["l2_regularization.py"], "import torch\nimport torch.nn as nn\n")
    return files


def _stage_files() -> dict[str, str]:
    """Stage slug -> its file, in stage order (a later stage's answer for a shared file wins)."""
    sys.path.insert(0, str(ROOT))
    from grader.course.folder import load_course

    return {s.slug: s.file for s in load_course(ROOT).stages}


def looping_files(j: int) -> dict[str, str]:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(REFERENCE.glob("*.py"))}
    if j % 2 == 0:  # at import
        files["activation.py"] = "import numpy as np\nwhile True:\n    pass\n" + files["activation.py"]
    else:  # inside a function: the import succeeds, the call never returns
        files["metrics.py"] = files["metrics.py"].replace(
            "def comp_mae(pred: ndarray, actual: ndarray) -> ndarray:",
            "def comp_mae(pred: ndarray, actual: ndarray) -> ndarray:\n    while True:\n        pass", 1)
    return files


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def build_class(dest: Path, n: int, loops: int) -> dict[str, str]:
    """The class folder; student id -> kind ("looping" for the loopers)."""
    kinds: dict[str, str] = {}
    dest.mkdir(parents=True)
    for i in range(n - 1):
        kind = KINDS[i % len(KINDS)]
        sid = f"s{i:03d}-{kind}"
        kinds[sid] = kind
        if kind == "zip":
            with zipfile.ZipFile(dest / f"{sid}.zip", "w", zipfile.ZIP_DEFLATED) as z:
                for name, text in honest_files(kind, i).items():
                    z.writestr(f"{sid}/{name}", text)
        else:
            _write(dest / sid, honest_files(kind, i))
    if n:
        (dest / "s999-empty").mkdir()
        kinds["s999-empty"] = "empty"
    for j in range(loops):
        sid = f"loop{j:02d}"
        kinds[sid] = "looping"
        _write(dest / sid, looping_files(j))
    return kinds


def machine_cpu() -> float:
    """CPU-seconds the whole machine has spent busy (every core, every process) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuGroup:
    """A cpuacct cgroup (cgroup v1) the batch runs in, so that the CPU of every process it starts
    counts, sandboxes included (killed sandboxes are never waited for, so the kernel's children
    accounting misses them); without one (v2 would move the grader out of the cgroup it makes
    its sandboxes' cgroups in), that accounting."""

    def __init__(self) -> None:
        self.path: Path | None = None
        for parent, usage in ((Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage"),):
            try:
                path = parent / f"grade-bench-{os.getpid()}"
                path.mkdir()
                self.path, self.usage = path, path / usage
                break
            except OSError:
                continue

    def enter(self) -> None:  # in the child, before exec
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def cpu(self) -> float:
        if self.path is None:
            r = resource.getrusage(resource.RUSAGE_CHILDREN)
            return r.ru_utime + r.ru_stime
        return int(self.usage.read_text()) / 1e9

    def close(self) -> None:
        """Remove the cgroup (once the last killed process in it has gone)."""
        for _ in range(200 if self.path is not None else 0):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)


CPU = CpuGroup()


def own_cpu() -> float:
    return CPU.cpu()


def grade(class_dir: Path, out: Path, jobs: int | None, seed: int, extra: list[str]) -> dict:
    """One `grade batch`: wall, CPU, and when each row was written (from its progress lines).
    `jobs` None: no --jobs (a cluster batch, where the workers set the parallelism)."""
    cmd = [str(GRADE), "batch", str(class_dir), "--out", str(out), "--force", "--seed", str(seed), "--profile",
           *(["--jobs", str(jobs)] if jobs is not None else []), *extra]
    rows: dict[str, float] = {}
    said: list[str] = []  # its last lines, shown when it fails
    profile: list[str] = []  # what `--profile` printed (at the end)
    m0, c0, t0 = machine_cpu(), own_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=CPU.enter)

    def watch() -> None:
        for raw in proc.stderr:
            line = raw.decode(errors="replace").replace("\r\x1b[K", "\n").splitlines()
            for part in line:
                part = part.strip()
                said[:] = [*said[-19:], part] if part else said
                if part.startswith("where the CPU went") or profile:
                    profile.append(part)
                    continue
                if part.startswith("[") and "] " in part and ":" in part:
                    rows[part.split("] ", 1)[1].split(":", 1)[0]] = time.perf_counter() - t0
                elif part and not part.startswith("grading") and ":" in part and " - " in part:
                    rows[part.split(":", 1)[0]] = time.perf_counter() - t0

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    code = proc.wait()
    wall = time.perf_counter() - t0
    reader.join(timeout=5)
    if code != 0 or not (out / "gradebook.json").is_file():
        raise SystemExit(f"grade batch exited with {code}:\n  " + "\n  ".join(said))
    book = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    return {"code": code, "wall": wall, "machine": machine_cpu() - m0, "own": own_cpu() - c0, "rows": rows,
            "profile": profile,
            "book": {s["id"]: (s.get("total"), s.get("status")) for s in book["students"]},
            "csv": (out / "gradebook.csv").read_text(encoding="utf-8"),
            "students": {s["id"]: untimed(s) for s in book["students"]}}


TIMINGS = {"duration_s", "run_s", "wait_s", "wall_s"}  # the only fields two gradings of a class may differ in


def untimed(value):
    """A gradebook.json entry without its timing fields (at any depth)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def differences(a: dict, b: dict, limit: int = 8) -> list[str]:
    """Where two gradings of one class differ, row by row (scores, statuses, every case's verdict)."""
    out = [] if a["csv"] == b["csv"] else ["gradebook.csv differs"]
    for sid in sorted(set(a["students"]) | set(b["students"])):
        x, y = a["students"].get(sid), b["students"].get(sid)
        if x != y:
            out.append(f"{sid}: {_first_difference(x, y)}")
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])


def _first_difference(x, y, path: str = "") -> str:
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y), key=str):
            if x.get(k) != y.get(k):
                return _first_difference(x.get(k), y.get(k), f"{path}.{k}")
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            if u != v:
                return _first_difference(u, v, f"{path}[{i}]")
    return f"{path or 'row'}: {str(x)[:160]!r} here, {str(y)[:160]!r} there"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IDLE_S = 10  # how long the started cluster is watched doing nothing (its own cost, per minute)


class LocalDaskCluster:
    """`dask scheduler` and `dask worker ADDRESS --nthreads 1 --nworkers N`, as docs/cluster.md starts
    them (every process in the bench's CPU cgroup), stopped on exit."""

    def __init__(self, workers: int, work: Path):
        self.workers, self.work = workers, work
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "LocalDaskCluster":
        dask = [sys.executable, "-m", "dask"]  # `dask`, run by this Python (a copied venv's script may name another)
        env = {**os.environ, "GRADE_COURSE": str(ROOT), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
        logs = open(self.work / "dask.log", "wb")
        port = self.address.rsplit(":", 1)[1]
        self.procs.append(subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", port],
                                           env=env, cwd=self.work, stdout=logs, stderr=logs, preexec_fn=CPU.enter))
        self.procs.append(subprocess.Popen([*dask, "worker", self.address, "--nthreads", "1", "--nworkers",
                                            str(self.workers), "--local-directory", str(self.work / "dask")],
                                           env=env, cwd=self.work, stdout=logs, stderr=logs, preexec_fn=CPU.enter))
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


FLOOR_RUNNER = r"""
import os, runpy, sys
os.environ['MPLBACKEND'] = 'Agg'
sys.path.insert(0, '.')
for name in sorted(os.listdir('.')):
    if name.endswith('.py'):
        try:
            runpy.run_path(name, run_name=name[:-3])
        except BaseException as exc:
            pass
"""


def floor(class_dir: Path, kinds: dict[str, str], work: Path) -> dict:
    """The honest students' own code run bare: one plain Python per student imports each of its files."""
    from concurrent.futures import ThreadPoolExecutor

    folders = []
    for sid, kind in kinds.items():
        if kind in ("looping", "empty"):
            continue
        folder = work / "floor" / sid
        files = honest_files(kind, int(sid[1:4]))
        for name in [n for n in files if n.endswith(".ipynb")]:
            files[name[:-6] + ".py"] = "".join(json.loads(files.pop(name))["cells"][1]["source"])
        _write(folder, files)
        folders.append(folder)

    def one(folder: Path) -> None:
        subprocess.run([sys.executable, "-c", FLOOR_RUNNER], cwd=folder, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120, preexec_fn=CPU.enter)

    m0, c0, t0 = machine_cpu(), own_cpu(), time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, folders))
    return {"wall": time.perf_counter() - t0, "machine": machine_cpu() - m0, "own": own_cpu() - c0,
            "students": len(folders)}


def _configs(values: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for value in values or ["default="]:
        name, _, args = value.partition("=")
        out.append((name, args.split()))
    return out


def show_profile(res: dict, top: int = 3) -> None:
    """`grade batch --profile`'s total line and its `top` stages (most CPU first)."""
    for line in res["profile"][:2 + top]:
        print(f"{'':<16}{line}")


def report(name: str, honest: dict, looped: dict | None, n_honest: int, loops: int, base: dict | None) -> None:
    last = max((t for sid, t in honest["rows"].items() if not sid.startswith("loop")), default=float("nan"))
    line = (f"{name:<14} wall {honest['wall']:6.1f} s  machine {honest['machine']:6.1f} CPU-s  "
            f"own {honest['own']:6.1f} CPU-s  per honest {honest['own'] / max(n_honest, 1):5.2f} CPU-s  "
            f"last honest row {last:6.1f} s  rows {len(honest['book'])}")
    if base is not None:
        line += f"  (x{honest['own'] / max(base['own'], 1e-9):.2f} CPU, x{honest['wall'] / max(base['wall'], 1e-9):.2f} wall)"
    print(line)
    show_profile(honest)
    if looped is not None:
        last_l = max((t for sid, t in looped["rows"].items() if not sid.startswith("loop")), default=float("nan"))
        print(f"{'  +' + str(loops) + ' loopers':<14} wall {looped['wall']:6.1f} s  machine {looped['machine']:6.1f} "
              f"CPU-s  own {looped['own']:6.1f} CPU-s  per looping "
              f"{(looped['own'] - honest['own']) / loops:5.2f} CPU-s  last honest row {last_l:6.1f} s "
              f"(x{last_l / max(last, 1e-9):.2f})  rows {len(looped['book'])}")
        show_profile(looped)
        same = all(looped["book"].get(k) == v for k, v in honest["book"].items())
        print(f"{'':<14} honest rows identical with and without the loopers: {same}")


def on_cluster(work: Path, args, base: dict, looped_base: dict | None) -> bool:
    """The class (and the looping one) graded again on a local Dask cluster of 2 workers: whether
    every gradebook is the same as the baseline's."""
    same, cluster_own = True, 0.0
    with LocalDaskCluster(2, work) as cluster:
        time.sleep(3)  # the workers' start-up settles
        c0 = own_cpu()
        time.sleep(IDLE_S)
        print(f"{'cluster idle':<14} the scheduler and 2 workers, waiting: {(own_cpu() - c0) * 60 / IDLE_S:5.2f} CPU-s "
              f"a minute")
        for label, folder, local in (("cluster", "class", base), ("  +loopers", "class-loops", looped_base)):
            if local is None:
                continue
            res = grade(work / folder, work / f"out-{folder}-cluster", None, args.seed, ["--scheduler", cluster.address])
            per = (f"per honest {res['own'] / max(args.n, 1):5.2f}" if local is base else
                   f"per looping {(res['own'] - cluster_own) / max(args.loops, 1):5.2f}")
            print(f"{label:<14} wall {res['wall']:6.1f} s  machine {res['machine']:6.1f} CPU-s  own "
                  f"{res['own']:6.1f} CPU-s (the scheduler's and the 2 workers' counted)  {per} CPU-s  "
                  f"rows {len(res['book'])}  (x{res['own'] / max(local['own'], 1e-9):.2f} CPU, "
                  f"x{res['wall'] / max(local['wall'], 1e-9):.2f} wall)")
            cluster_own = res["own"] if local is base else cluster_own
            diff = differences(local, res)
            print(f"{'':<14} gradebooks identical: {'no' if diff else 'yes'}")
            for line in diff:
                print(f"{'':<16}{line}")
            same = same and not diff
    return same


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", type=int, help="students (honest ones, the empty folder included)")
    p.add_argument("--loops", type=int, default=0, help="looping students added (graded in a second class)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--config", action="append", default=[], help="NAME=ARGS: extra `grade batch` arguments")
    p.add_argument("--no-floor", action="store_true")
    p.add_argument("--cluster", action="store_true",
                   help="also grade on a local Dask cluster of 2 workers and compare the gradebooks")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="grade-bench-class-"))
    try:
        kinds = build_class(work / "class", args.n, 0)
        if args.loops:
            build_class(work / "class-loops", args.n, args.loops)
        load = os.getloadavg()[0]
        print(f"{args.n} students ({', '.join(KINDS)}, empty), +{args.loops} loopers; --jobs {args.jobs}; "
              f"{os.cpu_count()} cores; load average before: {load:.2f}")
        if not args.no_floor:
            f = floor(work / "class", kinds, work)
            print(f"{'floor (bare)':<14} wall {f['wall']:6.1f} s  machine {f['machine']:6.1f} CPU-s  "
                  f"own {f['own']:6.1f} CPU-s  per honest {f['own'] / max(f['students'], 1):5.2f} CPU-s")
        base = looped_base = None
        for i, (name, extra) in enumerate(_configs(args.config)):
            honest = grade(work / "class", work / f"out-{i}", args.jobs, args.seed, extra)
            looped = grade(work / "class-loops", work / f"out-{i}-loops", args.jobs, args.seed, extra) \
                if args.loops else None
            report(name, honest, looped, args.n, args.loops, base)
            if base is None:
                base, looped_base = honest, looped
            elif honest["book"] != base["book"]:
                print(f"{'':<14} GRADEBOOK DIFFERS from {_configs(args.config)[0][0]}")
        same = True
        if args.cluster:
            same = on_cluster(work, args, base, looped_base)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if not same:
            return 1
    finally:
        CPU.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
