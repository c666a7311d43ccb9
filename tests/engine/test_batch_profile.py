"""`grade batch --profile`: where the CPU went, in parts that add up, and the students' runs by stage.

The structure is tested, not the timings: one row per stage graded, with its file, its runs
(each student's run of it counted once), CPU-seconds that sum to the students' runs, mean and
max wall time per run; a run killed at its limit keeps its CPU; with cgroups the parts add up
to the total (the total used to miss the sandboxes killed before they ended)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.batch import cli, run_batch  # noqa: E402
from grader.course.folder import load_course  # noqa: E402
from grader.sandbox import isolation  # noqa: E402
from grader.sandbox.job import DEMOTE_CPU_S  # noqa: E402
from test_batch import TEST_TIME_LIMIT_S, make_class, make_test_course  # noqa: E402

sandboxed = pytest.mark.skipif(not isolation.isolation()[0], reason=isolation.isolation()[1])
PARTS = ("grader_cpu_s", "runs_cpu_s", "reference_cpu_s", "zygote_imports_cpu_s", "sandboxes_cpu_s")


def _cgroups_count_cpu() -> bool:
    """Whether this machine lets the grader count a sandbox's CPU by its cgroup (as the Sandbox does)."""
    group = isolation.Cgroup(8)
    try:
        return group.cpu_s() is not None
    finally:
        group.remove()


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """A class of two graded on stages 1-4: alice right, frank looping at the import of mp_neuron.py."""
    tmp = tmp_path_factory.mktemp("profile")
    course = make_test_course(tmp / "course", numbers=(1, 2, 3, 4))
    class_dir = make_class(tmp / "class", {"alice": "correct", "frank": "hang"},
                           files=("activation.py", "mp_neuron.py"))
    res = run_batch(class_dir, tmp / "out", course_dir=course, jobs=2, seed=5, quiet=True)
    return res, load_course(course)


@sandboxed
def test_the_students_runs_are_counted_by_stage(profiled):
    res, course = profiled
    p = res.profile
    stages = p["stages"]
    assert set(stages) == {s.slug for s in course.stages}
    for spec in course.stages:
        row = stages[spec.slug]
        assert row["file"] == spec.file
        assert row["runs"] == 2, (spec.slug, row)  # alice's run and frank's (his import of activation.py works)
        assert row["max_ms"] >= row["mean_ms"] > 0 and row["cpu_s"] >= 0
    assert sum(r["runs"] for r in stages.values()) == p["runs"] == 8
    assert sum(r["cpu_s"] for r in stages.values()) == pytest.approx(p["runs_cpu_s"])
    # frank's endless import ran until its CPU limit: that CPU is the students' runs', not lost;
    # it stepped aside on the way where the limit leaves room for it (grader/sandbox/runs.py)
    loop = stages[next(s.slug for s in course.stages if s.file == "mp_neuron.py")]
    aside = int(TEST_TIME_LIMIT_S >= 2 * DEMOTE_CPU_S)
    assert [r["stepped_aside"] for r in stages.values() if r is not loop] == [0] * 3
    assert loop["stepped_aside"] == aside == p["stepped_aside"]
    assert loop["cpu_s"] >= 0.5 * TEST_TIME_LIMIT_S
    assert loop["max_ms"] >= 1000 * 0.5 * TEST_TIME_LIMIT_S


@sandboxed
def test_the_parts_add_up_to_the_total_where_cgroups_count_the_sandboxes(profiled):
    p = profiled[0].profile
    assert all(p[k] >= 0 for k in PARTS)
    if _cgroups_count_cpu():
        assert p["counted_by"] == "cgroups"
        assert p["total_cpu_s"] == pytest.approx(sum(p[k] for k in PARTS), abs=0.01)
        assert p["sandboxes"] == p["sandboxes_counted"] > 0
    else:  # the kernel's children accounting: said so on the line, since a part may exceed the total
        assert p["counted_by"] == "rusage"


@sandboxed
@pytest.mark.parametrize("lang, words", [("en", ("runs", "CPU-s", "stepped aside", "mean", "max")),
                                         ("zh", ("次运行", "CPU 秒", "降为空闲优先级", "平均", "最长"))])
def test_the_profile_prints_one_line_per_stage_most_cpu_first(profiled, capsys, lang, words):
    res, course = profiled
    cli._profile(res, lang)
    lines = capsys.readouterr().err.splitlines()
    header = cli.t(lang, "batch.profile_stages")
    assert header in lines
    rows = lines[lines.index(header) + 1:]
    assert len(rows) == len(course.stages)
    order = sorted(res.profile["stages"], key=lambda slug: -res.profile["stages"][slug]["cpu_s"])
    assert [row.split()[0].split("(")[0] for row in rows] == order
    for row in rows:
        assert all(w in row for w in words), row
    counted = "batch.profile_cgroups" if res.profile["counted_by"] == "cgroups" else "batch.profile_rusage"
    assert cli.t(lang, counted) in lines[0]
