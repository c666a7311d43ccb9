"""What a student sees first: a fresh template in a few lines, progress counts, a command that
reproduces the run as printed (folder, single file, zip), `grade` with no argument, and
"did you mean" for a mistyped subcommand or stage file."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import zipfile

from conftest import REFERENCE, TEMPLATE, grader_for, make_submission, variant
from grader.report.text import render as render_text
from grader.verdict import Progress
from helpers import MET, body


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd)


def run_printed(command: str, cwd):
    """Run a printed `grade ...` command word for word, as a shell would split it."""
    words = shlex.split(command)
    assert words[0] == "grade", command
    return run_cli(*words[1:], cwd=cwd)


def test_a_fresh_template_prints_one_line_per_stage_plus_the_summary(tmp_path):
    work = tmp_path / "my work"
    shutil.copytree(TEMPLATE, work)
    res = run_cli(str(work), "--seed", "4")
    assert res.returncode == 1, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    stage_lines = [ln for ln in lines if ln.startswith("TODO ")]
    n_stages = len(grader_for().course.stages)
    assert len(stage_lines) == n_stages and all("is still the template (not run)" in ln for ln in stage_lines)
    assert len(lines) <= n_stages + 3, res.stdout  # the stages, then total + counts, the folding note, the seed
    assert f"0 done, 0 in progress, {n_stages} not started" in res.stdout
    expanded = run_cli(str(work), "--seed", "4", "--verbose", "--stage", "1")
    assert "TODO" not in expanded.stdout and expanded.stdout.count("unchanged from the template") >= 5


def test_progress_counts_done_in_progress_and_not_started(tmp_path):
    mae_only = variant(MET, "    RMSE = np.sqrt(error.dot(error) / count)",
                       "    raise NotImplementedError('RMSE')")
    sub = make_submission(tmp_path, {MET: mae_only, "tinynet.py": (TEMPLATE / "tinynet.py").read_text()})
    report = grader_for().grade(sub, ["sigmoid", "mae-rmse", "tinynet-forward"])
    progress = {s.slug: s.progress for s in report.stages}
    assert progress == {"sigmoid": Progress.DONE, "mae-rmse": Progress.IN_PROGRESS,
                        "tinynet-forward": Progress.NOT_STARTED}
    text = render_text(report)
    assert "1 done, 1 in progress, 1 not started" in text
    # a stage partly done is shown case by case, the not-started one on one line
    assert "PASS   mae-small" in text and "not implemented yet" in text
    assert [ln for ln in text.splitlines() if "tinynet-forward" in ln][0].startswith("TODO")
    assert len([ln for ln in text.splitlines() if "tinynet-forward" in ln]) == 1
    assert report.to_dict()["stages"][2]["progress"] == "not_started"


def test_a_failing_stage_is_in_progress_not_folded(tmp_path):
    sub = make_submission(tmp_path, {MET: body("RMSE = 0.0")})
    report = grader_for().grade(sub, ["mae-rmse"])
    assert report.stages[0].progress == Progress.IN_PROGRESS
    assert "TODO" not in render_text(report)


def test_reproduce_commands_work_as_printed_for_a_folder_a_file_and_a_zip(tmp_path):
    folder = make_submission(tmp_path, {MET: body("RMSE = 0.0")})
    single = tmp_path / "my homework.py"
    shutil.copyfile(REFERENCE / "activation.py", single)
    archive = tmp_path / "student (1).zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder / MET, "work/metrics.py")
        zf.write(REFERENCE / "activation.py", "work/activation.py")
    for given, extra in ((folder.name, ("--stage", "5")), (single.name, ("--stage", "sigmoid")),
                         (archive.name, ())):
        first = run_cli(given, *extra, "--format", "json", cwd=tmp_path)
        assert first.returncode in (0, 1), first.stderr
        report = json.loads(first.stdout)
        assert report["submission"] == given
        command = report["reproduce"]
        assert command.startswith(f"grade {shlex.quote(given)} --stage ") and f"--seed {report['seed']}" in command
        again = run_printed(command + " --format json", cwd=tmp_path)
        assert again.returncode == first.returncode, again.stderr
        rerun = json.loads(again.stdout)
        assert [(s["slug"], s["score"]) for s in rerun["stages"]] == [(s["slug"], s["score"]) for s in report["stages"]]
        assert rerun["seed"] == report["seed"]
    text = run_cli(archive.name, cwd=tmp_path)
    printed = text.stdout.strip().splitlines()[-1].split("reproduce with: ", 1)[1]
    assert run_printed(printed, cwd=tmp_path).returncode == text.returncode == 1  # metrics lost points


def test_the_reproduce_command_keeps_the_language(tmp_path):
    """A student who graded in Chinese gets a command that reproduces the same Chinese report."""
    folder = make_submission(tmp_path, {MET: body("RMSE = 0.0")})
    first = run_cli(folder.name, "--stage", "5", "--lang", "zh", "--format", "json", cwd=tmp_path)
    report = json.loads(first.stdout)
    assert report["reproduce"].endswith(" --lang zh")
    again = json.loads(run_printed(report["reproduce"] + " --format json", cwd=tmp_path).stdout)
    assert again["lang"] == "zh" and [s["message"] for s in again["stages"]] == [s["message"] for s in report["stages"]]


def test_a_zip_that_cannot_be_unpacked_is_a_usage_error(tmp_path):
    bad = tmp_path / "work.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.py", "x = 1")
    res = run_cli(str(bad))
    assert res.returncode == 2 and "cannot unpack" in res.stderr and "'..'" in res.stderr
    assert not (tmp_path.parent / "escape.py").exists()


def test_no_argument_grades_the_current_folder(tmp_path):
    sub = make_submission(tmp_path, {}, base=None)
    shutil.copyfile(REFERENCE / "activation.py", sub / "activation.py")
    res = run_cli("--format", "json", cwd=sub)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert [s["slug"] for s in report["stages"]] == ["sigmoid", "tanh", "relu"]
    assert report["reproduce"].startswith("grade . --stage 1-3 --seed ")


def test_a_mistyped_subcommand_gets_did_you_mean(tmp_path):
    for typed, meant in (("inti", "init"), ("stagse", "stages"), ("bacth", "batch")):
        res = run_cli(typed, cwd=tmp_path)
        assert res.returncode == 2 and f"did you mean `grade {meant}`?" in res.stderr, res.stderr
        assert "no such folder" not in res.stderr
    res = run_cli("homework", cwd=tmp_path)  # nothing close: the plain message
    assert res.returncode == 2 and "no such folder" in res.stderr and "did you mean" not in res.stderr
    shutil.copyfile(REFERENCE / "activation.py", tmp_path / "activation.py")
    res = run_cli("activaton.py", cwd=tmp_path)  # a file mistyped on the command line
    assert res.returncode == 2 and "did you mean activation.py?" in res.stderr, res.stderr


def test_a_near_miss_stage_file_gets_did_you_mean(tmp_path):
    for name in ("activation .py", "activations.py", "Activations.py", "activation.py.py"):
        sub = make_submission(tmp_path, {}, base=None)
        shutil.copyfile(REFERENCE / "activation.py", sub / name)
        shutil.copyfile(REFERENCE / MET, sub / MET)
        report = grader_for().grade(sub, ["sigmoid"])
        msg = report.stages[0].message
        assert "activation.py was not found" in msg and f"found {name!r}: did you mean activation.py?" in msg
        assert report.stages[0].progress == Progress.NOT_STARTED
        alone = make_submission(tmp_path, {}, base=None)
        shutil.copyfile(REFERENCE / "activation.py", alone / name)
        res = run_cli(str(alone))  # no stage file at all: the usage error says it too
        assert res.returncode == 2 and "did you mean activation.py?" in res.stderr, res.stderr
    sub = make_submission(tmp_path, {}, base=None)
    shutil.copyfile(REFERENCE / MET, sub / MET)  # another stage's file is never proposed
    (sub / "notes.py").write_text("x = 1\n")
    assert "did you mean" not in grader_for().grade(sub, ["sigmoid"]).stages[0].message


def test_the_html_report_shows_the_inputs_a_call_uses_and_never_a_driver_call(tmp_path):
    from grader.report import html

    wrong = variant("mp_neuron.py", "b = ", "b = 10 + ")
    sub = make_submission(tmp_path, {"mp_neuron.py": wrong})
    report = grader_for().grade(sub, ["tinynet-sgd", "mp-neuron"])
    sgd = {c.name: c.details for c in report.stages[0].cases}
    visible = [n for n, d in sgd.items() if "call" in d]
    assert {"sgd-batch-2", "sgd-weight-decay-batch-2"} <= set(visible)  # one call without it, one with it
    for name in visible:
        call = sgd[name]["call"]
        assert ("weight_decay" in sgd[name]["inputs"]) == ("weight_decay" in call), name
    page = html.render(report, "en")
    assert f"<code>{report.reproduce_command()}</code>" in page and "--stage 4,9 --seed" in page
    assert "driver." not in page and "y from your file, for the four inputs" in page


def test_a_file_whose_functions_are_all_missing_is_not_started(tmp_path):
    sub = make_submission(tmp_path, {MET: "import numpy as np\n"})
    report = grader_for().grade(sub, ["mae-rmse"])
    assert report.stages[0].progress == Progress.NOT_STARTED
    lines = render_text(report).splitlines()
    assert lines[0].startswith("TODO") and "does not define" in lines[0] and not lines[1].strip()
