"""Every stage: the reference keeps every point, the template scores 0, its files are the reference with blanks."""

from __future__ import annotations

import pytest

from conftest import TEMPLATE, failed, grade_stage
from helpers import SD, NET, IDX, DIG, STAGES, L2, ES, DS, ALL_10, ALL_11, ALL_12, blank_blocks


def test_reference_full_marks_and_template_zero_stages_1_to_5(sub):
    ref = sub({})
    tpl = sub({}, base=TEMPLATE)
    for stage in ("sigmoid", "tanh", "relu", "mp-neuron", "mae-rmse"):
        good = grade_stage(ref, stage)
        assert good["status"] == "passed" and good["score"] == good["max_score"] > 0, good
        bad = grade_stage(tpl, stage)
        assert bad["score"] == 0, bad
        assert all(c["status"] != "passed" for c in bad["cases"])


def test_reference_full_marks_and_template_zero_stages_6_to_9_13_14(sub):
    ref = sub({})
    tpl = sub({}, base=TEMPLATE)
    for slug, names in STAGES.items():
        good = grade_stage(ref, slug)
        assert good["status"] == "passed" and good["score"] == good["max_score"] > 0, good
        assert {c["name"] for c in good["cases"]} == names
        bad = grade_stage(tpl, slug, run_templates=True)  # the template run for real: what each blank says
        assert bad["score"] == 0, bad
        assert failed(bad) == names
        assert all("not implemented yet" in c["message"] for c in bad["cases"]), bad


def test_reference_full_marks_and_template_zero_stages_10_to_12(sub):
    ref = sub({})
    tpl = sub({}, base=TEMPLATE)
    stages = [("early-stopping", ALL_11), ("data-split", ALL_12)]
    try:
        import torch  # noqa: F401
        stages.insert(0, ("l2-regularization", ALL_10))
    except ImportError:
        pass
    for slug, names in stages:
        good = grade_stage(ref, slug)
        assert good["status"] == "passed" and good["score"] == good["max_score"] > 0, good
        assert {c["name"] for c in good["cases"]} == names
        bad = grade_stage(tpl, slug, run_templates=True)  # the template run for real: what each blank says
        assert bad["score"] == 0 and failed(bad) == names, bad
        for c in bad["cases"]:
            # every blank says so; early_stop = None in the template is reported by the driver
            assert "not implemented yet" in c["message"] or "early_stop is not defined" in c["message"], c


@pytest.mark.parametrize("name", [SD, NET, IDX, DIG])
def test_template_is_the_reference_with_blocks_left_open(name):
    ref_text = (TEMPLATE.parent / "reference" / name).read_text(encoding="utf-8")
    tpl_text = (TEMPLATE / name).read_text(encoding="utf-8")
    ref_rest, ref_bodies = blank_blocks(ref_text)
    tpl_rest, tpl_bodies = blank_blocks(tpl_text)
    assert ref_rest == tpl_rest
    assert len(ref_bodies) == len(tpl_bodies) >= 1
    for body in tpl_bodies:
        assert body.strip().startswith('raise NotImplementedError("') and body.count("\n") == 0


def test_templates_keep_everything_outside_the_blanks():
    """The template files are the reference with only the Begin/End blanks replaced."""
    for name in (L2, ES, DS):
        ref = (TEMPLATE.parent / "reference" / name).read_text(encoding="utf-8")
        tpl = (TEMPLATE / name).read_text(encoding="utf-8")
        assert ref.count("Begin **********") == tpl.count("Begin **********") > 0
        outside = [line for line in ref.splitlines() if line in tpl.splitlines()]
        assert len(outside) > 10
    es = (TEMPLATE / ES).read_text(encoding="utf-8")
    assert "\nearly_stop = None\n" in es and "raise NotImplementedError" in es


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seeds_keep_reference_full_marks(sub, seed):
    ref = sub({})
    for slug in STAGES:
        stage = grade_stage(ref, slug, seed=seed)
        assert failed(stage) == set(), stage
