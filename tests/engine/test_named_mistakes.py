"""Messages that name the real mistake: a misspelt or wrong-case name ("did you mean"), a function
that prints instead of returning, a missing module-level object, a dict compared with a number,
numpy's np.max(0, x); each graded from a file written here, in English and Chinese."""

from __future__ import annotations

import pytest

from conftest import case, failed, grade_stage, variant
from grader.judging.names import called_name, defined_names, near_miss, only_nested
from grader.verdict import Progress, StageResult
from helpers import ACT, ALL_ACT, ES, NET

ES_LINE = "\nearly_stop = EarlyStopping(mode='max', patience=3)"


@pytest.mark.parametrize("old, new, stage, missing", [
    ("def sigmoid", "def sigmiod", "sigmoid", "sigmoid"),
    ("def tanh", "def tahn", "tanh", "tanh"),
    ("def sigmoid", "def Sigmoid", "sigmoid", "sigmoid"),
    ("def ReLU", "def relu", "relu", "ReLU"),
    ("class ActivationFunction", "class ActivationFunctions", "tanh", "ActivationFunction"),
])
def test_a_near_miss_name_is_named_and_scored_as_missing(sub, old, new, stage, missing):
    found = new.split()[-1]
    graded = grade_stage(sub({ACT: variant(ACT, old, new)}), stage)
    assert graded["score"] == 0 and failed(graded) == ALL_ACT - ({"large-magnitudes"} if stage == "relu" else set())
    words = f"does not define {missing!r} but defines {found!r}: did you mean {missing!r}?"
    assert words in graded["message"] and all(words in c["message"] for c in graded["cases"])
    assert graded["progress"] == Progress.IN_PROGRESS.value  # work in progress, not "not started"
    assert "Begin" not in graded["message"]


def test_a_near_miss_in_chinese_and_through_json(sub):
    graded = grade_stage(sub({ACT: variant(ACT, "def sigmoid", "def sigmiod")}), "sigmoid", lang="zh")
    assert "是否应为 'sigmoid'" in graded["message"] and "'sigmiod'" in graded["message"]
    again = StageResult.from_dict(graded)
    assert again.progress == Progress.IN_PROGRESS and again.cases[0].near_miss == "sigmiod"


def test_a_name_really_missing_stays_not_started(sub):
    text = variant(ACT, "def sigmoid", "def _unused_helper")
    graded = grade_stage(sub({ACT: text}), "sigmoid")
    assert graded["progress"] == Progress.NOT_STARTED.value
    assert "does not define 'sigmoid'; check the name and spelling" in graded["message"]


def test_forward_printing_instead_of_returning_is_named(sub):
    text = variant(NET, "        return x, loss", "        print(x, loss)")
    graded = grade_stage(sub({NET: text}), "tinynet-forward")
    assert graded["score"] == 0
    for c in graded["cases"]:
        assert "forward printed its result and returned None" in c["message"], c
        assert "returned 1 values" not in c["message"]
    zh = grade_stage(sub({NET: text}), "tinynet-forward", lang="zh")
    assert "forward 打印了结果并返回了 None" in zh["cases"][0]["message"]


def test_returning_none_without_printing_is_not_called_printing(sub):
    text = variant(NET, "        return x, loss", "        pass")
    graded = grade_stage(sub({NET: text}), "tinynet-forward")
    assert not any("printed" in c["message"] for c in graded["cases"])


def test_no_module_level_early_stop_says_what_is_missing(sub):
    graded = grade_stage(sub({ES: variant(ES, ES_LINE, "\n")}), "early-stopping")
    assert failed(graded) == {"module-early-stop"}
    msg = case(graded, "module-early-stop")["message"]
    assert "does not define 'early_stop'" in msg and "Begin" not in msg


def test_early_stop_only_under_main_is_told_to_move_to_the_top_level(sub):
    text = variant(ES, ES_LINE, "\nif __name__ == '__main__':\n    early_stop = EarlyStopping(mode='max', patience=3)")
    graded = grade_stage(sub({ES: text}), "early-stopping")
    assert failed(graded) == {"module-early-stop"}
    msg = case(graded, "module-early-stop")["message"]
    assert "only inside a function or under `if __name__ == '__main__':`" in msg and "top level" in msg


def test_a_call_that_compares_the_dict_names_the_dict_not_init_defaults(sub):
    text = variant(ES, "        if isinstance(metrics, dict):\n            metrics = metrics[self.monitor]\n", "")
    graded = grade_stage(sub({ES: text}), "early-stopping")
    assert failed(graded) == {"dict-metrics", "defaults"}
    for name in ("dict-metrics", "defaults"):
        hint = case(graded, name)["hint"]
        assert "compared the whole dict" in hint and "__init__" not in hint, hint


def test_np_max_with_two_arguments_is_named_as_numpys_reduction(sub):
    text = variant(ACT, "        y = np.where(x > 0, x, 0.0)", "        y = np.max(0, x)")
    graded = grade_stage(sub({ACT: text}), "relu")
    assert graded["score"] == 0
    hints = {c["hint"] for c in graded["cases"]}
    assert len(hints) == 1 and "axis" in hints.pop()
    assert not any("built-in max" in (c["hint"] or "") for c in graded["cases"])
    right = variant(ACT, "        y = np.where(x > 0, x, 0.0)", "        y = np.maximum(0, x)")
    assert grade_stage(sub({ACT: right}), "relu")["status"] == "passed"


# -- the pure parts ------------------------------------------------------------------------

def test_defined_names_reads_classes_methods_and_top_level_only():
    src = "class A:\n    def f(self): pass\nx = 1\nif True:\n    y = 2\ndef g():\n    z = 3\n" \
          "if __name__ == '__main__':\n    w = 4\n"
    names = defined_names(src)
    assert names.top == {"A", "f", "x", "y", "g"} and names.nested == {"z", "w"}
    assert only_nested("w", src) and not only_nested("x", src)


def test_near_miss_prefers_case_then_spelling_and_never_an_expected_name():
    src = "class EarlyStopping: pass\ndef sigmiod(x): pass\ndef SIGMOID(x): pass\n"
    assert near_miss("sigmoid", src) == "SIGMOID"
    assert near_miss("early_stop", src, exclude=frozenset({"EarlyStopping"})) is None
    assert near_miss("tanh", src) is None
    assert near_miss("x", "def (:") is None and near_miss("x", None) is None


def test_called_name_is_the_last_call_never_the_driver():
    assert called_name("TinyNet(W, b).forward(x, t)") == "forward"
    assert called_name("grad(x)") == "grad"
    assert called_name("driver.decisions(EarlyStopping, values)") is None


def test_not_implemented_without_markers_does_not_mention_them(sub):
    text = variant(ACT, "        y = np.tanh(x)", "        raise NotImplementedError")
    graded = grade_stage(sub({ACT: text.replace("Begin", "").replace("End", "")}), "tanh")
    msg = case(graded, "small-vector")["message"]
    assert "raises NotImplementedError" in msg and "Begin" not in msg
    assert "Begin and End" in case(grade_stage(sub({ACT: text}), "tanh"), "small-vector")["message"]
