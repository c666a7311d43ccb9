"""The course's own accepted answers (seed 002's worked answers) earn every point the stage book
does not take away: 151 of 159, the 8 lost points each with the message naming that mistake."""

from __future__ import annotations

import pytest

from conftest import ROOT, grader_for

SEED = ROOT / "tests" / "fixtures" / "seed002"
STAGES = ["sigmoid", "tanh", "relu", "mp-neuron", "mae-rmse", "steepest-descent", "tinynet-forward",
          "tinynet-backward", "tinynet-sgd", "l2-regularization", "early-stopping", "data-split",
          "mnist-idx", "digits-forward"]
# the only cases the stage book says these answers fail, with a word their hint must hold
LOSES = {"tanh": {"large-magnitudes": "inf/inf"},
         "mae-rmse": {"rmse-small": "sqrt(sum of squares) / n", "random-rmse": "sqrt(sum of squares) / n",
                      "integer-ratings": "sqrt(sum of squares) / n"},
         "early-stopping": {"reset": "reset()"}}


@pytest.fixture(scope="module")
def graded():
    pytest.importorskip("torch")
    g = grader_for(seed=2024)
    return {slug: g.grade(SEED / f"{n:02d}", [slug]).to_dict()["stages"][0] for n, slug in enumerate(STAGES, 1)}


@pytest.mark.parametrize("slug", STAGES)
def test_each_seed_answer_loses_only_what_the_book_names(graded, slug):
    stage = graded[slug]
    lost = {c["name"]: c for c in stage["cases"] if c["status"] != "passed"}
    assert set(lost) == set(LOSES.get(slug, {})), {n: c["message"] for n, c in lost.items()}
    for name, words in LOSES.get(slug, {}).items():
        assert words in (lost[name].get("hint") or "") + lost[name]["message"], lost[name]


def test_the_seed_answers_score_151_of_159(graded):
    assert sum(s["max_score"] for s in graded.values()) == 159
    assert sum(s["score"] for s in graded.values()) == 151
