"""Shared helpers: build submissions from the reference workspace and grade them.

One Grader per seed is shared by the whole test session, so the reference runs once per
stage and every grading reuses the warm fork servers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

import pytest

from grader.engine import Grader

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"

_graders: dict[int, Grader] = {}


def grader_for(seed: int = 12345, lang: str = "en", run_templates: bool = False) -> Grader:
    """A session Grader shared by the tests; `run_templates`: an unchanged template file is run
    (its own messages), not called "not started" without a run."""
    key = (seed, lang, run_templates)
    if key not in _graders:
        _graders[key] = Grader(seed=seed, lang=lang, workers=2)
        _graders[key].trust_templates = not run_templates
    return _graders[key]


def pytest_sessionstart(session):
    """In CI (GRADE_REQUIRE_SANDBOX=1, set by .ci/run) the attack tests must run, never skip."""
    if os.environ.get("GRADE_REQUIRE_SANDBOX"):
        from grader.sandbox import isolation

        ok, why = isolation.isolation()
        if not ok:
            pytest.exit(f"GRADE_REQUIRE_SANDBOX is set but no sandbox can be built here: {why}", returncode=1)


def pytest_sessionfinish(session, exitstatus):
    for g in _graders.values():
        g.close()
    _graders.clear()


def make_submission(tmp_path: Path, files: dict[str, str], base: Optional[Path] = REFERENCE) -> Path:
    """A workspace seeded from `base` (reference/ by default) with `files` replaced or added."""
    n = 0
    while (tmp_path / f"submission{n or ''}").exists():
        n += 1
    sub = tmp_path / f"submission{n or ''}"
    if base is not None:
        shutil.copytree(base, sub, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        sub.mkdir()
    for name, text in files.items():
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        (sub / name).write_text(text, encoding="utf-8")
    return sub


def variant(filename: str, old: str, new: str, count: int = 1) -> str:
    """The reference file's text with `old` replaced by `new` (which must be present)."""
    text = (REFERENCE / filename).read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in reference/{filename}"
    return text.replace(old, new, count)


def grade_stage(submission: Path, stage, seed: int = 12345, lang: str = "en", run_templates: bool = False) -> dict:
    """The stage entry of the report (with details), graded with a shared session Grader."""
    report = grader_for(seed, lang, run_templates).grade(submission, [stage])
    return report.to_dict(details=True)["stages"][0]


def failed(stage: dict) -> set[str]:
    return {c["name"] for c in stage["cases"] if c["status"] != "passed"}


def case(stage: dict, name: str) -> dict:
    for c in stage["cases"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


@pytest.fixture
def sub(tmp_path):
    """sub({"metrics.py": text}) -> submission folder."""
    return lambda files, base=REFERENCE: make_submission(tmp_path, files, base)


@pytest.fixture(scope="module")
def stage5_course(tmp_path_factory):
    """A course copy with stage 5 alone (5 s, 300 MB): what the attack tests aim at, one per module."""
    return make_course(tmp_path_factory.mktemp("course"), time_s=5, memory_mb=300)


def make_course(root: Path, stage_files=("05_mae_rmse.yaml",), **limits) -> Path:
    """A small course: the given stage specs (with `limits` overridden) and the reference."""
    import yaml

    (root / "stages").mkdir(parents=True)
    for name in stage_files:
        spec = yaml.safe_load((ROOT / "stages" / name).read_text(encoding="utf-8"))
        if limits:
            spec["limits"] = {**spec.get("limits", {}), **limits}
        (root / "stages" / name).write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    for sub in ("drivers", "support"):
        if (ROOT / "stages" / sub).is_dir():
            shutil.copytree(ROOT / "stages" / sub, root / "stages" / sub)
    shutil.copytree(REFERENCE, root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def load_module(name: str, path: Path):
    """Import a course file (reference, driver, support) under its own module name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
