"""Stage 9, one TinyNet SGD step: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import NET, DECAY, replace_once, hints_of


def test_tinynet_comprehension_in_reference_keeps_full_marks(sub):
    start = "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n"
    text = variant(NET, start, (
        "    params = (W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)\n"
        "    grads = (dW_conv1, db_conv1, dW_conv2, db_conv2, dW_fc, db_fc)\n"
        "    new = [p - learning_rate * (g + weight_decay * p * (i % 2 == 0))"
        " for i, (p, g) in enumerate(zip(params, grads))]\n"
        "    return tuple(new)\n" + start))
    assert failed(grade_stage(sub({NET: text}), "tinynet-sgd")) == set()


def test_tinynet_in_place_update_loses_only_the_unchanged_case(sub):
    wrong = variant(NET, "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n"
                         "    new_b_conv1 = b_conv1 - learning_rate * db_conv1\n",
                    "    W_conv1 -= learning_rate * (dW_conv1 + weight_decay * W_conv1)\n"
                    "    new_W_conv1 = W_conv1\n"
                    "    b_conv1 -= learning_rate * db_conv1\n"
                    "    new_b_conv1 = b_conv1\n")
    sgd = grade_stage(sub({NET: wrong}), "tinynet-sgd")
    assert failed(sgd) == {"arguments-unchanged"}
    unchanged = case(sgd, "arguments-unchanged")
    assert "expected 'none', got 'W_conv1, b_conv1'" in unchanged["message"]
    assert "in place" in unchanged["hint"]
    assert sgd["score"] == sgd["max_score"] - unchanged["max_score"]


def test_tinynet_decayed_biases_lose_only_the_decay_cases(sub):
    wrong = variant(NET, "    new_b_conv1 = b_conv1 - learning_rate * db_conv1\n",
                    "    new_b_conv1 = b_conv1 - learning_rate * (db_conv1 + weight_decay * b_conv1)\n")
    sgd = grade_stage(sub({NET: wrong}), "tinynet-sgd")
    assert failed(sgd) == DECAY
    assert all("biases are decayed" in h for h in hints_of(sgd, DECAY))


def test_tinynet_seed_nine_argument_train_one_iter_loses_only_the_decay_cases(sub):
    # the seed's update, without the weight_decay parameter
    seed = variant(NET, "x, t, learning_rate, weight_decay=0.0):", "x, t, learning_rate):")
    seed = replace_once(seed, "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n",
                        "    new_W_conv1 = W_conv1 - dW_conv1 * learning_rate\n")
    seed = replace_once(seed, "    new_W_conv2 = W_conv2 - learning_rate * (dW_conv2 + weight_decay * W_conv2)\n",
                        "    new_W_conv2 = W_conv2 - dW_conv2 * learning_rate\n")
    seed = replace_once(seed, "    new_W_fc = W_fc - learning_rate * (dW_fc + weight_decay * W_fc)\n",
                        "    new_W_fc = W_fc - dW_fc * learning_rate\n")
    signature, _, code = seed.split("def train_one_iter")[1].split('"""')
    assert "weight_decay" not in signature + code
    sgd = grade_stage(sub({NET: seed}), "tinynet-sgd")
    # an original form (stages.md, section 9): graded on its 9-argument cases for the full total
    assert failed(sgd) == set() and sgd["score"] == sgd["max_score"] == 12
    assert any("weight decay not graded" in n for n in sgd["details"]["notes"])


def test_tinynet_nine_argument_form_with_a_wrong_update_still_loses_points(sub):
    seed = variant(NET, "x, t, learning_rate, weight_decay=0.0):", "x, t, learning_rate):")
    seed = replace_once(seed, "    new_W_fc = W_fc - learning_rate * (dW_fc + weight_decay * W_fc)\n",
                        "    new_W_fc = W_fc + dW_fc * learning_rate\n")
    sgd = grade_stage(sub({NET: seed}), "tinynet-sgd")
    assert any("weight decay not graded" in n for n in sgd["details"]["notes"])
    assert failed(sgd) and sgd["score"] < sgd["max_score"]


def test_tinynet_ignored_weight_decay_is_named(sub):
    wrong = variant(NET, "    new_W_conv1 = W_conv1 - learning_rate * (dW_conv1 + weight_decay * W_conv1)\n",
                    "    new_W_conv1 = W_conv1 - learning_rate * dW_conv1\n")
    sgd = grade_stage(sub({NET: wrong}), "tinynet-sgd")
    assert failed(sgd) == DECAY
    assert "ignores weight_decay" in case(sgd, "sgd-weight-decay")["hint"]
