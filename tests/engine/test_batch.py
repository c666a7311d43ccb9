"""`grade batch`: a generated class graded end to end, checked row by row.

The class (stages 1-5, numpy only) has correct, partly correct, broken, crashing, hanging
and hostile students, as folders and zips (a zip-slip zip, an oversized member, a corrupt
zip). Unit tests cover unpacking, discovery, rows, the CSV and the overview on hand-written
reports. `make_class` is reused by bench/bench_class.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader.batch import discover, main as batch_main, run_batch, summarize  # noqa: E402
from grader.course.folder import load_course  # noqa: E402
from grader.batch.gradebook import csv_text  # noqa: E402
from grader.batch.overview import bins_for, case_stats, render_overview, svg_histogram  # noqa: E402
from grader.batch.unpack import UnpackError, ZipCaps, find_submission_root, safe_unzip  # noqa: E402
from grader.verdict import Report  # noqa: E402

STUDENT_ERROR = "error (student's code)"

COURSE = load_course(None)
REF = COURSE.reference
TEMPLATE = COURSE.template
TEST_TIME_LIMIT_S = 3  # the test course's per-stage limit: a hanging student costs 3 s, not 20


# --------------------------------------------------------------------------- the class generator

def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _ref(name: str) -> str:
    return (REF / name).read_text(encoding="utf-8")


def _zip_folder(folder: Path, zip_path: Path, prefix: str = "") -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, prefix + p.relative_to(folder).as_posix())


ACTIVATION_TEXTBOOK_TANH = '''import numpy as np


class ActivationFunction(object):
    def sigmoid(self, x):
        return 1 / (1 + np.exp(-x))

    def tanh(self, x):
        return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))  # NaN for large |x|

    def ReLU(self, x):
        return np.maximum(0, x)
'''

METRICS_SEED_RMSE = '''import numpy as np


def comp_mae(pred, actual):
    return np.mean(np.abs(pred - actual))


def comp_rmse(pred, actual):
    error = pred - actual
    return np.sqrt(error.dot(error.T)) / len(error)   # the exercise's printed (wrong) formula
'''

SNOOP = '''import glob
import os

TARGET = {target!r}
stolen = None
for cand in [TARGET, "../alice/metrics.py", "../../alice/metrics.py"] + glob.glob("../*/metrics.py") \\
        + glob.glob(os.path.join(os.path.dirname(TARGET), "..", "*", "metrics.py")):
    try:
        with open(cand) as fh:
            text = fh.read()
        if "stolen" not in text:  # not this very file (../work/metrics.py)
            stolen = text
            break
    except Exception:
        pass
try:
    with open(TARGET, "a") as fh:
        fh.write("raise SystemExit('vandalised')\\n")
except Exception:
    pass
if stolen:
    exec(stolen)
else:
    def comp_mae(pred, actual):
        return 0.0

    def comp_rmse(pred, actual):
        return 0.0
'''


def build_student(folder: Path, kind: str, *, files: tuple[str, ...] = (), class_dir: Path | None = None) -> None:
    """Write one student's folder of the given kind (see KINDS)."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "correct":
        for f in files:
            shutil.copyfile(REF / f, folder / f)
    elif kind == "template":  # an unfinished student: the blanks are left open
        for f in files:
            shutil.copyfile(TEMPLATE / f, folder / f)
    elif kind == "half":  # every other file solved, the rest left open
        for i, f in enumerate(files):
            shutil.copyfile((REF if i % 2 == 0 else TEMPLATE) / f, folder / f)
    elif kind == "alt-and":  # a different but right w, b; correct metrics
        _write(folder / "mp_neuron.py", _ref("mp_neuron.py").replace("w = np.array([1, 1])", "w = np.array([0.5, 0.5])")
               .replace("b = -1.5", "b = -0.5"))
        shutil.copyfile(REF / "metrics.py", folder / "metrics.py")
    elif kind == "partial":
        _write(folder / "activation.py", ACTIVATION_TEXTBOOK_TANH)
        _write(folder / "mp_neuron.py", _ref("mp_neuron.py").replace("b = -1.5", "b = -0.5"))  # OR, not AND
        _write(folder / "metrics.py", METRICS_SEED_RMSE)
    elif kind == "syntax-error":
        _write(folder / "activation.py", _ref("activation.py").replace("def tanh(self, x):", "def tanh(self, x:"))
        shutil.copyfile(REF / "metrics.py", folder / "metrics.py")
    elif kind == "crash":
        _write(folder / "metrics.py", _ref("metrics.py") + "\nraise RuntimeError('boom at import')\n")
        _write(folder / "mp_neuron.py", "import os\nos._exit(3)\n")
    elif kind == "hang":
        shutil.copyfile(REF / "activation.py", folder / "activation.py")
        _write(folder / "mp_neuron.py", "import numpy as np\nwhile True:\n    pass\n")
    elif kind == "flood":
        shutil.copyfile(REF / "activation.py", folder / "activation.py")
        _write(folder / "metrics.py", _ref("metrics.py") + "\nfor _ in range(200000):\n    print('x' * 200)\n")
    elif kind == "snoop":
        assert class_dir is not None
        _write(folder / "metrics.py", SNOOP.format(target=str(class_dir / "alice" / "metrics.py")))
    elif kind == "empty":
        _write(folder / "README.txt", "I could not do it, sorry.\n")
    else:
        raise ValueError(kind)


STAGE_FILES = ("activation.py", "mp_neuron.py", "metrics.py")


def make_class(class_dir: Path, students: dict[str, str] | None = None, files: tuple[str, ...] = STAGE_FILES) -> Path:
    """A class folder. `students` maps a folder name to a kind; None makes the test class."""
    class_dir.mkdir(parents=True, exist_ok=True)
    if students is not None:
        for name, kind in students.items():
            build_student(class_dir / name, kind, files=files, class_dir=class_dir)
        return class_dir
    c = class_dir
    build_student(c / "alice", "correct", files=STAGE_FILES)
    build_student(c / "bob", "alt-and")
    build_student(c / "carol", "partial")
    build_student(c / "dave", "syntax-error")
    build_student(c / "erin", "crash")
    build_student(c / "frank", "hang")
    build_student(c / "grace", "flood")
    build_student(c / "heidi", "snoop", class_dir=c)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        # ivan: a zip holding one top-level folder, plus macOS junk
        build_student(t / "ivan", "correct", files=STAGE_FILES)
        _zip_folder(t / "ivan", c / "ivan.zip", prefix="ivan-submission/")
        with zipfile.ZipFile(c / "ivan.zip", "a") as z:
            z.writestr("__MACOSX/ivan-submission/._metrics.py", b"\0\1junk")
        # peggy: an LMS (Moodle) folder holding the student's zip
        build_student(t / "peggy", "correct", files=("metrics.py",))
        (c / "Peggy Li_123456_assignsubmission_file_").mkdir()
        _zip_folder(t / "peggy", c / "Peggy Li_123456_assignsubmission_file_" / "submission.zip")
    # judy: zip-slip
    with zipfile.ZipFile(c / "judy.zip", "w") as z:
        z.writestr("activation.py", _ref("activation.py"))
        z.writestr("../../judy_evil.py", "print('escaped')\n")
    # mallory: one member inflates past the per-file cap (zip bomb-ish)
    with zipfile.ZipFile(c / "mallory.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metrics.py", _ref("metrics.py"))
        z.writestr("data.bin", b"\0" * (ZipCaps().max_file_bytes + 1024))
    # victor: not a zip at all
    (c / "victor.zip").write_bytes(os.urandom(2048))
    build_student(c / "niaj", "empty")
    # olivia: her stage file is a symlink to alice's
    (c / "olivia").mkdir()
    os.symlink(c / "alice" / "metrics.py", c / "olivia" / "metrics.py")
    # trent: a repository cloned inside his folder
    build_student(c / "trent" / "nn-course-trent", "correct", files=("activation.py",))
    (c / "notes.txt").write_text("not a student\n")
    return c


def make_test_course(dest: Path, numbers=(1, 2, 3, 4, 5), time_s: float = TEST_TIME_LIMIT_S) -> Path:
    """A copy of the bundled course with only `numbers`, and short time limits."""
    import yaml

    (dest / "stages").mkdir(parents=True)
    for sub in ("drivers", "support"):
        if (COURSE.root / "stages" / sub).is_dir():
            shutil.copytree(COURSE.root / "stages" / sub, dest / "stages" / sub)
    shutil.copytree(COURSE.reference, dest / "reference")
    for spec in COURSE.stages:
        if spec.number in numbers:
            data = yaml.safe_load(spec.path.read_text(encoding="utf-8"))
            data.setdefault("limits", {})["time_s"] = min(float(data.get("limits", {}).get("time_s", 20)), time_s)
            (dest / "stages" / spec.path.name).write_text(
                yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dest


def _world_readable(root: Path) -> None:
    """Like an instructor's folder: other users may read it (so snooping is a real threat)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = Path(dirpath) / f
            if not p.is_symlink():
                os.chmod(p, 0o644)


def read_csv(path: Path) -> dict[str, dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


# --------------------------------------------------------------------------- unit: unpacking

def test_unzip_unwraps_single_folder_and_skips_junk(tmp_path):
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("sub/metrics.py", "x = 1\n")
        zf.writestr("sub/deep/a.txt", "a")
        zf.writestr("__MACOSX/sub/._metrics.py", "junk")
        zf.writestr("sub/.DS_Store", "junk")
    root = safe_unzip(z, tmp_path / "out")
    assert root == tmp_path / "out" / "sub"
    assert (root / "metrics.py").read_text() == "x = 1\n"
    assert not (tmp_path / "out" / "__MACOSX").exists() and not (root / ".DS_Store").exists()


@pytest.mark.parametrize("name, why", [
    ("../evil.py", "escapes"), ("a/../../evil.py", "escapes"), ("/etc/evil.py", "absolute"),
    ("C:/evil.py", "absolute"), ("..\\evil.py", "escapes"),
])
def test_unzip_refuses_escaping_paths(tmp_path, name, why):
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ok.py", "x = 1\n")
        zf.writestr(name, "x = 2\n")
    with pytest.raises(UnpackError, match=why):
        safe_unzip(z, tmp_path / "out" / "s")
    assert not (tmp_path / "out" / "s").exists()
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "out" / "evil.py").exists()


def test_unzip_refuses_symlinks_and_oversize_and_too_many(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("metrics.py")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnpackError, match="symbolic link"):
        safe_unzip(z, tmp_path / "a")

    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 5000)
    assert z.stat().st_size < 1000
    with pytest.raises(UnpackError, match="too large"):
        safe_unzip(z, tmp_path / "b", ZipCaps(max_file_bytes=4096))
    with pytest.raises(UnpackError, match="too large"):
        safe_unzip(z, tmp_path / "c", ZipCaps(max_total_bytes=4096))

    z = tmp_path / "many.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(11):
            zf.writestr(f"f{i}.txt", "x")
    with pytest.raises(UnpackError, match="too many members"):
        safe_unzip(z, tmp_path / "d", ZipCaps(max_members=10))

    (tmp_path / "junk.zip").write_bytes(b"PK\3\4 definitely not a zip")
    with pytest.raises(UnpackError, match="not a readable zip"):
        safe_unzip(tmp_path / "junk.zip", tmp_path / "e")


def test_unzip_decodes_gbk_names(tmp_path):
    """Zips from Chinese-locale Windows carry GBK names without the UTF-8 flag."""
    z = tmp_path / "gbk.zip"
    gbk = "作业/metrics.py".encode("gbk")
    placeholder = b"x" * (len(gbk) - len(b"/metrics.py")) + b"/metrics.py"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(placeholder.decode("ascii"), "x = 1\n")
    z.write_bytes(z.read_bytes().replace(placeholder, gbk))
    root = safe_unzip(z, tmp_path / "out")
    assert root.name == "作业" and (root / "metrics.py").is_file()


def test_find_submission_root_descends_into_a_lone_folder(tmp_path):
    (tmp_path / "s" / "repo" / "src").mkdir(parents=True)
    (tmp_path / "s" / "repo" / "metrics.py").write_text("")
    (tmp_path / "s" / ".git").mkdir()
    assert find_submission_root(tmp_path / "s", {"metrics.py"}) == tmp_path / "s" / "repo"
    assert find_submission_root(tmp_path / "s", {"nothing.py"}) == tmp_path / "s"


def test_discover_ids(tmp_path):
    for d in ("alice", "Zhang San_123456_assignsubmission_file_", ".hidden", "__MACOSX"):
        (tmp_path / d).mkdir()
    (tmp_path / "alice.zip").write_bytes(b"")
    (tmp_path / "bob.zip").write_bytes(b"")
    (tmp_path / "readme.md").write_text("")
    students, notes = discover(tmp_path)
    ids = [s.id for s in students]
    assert ids == ["alice", "alice.zip", "bob", "Zhang San_123456"]
    assert len({s.file_id for s in students}) == 4
    assert all("/" not in s.file_id and " " not in s.file_id for s in students)
    assert any("readme.md" in n for n in notes)


# --------------------------------------------------------------------------- unit: rows, CSV, overview

def _case(name, status="passed", score=1.0, max_score=1.0, hidden=False, message="", hint=None):
    return {"name": name, "status": status, "score": score, "max_score": max_score, "hidden": hidden,
            "message": message, "hint": hint, "duration_s": 0.01}


def _report(score_a=2.0, b_status="passed", stage_error=None):
    a = [_case("a1", score=1.0), _case("a2", "passed" if score_a == 2 else "failed", score_a - 1, 1.0,
                                          message=f"max abs diff {score_a / 7:.4f} at [3]", hint="try harder")]
    stages = [{"number": 1, "slug": "one", "title": "One", "status": "passed" if score_a == 2 else "failed",
               "score": score_a, "max_score": 2.0, "message": "", "duration_s": 0.5, "run_s": 0.1, "cases": a}]
    if stage_error:
        stages.append({"number": 2, "slug": "two", "title": "Two", "status": "error", "score": 0.0,
                       "max_score": 3.0, "message": stage_error, "duration_s": 0.2, "run_s": 0.0,
                       "cases": [_case("b1", "error", 0.0, 3.0, message="not run")]})
    else:
        stages.append({"number": 2, "slug": "two", "title": "Two", "status": "passed" if b_status == "passed" else "failed",
                       "score": 3.0 if b_status == "passed" else 0.0, "max_score": 3.0, "message": "",
                       "duration_s": 0.2, "run_s": 0.05,
                       "cases": [_case("b1", b_status, 3.0 if b_status == "passed" else 0.0, 3.0,
                                       message="" if b_status == "passed" else "time limit of 3 s")]})
    return {"submission": "x", "seed": 1, "score": 0, "max_score": 5, "lang": "en", "stages": stages}


def test_summarize_rows():
    mx = {1: 2, 2: 3}
    ok = summarize(Report.from_dict(_report()), mx)
    assert ok["scores"] == {1: 2, 2: 3} and ok["total"] == 5 and ok["status"] == "graded" and ok["reason"] == ""
    err = summarize(Report.from_dict(_report(score_a=1.0, stage_error="SyntaxError in two.py, line 3")), mx)
    assert err["status"] == "error" and err["total"] == 1 and "stage 2 two: SyntaxError" in err["reason"]
    slow = summarize(Report.from_dict(_report(b_status="timeout")), mx)
    assert slow["status"] == "error" and "time limit" in slow["reason"]
    none = summarize(Report.from_dict({"stages": []}), mx)
    assert none["status"] == "not handed in" and none["scores"] == {1: None, 2: None}


def test_csv_quotes_and_neutralises_formulas():
    spec = COURSE.stages[0]
    rows = [{"id": "=HYPERLINK(\"http://x\")", "scores": {spec.number: 1.5}, "total": 1.5, "max": 10,
             "status": "error", "reason": 'broke, "badly"\nreally'}]
    text = csv_text(rows, [spec])
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0][0] == "id" and parsed[0][1] == f"{spec.number} {spec.slug}"
    assert parsed[1][0].startswith("'=") and parsed[1][1] == "1.5"
    assert parsed[1][-1] == 'broke, "badly"\nreally'


class _Spec:
    def __init__(self, number, slug, cases):
        self.number, self.slug, self.file = number, slug, f"{slug}.py"
        self.title = type("T", (), {"en": slug.title(), "zh": slug, "get": lambda s, lang: slug.title()})()
        self.cases = [type("C", (), {"name": n, "points": p})() for n, p in cases]


def test_overview_from_hand_written_reports():
    cols = [_Spec(1, "one", [("a1", 1), ("a2", 1)]), _Spec(2, "two", [("b1", 3)])]
    reports = {"s1": _report(), "s2": _report(score_a=1.0), "s3": _report(score_a=1.0, b_status="failed"),
               "s4": _report(score_a=1.0, stage_error="SyntaxError: invalid syntax (two.py, line 3)")}
    payloads = {k: Report.from_dict(v) for k, v in reports.items()}
    rows = []
    for k, v in reports.items():
        r = {"id": k, "file": k, "max": 5, **summarize(Report.from_dict(v), {1: 2, 2: 3})}
        rows.append(r)
    rows.append({"id": "zip<b>", "file": "zipb", "max": 5, "scores": {1: None, 2: None}, "total": 0,
                 "status": "error", "reason": "unpack failed: member '../x' escapes", "duration_s": 0, "run_s": 0})
    stats = case_stats(rows, payloads, cols)
    # a2 passes for s1 only (1/4), b1 for s1 and s2 (2/4), a1 for all
    assert [(s["stage"], s["case"], s["passed"], s["attempted"]) for s in stats] == \
        [(1, "a2", 1, 4), (2, "b1", 2, 4), (1, "a1", 4, 4)]
    assert bins_for([0, 1, 2, 2], 2) == [("0", 1), ("1", 1), ("2", 2)]
    pct = bins_for([0.5, 33.3, 95, 99.99, 100, 100], 100)
    assert len(pct) == 11 and pct[-1] == ("100", 2)  # full marks: a bar of their own
    assert pct[-2] == ("90–<100", 2) and pct[0] == ("0–<10", 1) and sum(c for _, c in pct) == 6
    assert bins_for([12.5, 25, 25], 25)[-1] == ("25", 2)  # fractional scores: ranges, then the maximum
    assert bins_for([24, 25], 25)[-1] == ("25", 1)  # integral but many possible scores
    svg = str(svg_histogram([("0", 1), ("1", 0), ("2", 3)], "x"))
    assert svg.count("<rect") == 3 and 'data-count="3"' in svg
    for lang in ("en", "zh"):
        page = render_overview(rows, payloads, cols, lang=lang, seed=7)
        assert "<script src" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
        assert "zip&lt;b&gt;" in page and "students/zipb.html" in page
        assert "try harder" in page and "SyntaxError: invalid syntax" in page
        assert ("Cases, hardest first" if lang == "en" else "最难的在前") in page


class _FakeGrader:
    """Stands in for the engine: explodes on one student, grades the rest."""

    def __init__(self, *a, **k):
        self.calls = 0

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass

    def grade(self, path, stages=None, contents=None):
        self.calls += 1
        if (Path(path) / "explode").exists():
            raise RuntimeError("engine bug")
        return Report(submission=str(path), course="", seed=1, lang="en")


def test_engine_failures_still_give_rows(tmp_path):
    c = tmp_path / "class"
    (c / "a").mkdir(parents=True)
    (c / "a" / "metrics.py").write_text("")
    (c / "b").mkdir()
    (c / "b" / "metrics.py").write_text("")
    (c / "b" / "explode").write_text("")
    res = run_batch(c, tmp_path / "out", grader_factory=_FakeGrader, quiet=True, seed=1)
    rows = {r["id"]: r for r in res.rows}
    assert rows["a"]["status"] == "not handed in" and "no stage files" in rows["a"]["reason"]
    assert rows["b"]["status"] == "error" and "grader failed: RuntimeError: engine bug" in rows["b"]["reason"]
    assert rows["b"]["fault"] == "grader"
    assert read_csv(tmp_path / "out" / "gradebook.csv")["b"]["status"] == "error (grader)"

    def broken(*a, **k):
        raise OSError("no fork server")

    res = run_batch(c, tmp_path / "out2", grader_factory=broken, quiet=True, seed=1)
    assert all(r["status"] == "error" and "grader failed to start" in r["reason"] for r in res.rows)
    assert all(r["fault"] == "grader" for r in res.rows)
    assert read_csv(tmp_path / "out2" / "gradebook.csv").keys() == {"a", "b"}


# --------------------------------------------------------------------------- the class, graded for real

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="grade-class-"))
    try:
        os.chmod(base, 0o755)
        course = make_test_course(tmp_path_factory.mktemp("course"))
        class_dir = make_class(base / "class")
        _world_readable(class_dir)
        alice_before = (class_dir / "alice" / "metrics.py").read_bytes()
        out = base / "grades"
        err = io.StringIO()
        t0 = time.monotonic()
        res = run_batch(class_dir, None, course_dir=course, jobs=2, seed=12345, stream=err)
        wall = time.monotonic() - t0
        yield {"class": class_dir, "course": course, "out": out, "res": res, "log": err.getvalue(),
               "alice_before": alice_before, "wall": wall, "base": base}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _max(number: int) -> float:
    return sum(c.points for c in COURSE.find(number).cases)


def _pts(number: int, *names: str) -> float:
    spec = COURSE.find(number)
    found = {c.name: c.points for c in spec.cases}
    assert set(names) <= set(found), f"stage {number} has no case {set(names) - set(found)}"
    return sum(found[n] for n in names)


def _n(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def test_default_out_dir_and_files(graded):
    out = graded["out"]
    assert graded["res"].out_dir == out  # CLASS_DIR/../grades
    for name in ("gradebook.csv", "gradebook.json", "index.html"):
        assert (out / name).is_file()
    rows = read_csv(out / "gradebook.csv")
    assert "notes.txt" not in rows and len(rows) == 16
    assert all((out / "students" / f"{r['file']}.html").is_file() for r in graded["res"].rows)
    header = next(csv.reader(open(out / "gradebook.csv", encoding="utf-8-sig")))
    assert header == ["id", "1 sigmoid", "2 tanh", "3 relu", "4 mp-neuron", "5 mae-rmse",
                      "total", "max", "status", "reason", "course", "course_hash"]
    assert graded["wall"] < 45


def test_rows_match_what_each_student_deserves(graded):
    rows = read_csv(graded["out"] / "gradebook.csv")
    full = {n: _max(n) for n in range(1, 6)}
    total_max = sum(full.values())
    assert all(float(r["max"]) == total_max for r in rows.values())

    def scores(sid):
        return [_n(rows[sid][h]) for h in ("1 sigmoid", "2 tanh", "3 relu", "4 mp-neuron", "5 mae-rmse")]

    for sid in ("alice", "ivan"):  # a folder and a zip with a top-level folder
        assert scores(sid) == [full[n] for n in range(1, 6)], sid
        assert rows[sid]["status"] == "graded" and float(rows[sid]["total"]) == total_max

    assert scores("bob") == [None, None, None, full[4], full[5]]  # another right w, b
    assert rows["bob"]["status"] == "graded"

    # textbook tanh: NaN for large |x|; OR instead of AND; the exercise's wrong RMSE formula
    assert scores("carol") == [full[1], full[2] - _pts(2, "large-magnitudes"), full[3],
                               _pts(4, "step-function"),
                               full[5] - _pts(5, "rmse-small", "random-rmse", "integer-ratings")]
    assert rows["carol"]["status"] == "graded"

    assert scores("dave") == [0, 0, 0, None, full[5]]
    assert rows["dave"]["status"] == STUDENT_ERROR and "syntax" in rows["dave"]["reason"].lower()

    assert scores("erin") == [None, None, None, 0, 0]
    assert rows["erin"]["status"] == STUDENT_ERROR and "RuntimeError" in rows["erin"]["reason"]

    assert scores("frank") == [full[1], full[2], full[3], 0, None]  # the hang costs only its own stage
    assert rows["frank"]["status"] == STUDENT_ERROR and "limit" in rows["frank"]["reason"].lower()

    assert scores("grace") == [full[1], full[2], full[3], None, 0]
    assert rows["grace"]["status"] == STUDENT_ERROR and "output" in rows["grace"]["reason"].lower()

    assert scores("heidi") == [None, None, None, None, 0]  # could not read alice's file
    assert rows["heidi"]["status"] == "graded"  # her fallback ran: wrong answers, no crash

    assert rows["judy"]["status"] == STUDENT_ERROR and "unpack failed" in rows["judy"]["reason"]
    assert "escapes" in rows["judy"]["reason"] and scores("judy") == [None] * 5
    assert rows["mallory"]["status"] == STUDENT_ERROR and "too large" in rows["mallory"]["reason"]
    assert rows["victor"]["status"] == STUDENT_ERROR and "not a readable zip" in rows["victor"]["reason"]
    assert rows["niaj"]["status"] == "not handed in" and "no stage files" in rows["niaj"]["reason"]
    assert rows["olivia"]["status"] == STUDENT_ERROR and "symbolic link" in rows["olivia"]["reason"]
    assert scores("Peggy Li_123456") == [None, None, None, None, full[5]]
    assert scores("trent") == [full[1], full[2], full[3], None, None]
    for sid, r in rows.items():
        assert float(r["total"]) == sum(s or 0 for s in scores(sid)), sid


def test_hostile_students_harm_no_one(graded):
    c, base = graded["class"], graded["base"]
    assert (c / "alice" / "metrics.py").read_bytes() == graded["alice_before"]
    assert not any(p.name == "judy_evil.py" for p in base.rglob("judy_evil.py"))
    assert not (base.parent / "judy_evil.py").exists()


def test_gradebook_json_holds_full_reports(graded):
    doc = json.loads((graded["out"] / "gradebook.json").read_text(encoding="utf-8"))
    assert doc["seed"] == 12345 and [s["number"] for s in doc["stages"]] == [1, 2, 3, 4, 5]
    by = {s["id"]: s for s in doc["students"]}
    carol = by["carol"]["report"]
    assert carol["seed"] == 12345 and carol["score"] == by["carol"]["total"]
    st5 = next(s for s in carol["stages"] if s["number"] == 5)
    rmse = next(c for c in st5["cases"] if c["name"] == "rmse-small")
    assert rmse["status"] == "failed" and "not the RMSE" in rmse["hint"]
    assert by["judy"]["report"] is None and by["judy"]["status"] == "error" and by["judy"]["fault"] == "student"


def test_overview_and_student_pages(graded):
    out = graded["out"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script src" not in page
    assert page.count('<svg class="hist"') == 6  # total + stages 1-5
    assert "seed-rmse-formula" in page  # the known mistake carol made, with its count
    assert "students/carol.html" in page and "students/judy.html" in page
    carol = (out / "students" / "carol.html").read_text(encoding="utf-8")
    assert "../index.html" in carol and "mae-rmse" in carol.lower() or "MAE" in carol
    judy = (out / "students" / "judy.html").read_text(encoding="utf-8")
    assert "unpack failed" in judy


def test_progress_lines_when_not_a_tty(graded):
    log = graded["log"]
    assert "skipped notes.txt" in log
    lines = [ln for ln in log.splitlines() if ln.startswith("[")]
    assert len(lines) == 16 and lines[-1].startswith("[16/16]")


def test_rerun_uses_cache_then_force_regrades(graded, tmp_path):
    # A copy elsewhere: keys hash content, not paths, so the copy is still up to date.
    base = tmp_path / "copy"
    shutil.copytree(graded["class"], base / "class", symlinks=True)
    shutil.copytree(graded["out"], base / "grades")
    kw = dict(course_dir=graded["course"], jobs=2, quiet=True)
    gradable = sum(1 for r in graded["res"].rows if r["status"] != "error" or r["reason"].startswith("stage"))

    again = run_batch(base / "class", None, **kw)  # seed: remembered from the first run
    assert again.seed == 12345 and again.graded == 0 and again.cached == gradable
    assert read_csv(base / "grades" / "gradebook.csv") == read_csv(graded["out"] / "gradebook.csv")

    shutil.copyfile(REF / "metrics.py", base / "class" / "carol" / "metrics.py")
    changed = run_batch(base / "class", None, **kw)
    assert changed.graded == 1 and changed.cached == gradable - 1
    assert float(read_csv(base / "grades" / "gradebook.csv")["carol"]["5 mae-rmse"]) == _max(5)

    other_seed = run_batch(base / "class", None, seed=99, stages=["5"], **kw)
    assert other_seed.graded > 0 and other_seed.cached == 0

    forced = run_batch(base / "class", None, force=True, seed=12345, **kw)
    assert forced.graded == gradable and forced.cached == 0


def test_cli_stage_selection_and_zh(graded, tmp_path):
    class_dir = make_class(tmp_path / "cls", {"s1": "correct", "s2": "partial"}, files=STAGE_FILES)
    err = io.StringIO()
    old = sys.stderr
    sys.stderr = err
    try:
        code = batch_main([str(class_dir), "--course", str(graded["course"]), "--stage", "mae-rmse",
                           "--stage", "1", "--out", str(tmp_path / "g"), "--seed", "5", "--lang", "zh"])
    finally:
        sys.stderr = old
    assert code == 0, err.getvalue()
    rows = read_csv(tmp_path / "g" / "gradebook.csv")
    assert list(rows["s1"].keys()) == ["id", "1 sigmoid", "5 mae-rmse", "total", "max", "status", "reason",
                                      "course", "course_hash"]
    assert float(rows["s1"]["total"]) == _max(1) + _max(5)
    page = (tmp_path / "g" / "index.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in page and "班级概览" in page
    assert batch_main([str(class_dir), "--course", str(graded["course"]), "--stage", "nope",
                       "--out", str(tmp_path / "g2")]) == 2


def test_whole_class_zip(graded, tmp_path):
    """An LMS's "download all submissions" archive: one zip, a folder (or zip) per student."""
    src = make_class(tmp_path / "src" / "export", {"s1": "correct", "s2": "partial"}, files=("metrics.py",))
    _zip_folder(src / "s1", src / "s3.zip")
    _zip_folder(src.parent, tmp_path / "export.zip")  # export/s1/..., export/s2/..., export/s3.zip
    res = run_batch(tmp_path / "export.zip", None, course_dir=graded["course"], stages=["5"], seed=1, quiet=True)
    assert res.out_dir == tmp_path / "grades"
    rows = {r["id"]: r for r in res.rows}
    assert set(rows) == {"s1", "s2", "s3"}
    assert rows["s1"]["total"] == rows["s3"]["total"] == _max(5) and rows["s2"]["total"] < _max(5)


def test_ctrl_c_keeps_what_finished(graded, tmp_path):
    class_dir = make_class(tmp_path / "cls", {"a-fast": "correct", "b-hang": "hang", "c-hang": "hang",
                                              "d-hang": "hang"}, files=("activation.py",))
    for name in ("b-hang", "c-hang", "d-hang"):
        (class_dir / name / "activation.py").unlink()
    out = tmp_path / "g"
    proc = subprocess.Popen([sys.executable, "-m", "grader.batch", str(class_dir), "--course", str(graded["course"]),
                             "--jobs", "1", "--out", str(out), "--seed", "3"],
                            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while not (out / ".cache" / "a-fast.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the first student was never graded"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    rows = read_csv(out / "gradebook.csv")
    assert set(rows) == {"a-fast", "b-hang", "c-hang", "d-hang"}
    assert rows["a-fast"]["status"] == "graded" and float(rows["a-fast"]["total"]) == _max(1) + _max(2) + _max(3)
    assert rows["d-hang"]["status"] == "not graded" and rows["d-hang"]["reason"] == "interrupted"
    assert "interrupted" in (out / "index.html").read_text(encoding="utf-8")
    # The next run keeps what was done and grades the rest (fixed meanwhile, to be quick).
    for name in ("b-hang", "c-hang", "d-hang"):
        shutil.copyfile(REF / "mp_neuron.py", class_dir / name / "mp_neuron.py")
    res = run_batch(class_dir, out, course_dir=graded["course"], jobs=2, quiet=True)
    assert (res.cached, res.graded, res.interrupted) == (1, 3, False)
    assert all(r["status"] == "graded" for r in res.rows)


# --------------------------------------------------------------------------- teachers: what adds up

def _page_total(html_text: str) -> tuple[float, float]:
    """The "score / max" headline of a student's HTML report."""
    import re

    m = re.search(r'<div class="total">\s*([\d.]+)\s*/\s*([\d.]+)\s*</div>', html_text)
    assert m, "no total on the student's page"
    return float(m.group(1)), float(m.group(2))


def _overview_row(page: str, file_id: str) -> str:
    import re

    m = re.search(rf'<tr data-student="{re.escape(file_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert m, file_id
    return m.group(1)


def test_one_student_one_denominator(graded):
    """bob handed in 2 of the 3 files (stages 4, 5 of 1-5): out of the 5 stages' total on his
    page, in both gradebooks and on the overview; the missing stages count 0 of their points."""
    out = graded["out"]
    total_max = sum(_max(n) for n in range(1, 6))
    rows = read_csv(out / "gradebook.csv")
    doc = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    by = {s["id"]: s for s in doc["students"]}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f"/{total_max:g}</small>" in page.split('id="student-table"')[1].split("</thead>")[0]
    for sid, file_id in (("bob", "bob"), ("carol", "carol"), ("Peggy Li_123456", "Peggy_Li_123456")):
        score, mx = _page_total((out / "students" / f"{file_id}.html").read_text(encoding="utf-8"))
        assert mx == total_max == float(rows[sid]["max"]) == by[sid]["max"] == by[sid]["report"]["max_score"], sid
        assert score == float(rows[sid]["total"]) == by[sid]["report"]["score"], sid
        assert f"<b>{rows[sid]['total']}</b>" in _overview_row(page, file_id)
    bob = by["bob"]["report"]
    assert [s["number"] for s in bob["stages"]] == [1, 2, 3, 4, 5]
    missing = [s for s in bob["stages"] if s["number"] in (1, 2, 3)]
    assert all(s["score"] == 0 and s["max_score"] == _max(s["number"]) for s in missing)
    assert all("not found" in s["message"] for s in missing)
    assert rows["bob"]["status"] == "graded"  # not handing a file in is not an error of the run
    bob_page = (out / "students" / "bob.html").read_text(encoding="utf-8")
    assert "activation.py was not found" in bob_page


def test_counts_add_up(graded):
    from grader.batch.rows import tally

    rows = graded["res"].rows
    counts = tally(rows)
    assert sum(counts.values()) == len(rows) == 16
    assert counts["errors"] == sum(r["status"] == "error" for r in rows) > 0
    assert counts["not_handed_in"] == 1 and counts["cached"] == 0 and counts["not_graded"] == 0


def _summary_counts(text: str) -> tuple[int, list[int]]:
    import re

    m = re.search(r"(\d+) students: (\d+) graded now, (\d+) unchanged \(from the cache\), (\d+) not started, "
                  r"(\d+) with errors, (\d+) not handed in, (\d+) not graded", text)
    assert m, text
    return int(m.group(1)), [int(x) for x in m.group(2, 3, 4, 5, 6, 7)]


def test_cli_summary_counts_add_up_on_a_rerun(graded, tmp_path, capsys):
    class_dir = make_class(tmp_path / "cls", {"s1": "correct", "s2": "syntax-error", "s3": "empty"},
                           files=("activation.py",))
    args = [str(class_dir), "--course", str(graded["course"]), "--stage", "1", "--out", str(tmp_path / "g"),
            "--seed", "5"]
    assert batch_main(args) == 0
    n, counts = _summary_counts(capsys.readouterr().err)
    assert n == 3 and sum(counts) == n and counts == [1, 0, 0, 1, 1, 0]
    shutil.copyfile(REF / "activation.py", class_dir / "s3" / "activation.py")  # s3 hands in late
    assert batch_main(args) == 0
    n, counts = _summary_counts(capsys.readouterr().err)
    assert n == 3 and sum(counts) == n
    assert counts == [1, 1, 0, 1, 0, 0]  # s3 graded now, s1 from the cache, s2 still has its error (cached)


def test_batch_on_a_single_workspace_says_so(tmp_path, capsys):
    ws = tmp_path / "my work"
    shutil.copytree(REF, ws)
    with pytest.raises(ValueError, match="one workspace, not a class") as e:
        run_batch(ws, None, quiet=True)
    assert f"grade '{ws}'" in str(e.value)  # a command that works as printed
    assert not (tmp_path / "grades").exists()  # nothing written next to it
    assert batch_main([str(ws)]) == 2
    err = capsys.readouterr().err
    assert err.count("activation.py") == 1 and f"To grade this workspace: grade '{ws}'" in err
    assert batch_main([str(ws), "--lang", "zh"]) == 2
    assert "工作区" in capsys.readouterr().err
    # A class folder with a stray stage file next to its students is still a class.
    cls = make_class(tmp_path / "cls", {"s1": "template"}, files=("activation.py",))
    shutil.copyfile(REF / "activation.py", cls / "activation.py")
    res = run_batch(cls, tmp_path / "g", stages=["1"], quiet=True, seed=1)
    assert [r["id"] for r in res.rows] == ["s1"]


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_eta_from_finished_work_with_a_fake_clock():
    """8 students, 2 workers, 10 s each: after the first two (10 s), 6 are left: 30 s."""
    from grader.batch.progress import ProgressBar, estimate

    assert estimate(0, 5.0, 3) is None and estimate(4, 20.0, 0) == 0.0
    clock = _Clock()
    p = ProgressBar(8, io.StringIO(), jobs=2, clock=clock)
    assert p.eta() == "--:--"
    clock.now += 2.0  # unpacking, hashing: not grading
    p.running("s1"), p.running("s2")
    row = {"id": "x", "file": "x", "status": "graded", "reason": "", "total": 1, "max": 1, "duration_s": 10.0}
    clock.now += 10.0
    p.student(row, cached=False), p.student(row, cached=False)
    assert p.eta_s() == pytest.approx(30.0) and p.eta() == "0:30"
    clock.now += 10.0
    p.student(row, cached=False), p.student(row, cached=False)
    assert p.eta_s() == pytest.approx(20.0)  # 20 s for 4: 5 s each, 4 left
    p.student({**row, "status": "error", "fault": "student"}, cached=True)  # a cached one costs nothing
    assert p.eta_s() == pytest.approx(15.0)


def test_wall_time_per_student_is_measured_and_below_the_batch(graded):
    """Each row's time is its grading's wall time as measured: never more than the whole batch."""
    rows = graded["res"].rows
    timed = [r for r in rows if r["duration_s"]]
    assert len(timed) >= 10
    assert all(0 < r["duration_s"] <= graded["wall"] for r in timed)
    page = (graded["out"] / "index.html").read_text(encoding="utf-8")
    slow = page.split('id="slow-table"')[1].split("</table>")[0]
    import re
    shown = [float(x) for x in re.findall(r'<td class="num">([\d.]+) s</td>', slow)]
    assert shown and max(shown) <= graded["wall"]


def test_one_vocabulary_in_text_html_and_csv(graded):
    """Each student's status is said with the same words in the progress lines, the CSV and
    the overview: not handed in / not started / graded / error (whose)."""
    import re

    rows = read_csv(graded["out"] / "gradebook.csv")
    page = (graded["out"] / "index.html").read_text(encoding="utf-8")
    said = {}
    for line in graded["log"].splitlines():
        m = re.match(r"\[\s*\d+/\d+\] (.+?): [\d.]+/[\d.]+ (.+?) \((?:[\d.]+ s|cached)\)", line)
        if m:
            said[m.group(1)] = m.group(2)
    for r in graded["res"].rows:
        cell = re.search(r'<td class="cut st-[\w-]+" title="([^"]+)"', _overview_row(page, r["file"])).group(1)
        assert rows[r["id"]]["status"] == said[r["id"]] == cell.replace("&#39;", "'"), r["id"]
    assert {v for v in said.values()} >= {"graded", "not handed in", STUDENT_ERROR}
    assert "in progress" not in page and "purple" not in page


def test_failures_grouped_per_stage_and_case_and_scores_banded():
    """The same words failing in two stages are two groups (never merged across stages);
    messages differing only in numbers are one group per case; 0 of 59 is not coloured like 59."""
    from grader.batch.overview import band, failure_stats, stuck_first

    def rep(msg_a: str, msg_b: str) -> Report:
        d = _report(score_a=1.0, b_status="failed")
        d["stages"][0]["cases"][1]["message"] = msg_a
        d["stages"][1]["cases"][0]["message"] = msg_b
        return Report.from_dict(d)

    cols = [_Spec(1, "one", [("a1", 1), ("a2", 1)]), _Spec(2, "two", [("b1", 3)])]
    reports = {"s1": rep("expected 1.0, got 2.0", "expected 1.0, got 2.0"),
               "s2": rep("expected 1.5, got 2.5", "expected 1.0, got 2.0")}
    rows = [{"id": k, "file": k, "status": "graded"} for k in reports]
    groups = {(g["stage"], g["case"]): g for g in failure_stats(rows, reports, cols)}
    assert set(groups) == {(1, "a2"), (2, "b1")}
    assert groups[(1, "a2")]["count"] == 2 and groups[(1, "a2")]["variants"] == 2
    assert groups[(2, "b1")]["count"] == 2 and groups[(2, "b1")]["variants"] == 1
    assert [band(v, 59) for v in (None, 0, 10, 30, 59)] == ["absent", "none", "low", "part", "full"]
    class_rows = [{"id": "zed", "total": 59, "max": 59, "status": "graded"},
                  {"id": "amy", "total": 0, "max": 59, "status": "not started"},
                  {"id": "bob", "total": 0, "max": 59, "status": "not handed in"},
                  {"id": "cid", "total": 20, "max": 59, "status": "error"}]
    assert [r["id"] for r in sorted(class_rows, key=stuck_first)] == ["bob", "amy", "cid", "zed"]
