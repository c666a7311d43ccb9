"""Driver for stage 12 (data-split): call train_test_split and measure what it did.

Properties (a partition, the training size, the caller's list unchanged) are
computed here, in the submission's process, and compared with the same
properties of the reference's split.  ``seed_order`` is a grader-side check for
the exact-agreement cases: it explains why a split that differs from the
reference's is wrong.
"""
import copy
import math
import random


def _items(values):
    """Spec inputs (numpy arrays or lists) as a plain list of Python items."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    return list(values)


def _split(fn, dataset, train=None):
    result = fn(dataset) if train is None else fn(dataset, float(train))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"train_test_split returned {type(result).__name__}, expected (train_basket, test)")
    return list(result[0]), list(result[1])


def _key(item):
    return repr(item)


def _same_items(parts, dataset):
    return sorted(_key(x) for part in parts for x in part) == sorted(_key(x) for x in dataset)


def partition(fn, dataset, train, s):
    """True when train + test hold exactly the dataset's items (nothing lost, nothing duplicated)."""
    dataset = _items(dataset)
    random.seed(int(s))
    tr, te = _split(fn, list(dataset), train)
    return _same_items((tr, te), dataset)


def train_size(fn, dataset, train, s):
    """The number of training items."""
    random.seed(int(s))
    tr, _ = _split(fn, _items(dataset), train)
    return len(tr)


def caller_unchanged(fn, dataset, train, s):
    """True when the caller's list holds the same items in the same order after the call.

    Only the caller's list is looked at (what the function returns is other cases'
    business), so this case fails for that reason alone and its hint is about it.
    """
    data = _items(dataset)
    before = copy.deepcopy(data)
    random.seed(int(s))
    fn(data, float(train))
    return data == before


def seeded(fn, dataset, train, s):
    """(train_basket, test) after random.seed(s), as lists."""
    random.seed(int(s))
    return _split(fn, _items(dataset), train)


def default_sizes(fn, n, s):
    """(len(train), len(test)) when train_test_split is called without a ratio."""
    random.seed(int(s))
    tr, te = _split(fn, list(range(int(n))))
    return len(tr), len(te)


MIXED = [[1, 2], (3, 4), "five", 6, 7.5, [8], ("nine",), "ten", [11, [12]], (13,), None, {"k": 14}]


def item_types(fn, s):
    """(a partition, every item kept with its type) on a dataset of lists, tuples, strings, numbers."""
    random.seed(int(s))
    dataset = copy.deepcopy(MIXED)
    tr, te = _split(fn, dataset, 0.6)
    kept = all(any(type(x) is type(y) and x == y for y in MIXED) for x in tr + te)
    return _same_items((tr, te), MIXED), kept


# --- grader-side check -----------------------------------------------------------

def _plain(value):
    """Normalised values back to plain Python (numpy arrays and scalars to lists and numbers)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_MESSAGES = {
    "pair": ("expected the pair (train_basket, test)", "应返回二元组 (train_basket, test)"),
    # said in hidden cases too: the expected size is not in the words
    "size": ("the training list has {got} items, which is not ceil(train * n), the size the template's "
             "loop gives by drawing while the training list is smaller than train * len(dataset)",
             "训练集有 {got} 个样本,不等于 ceil(train * n):模板中的循环在训练集少于 "
             "train * len(dataset) 时继续抽取,得到的正是这个大小"),
    "partition": ("train + test is not the dataset: every item must end up in exactly one of the two lists",
                  "train + test 不等于原数据集:每个样本必须恰好出现在其中一个列表中"),
    "order": ("your split is a valid partition but not the seeded draws of the exercise: each index must "
              "come from randrange over the remaining copy, and the item must be moved with pop (any other "
              "way of shuffling uses the random numbers differently)",
              "你的划分是有效的划分,但与本关在固定随机种子下的抽取结果不同:每个下标都应由 randrange "
              "在剩余的副本中抽取,再用 pop 移动该样本(其他打乱方式对随机数的使用不同)"),
}


def seed_order(got, expected, inputs, lang="en"):
    """Exact agreement with the reference's split; otherwise say what differs."""
    def say(key, **kw):
        en, zh = _MESSAGES[key]
        return (zh if lang == "zh" else en).format(**kw)

    got, expected = _plain(got), _plain(expected)
    if got == expected:
        return None
    if not (isinstance(got, list) and len(got) == 2):
        return say("pair")
    (tr, te), (etr, ete) = got, expected
    if len(tr) != len(etr):
        return say("size", got=len(tr))
    if sorted(map(repr, tr + te)) != sorted(map(repr, etr + ete)):
        return say("partition")
    return say("order")
