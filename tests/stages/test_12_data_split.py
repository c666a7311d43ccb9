"""Stage 12, the data split: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import DS, ALL_12


SHUFFLE_SPLIT = '''
import math
import random


def train_test_split(dataset, train=0.6):
    data = list(dataset)
    random.shuffle(data)
    k = math.ceil(train * len(data))
    return data[:k], data[k:]
'''


SLICE_COPY = '''
import random


def train_test_split(dataset, train=0.6):
    rest = dataset[:]
    basket = []
    while len(basket) < train * len(dataset):
        basket.append(rest.pop(random.randrange(len(rest))))
    return basket, rest
'''


def test_data_split_right_but_different_keeps_full_marks(sub):
    assert failed(grade_stage(sub({DS: SLICE_COPY}), "data-split")) == set()


def test_data_split_shuffle_keeps_the_partition_points(sub):
    stage = grade_stage(sub({DS: SHUFFLE_SPLIT}), "data-split")
    assert failed(stage) == {"seed-example", "seed-agreement"}
    for name in ("seed-example", "seed-agreement"):
        assert "valid partition but not the seeded draws" in case(stage, name)["message"]
        assert "randrange" in case(stage, name)["hint"]


def test_data_split_emptying_the_callers_list(sub):
    wrong = variant(DS, "dataset_copy = list(dataset)", "dataset_copy = dataset")
    stage = grade_stage(sub({DS: wrong}), "data-split")
    assert failed(stage) == {"caller-unchanged"}
    assert "copy" in case(stage, "caller-unchanged")["hint"]


def test_data_split_int_instead_of_ceil(sub):
    wrong = variant(DS, "train_size = train * len(dataset)", "train_size = int(train * len(dataset))")
    stage = grade_stage(sub({DS: wrong}), "data-split")
    # the seed's example (0.8 * 10) and the default-ratio sizes (0.6 * multiples of 5) are whole numbers
    assert failed(stage) == {"train-size", "seed-agreement"}
    assert "ceil" in case(stage, "train-size")["hint"] and "int()" in case(stage, "train-size")["hint"]
    assert "ceil(train * n)" in case(stage, "seed-agreement")["message"]


def test_data_split_wrong_default_and_numpy_items(sub):
    wrong = variant(DS, "def train_test_split(dataset, train=0.6):", "def train_test_split(dataset, train=0.8):")
    stage = grade_stage(sub({DS: wrong}), "data-split")
    assert failed(stage) == {"default-ratio"}
    assert "0.6" in case(stage, "default-ratio")["hint"]
    numpy = variant(DS, "dataset_copy = list(dataset)", "import numpy as np\n    dataset_copy = list(np.array(dataset))")
    stage = grade_stage(sub({DS: numpy}), "data-split")
    # rows come back as arrays, and a mixed dataset cannot become an array at all
    assert failed(stage) == {"partition", "item-types"}
    assert "numpy" in case(stage, "item-types")["hint"]


def test_data_split_hard_coded_example_fails_hidden_cases(sub):
    hard = '''
def train_test_split(dataset, train=0.6):
    return [[8], [7], [9], [3], [6], [1], [5], [2]], [[4], [10]]
'''
    stage = grade_stage(sub({DS: hard}), "data-split")
    # the visible example passes; every case on other data fails
    assert failed(stage) == ALL_12 - {"seed-example", "caller-unchanged"}
