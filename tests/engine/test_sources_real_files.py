"""Files as students really hand them in: encodings, line endings, names, return kinds, known mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REFERENCE, case, failed, grade_stage, make_submission, variant
from grader.sources import decode_source, find_source, prepare_sources, read_source

ACTIVATION = (REFERENCE / "activation.py").read_text(encoding="utf-8")
GBK_COMMENT = "# 激活函数:按元素计算\n"


def _raw_submission(tmp_path: Path, name: str, data: bytes) -> Path:
    sub = make_submission(tmp_path, {}, base=None)
    (sub / name).write_bytes(data)
    return sub


# -- encodings and line endings ---------------------------------------------------------------------

def test_decode_bom_crlf_gbk_and_garbage():
    assert decode_source("\ufeffx = 1\r\ny = 2\r\n".encode("utf-8"), "a.py") == ("x = 1\ny = 2\n", [])
    text, notes = decode_source(GBK_COMMENT.encode("gbk"), "a.py")
    assert text == GBK_COMMENT and [n.key for n in notes] == ["note_gbk"]
    text, notes = decode_source("x = 1  # 注释\r\n".encode("utf-16"), "a.py")
    assert text == "x = 1  # 注释\n" and [n.key for n in notes] == ["note_utf16"]
    text, notes = decode_source(b"x = 1  # \x81\x30\xff\xfe\n", "a.py")  # neither UTF-8 nor GB18030
    assert text.startswith("x = 1") and [n.key for n in notes] == ["note_undecodable"]


@pytest.mark.parametrize("encode", [
    lambda s: ("\ufeff" + s).encode("utf-8"),                 # UTF-8 with a BOM (Notepad)
    lambda s: s.replace("\n", "\r\n").encode("utf-8"),       # CRLF (Windows)
    lambda s: ("\ufeff" + s).replace("\n", "\r\n").encode("utf-8"),
    lambda s: (GBK_COMMENT + s).replace("\n", "\r\n").encode("gbk"),  # GBK Chinese comments + CRLF
], ids=["bom", "crlf", "bom-crlf", "gbk-crlf"])
def test_saved_encodings_grade_full(tmp_path, encode):
    sub = _raw_submission(tmp_path, "activation.py", encode(ACTIVATION))
    result = grade_stage(sub, 1)
    assert result["score"] == result["max_score"], result
    assert (sub / "activation.py").read_bytes() == encode(ACTIVATION)  # the student's folder is never rewritten


def test_gbk_file_is_graded_with_a_note(tmp_path):
    sub = _raw_submission(tmp_path, "activation.py", (GBK_COMMENT + ACTIVATION).encode("gbk"))
    result = grade_stage(sub, 2)
    assert result["score"] == result["max_score"]
    assert any("GBK" in n for n in result["details"]["notes"])


def test_wrong_gbk_file_still_fails_on_the_function_not_on_decoding(tmp_path):
    wrong = ACTIVATION.replace("y = np.tanh(x)", "y = np.sinh(x)")
    sub = _raw_submission(tmp_path, "activation.py", (GBK_COMMENT + wrong).encode("gbk"))
    result = grade_stage(sub, 2)
    assert result["status"] == "failed" and result["score"] < result["max_score"]


def test_prepare_rewrites_the_copy_as_utf8(tmp_path):
    sub = _raw_submission(tmp_path, "activation.py", (GBK_COMMENT + ACTIVATION).replace("\n", "\r\n").encode("gbk"))
    notes = prepare_sources(sub, {"activation.py"})
    assert [n.key for n in notes] == ["note_gbk"]
    assert (sub / "activation.py").read_text(encoding="utf-8") == GBK_COMMENT + ACTIVATION


# -- names ----------------------------------------------------------------------------------------

def test_wrong_case_name_is_found_and_noted(tmp_path):
    sub = make_submission(tmp_path, {"Activation.py": ACTIVATION}, base=None)
    assert find_source(sub, "activation.py") == sub / "Activation.py"
    note = read_source(sub, "activation.py").notes[0].text("en")
    assert note.startswith("found Activation.py; expected activation.py")
    result = grade_stage(sub, 3)
    assert result["score"] == result["max_score"]
    assert any("expected activation.py" in n for n in result["details"]["notes"])


def test_wrong_case_with_a_wrong_function_fails_with_the_note(tmp_path):
    sub = make_submission(tmp_path, {"ACTIVATION.PY": ACTIVATION.replace("np.where(x > 0, x, 0.0)", "x")},
                          base=None)
    result = grade_stage(sub, 3)
    assert result["status"] == "failed"
    assert any("found ACTIVATION.PY; expected activation.py" in n for n in result["details"]["notes"])


def test_an_unrelated_name_is_still_missing(tmp_path):
    sub = make_submission(tmp_path, {"activation_v2.py": ACTIVATION}, base=None)
    result = grade_stage(sub, 1)
    assert result["status"] == "error" and "activation.py was not found" in result["message"]


# -- kinds of returned values -----------------------------------------------------------------------

def test_tuple_return_is_named_and_fails(sub):
    s = sub({"activation.py": variant("activation.py", "        return y\n", "        return y, y.shape\n")})
    result = grade_stage(s, 1)
    c = case(result, "small-vector")
    assert c["status"] == "failed"
    assert "returned a tuple of 2 items (ndarray, tuple); return only the array" in c["message"], c["message"]
    assert not c["hint"]  # the formula is not the problem: no hint about it


def test_none_return_is_named(sub):
    s = sub({"activation.py": variant("activation.py", "        return y\n", "        print(y)\n")})
    c = case(grade_stage(s, 1), "small-vector")
    assert c["status"] == "failed" and c["message"].startswith("sigmoid printed its result and returned None"), \
        c["message"]
    quiet = sub({"activation.py": variant("activation.py", "        return y\n", "        pass\n")})
    assert case(grade_stage(quiet, 1), "small-vector")["message"].startswith("returned None")


def test_list_return_with_right_numbers_passes_and_wrong_numbers_say_list(sub):
    right = sub({"activation.py": variant("activation.py", "        return y\n", "        return y.tolist()\n")})
    result = grade_stage(right, 1)
    assert case(result, "small-vector")["status"] == "passed"
    wrong = sub({"activation.py": variant("activation.py", "        return y\n",
                                          "        return (y + 1).tolist()\n")})
    c = case(grade_stage(wrong, 1), "small-vector")
    assert c["status"] == "failed"
    assert "Mismatched elements" in c["message"] and "where an ndarray is expected" in c["message"]


def test_driver_refusal_is_not_shown_as_the_students_exception(sub):
    text = variant("l2_regularization.py", "    return lam * penalty\n", "    return lam * penalty * torch.ones(3)\n")
    pytest.importorskip("torch")
    result = grade_stage(sub({"l2_regularization.py": text}), 10)
    c = case(result, "l2-penalty-value")
    assert c["status"] == "error"
    assert c["message"].startswith("not what the stage needs: l2_penalty returned a tensor of shape (3,)")
    assert "raised" not in c["message"]


# -- known mistakes and advice ----------------------------------------------------------------------

SCALAR_IF = "def f(x):\n    if x > 0:\n        return 1\n    else:\n        return 0\n"


def test_scalar_if_step_function_gets_the_elementwise_hint_and_no_move_advice(sub):
    text = variant("mp_neuron.py", "def f(x):\n    ########## Begin ##########\n    return np.where(x > 0, 1, 0)\n",
                   SCALAR_IF + "    ########## Begin ##########\n")
    result = grade_stage(sub({"mp_neuron.py": text}), 4)
    assert result["status"] == "error" and result["score"] == 0
    msg, hint = result["message"], result["hint"]
    assert "truth value of an array" in msg
    assert "__main__" not in msg  # y must be computed at the top: never "move it"
    assert "receives the whole array" in hint and "elementwise" in hint  # the hint, labelled, not in the message
    assert "receives the whole array" not in msg
    assert "np.where" not in msg + hint  # names the concept, not the code


def test_step_function_right_but_different_passes(sub):
    text = variant("mp_neuron.py", "    return np.where(x > 0, 1, 0)\n", "    return (x > 0).astype(int)\n")
    result = grade_stage(sub({"mp_neuron.py": text}), 4)
    assert result["score"] == result["max_score"], result


def test_nonzero_count_mae_and_rmse_get_their_hint(sub):
    text = variant("metrics.py", "    MAE = np.sum(error) / count\n",
                   "    MAE = np.sum(error) / len(error.nonzero()[0])\n")
    text = text.replace("    RMSE = np.sqrt(error.dot(error) / count)\n",
                        "    RMSE = np.sqrt(error.dot(error) / len(error.nonzero()[0]))\n")
    result = grade_stage(sub({"metrics.py": text}), 5)
    for name in ("mae-small", "rmse-small"):
        c = case(result, name)
        assert c["status"] == "failed" and "nonzero errors" in c["hint"], c
    assert case(result, "random-mae")["status"] == "passed"  # no ties among random floats: nothing to see there


def test_import_line_failure_is_not_told_to_move(sub):
    text = "import numpy as np\nimport this_package_does_not_exist_anywhere\n" + ACTIVATION
    result = grade_stage(sub({"activation.py": text}), 1)
    assert result["status"] == "error" and "__main__" not in result["message"]
    from grader.judging.advice import import_advice, is_import_line
    src = "import numpy as np\nfrom os import (path,\n    sep)\nx = 1 / 0\n"
    assert is_import_line(src, 1) and is_import_line(src, 3) and not is_import_line(src, 4)
    refused = {"type": "RuntimeError", "message": "loading native code with ctypes is not allowed", "line": 1}
    assert import_advice(refused, src, False, "en") == ""
    assert "__main__" in import_advice({"type": "ZeroDivisionError", "message": "", "line": 4}, src, False, "en")
    assert import_advice({"type": "ZeroDivisionError", "message": "", "line": 4}, src, True, "en") == ""


def test_top_level_crash_elsewhere_is_told_to_move(sub):
    text = ACTIVATION + "\nprint(ActivationFunction().sigmoid([1, 2]) / 0 + undefined_name)\n"
    result = grade_stage(sub({"activation.py": text}), 1)
    assert result["status"] == "error" and "__main__" in result["message"]


# -- hints only when their condition was seen ----------------------------------------------------

def test_missing_method_gets_no_nan_hint(sub):
    text = ACTIVATION[: ACTIVATION.index("    def tanh")] + ACTIVATION[ACTIVATION.index("    def ReLU"):]
    result = grade_stage(sub({"activation.py": text}), 2)
    for c in result["cases"]:
        assert c["status"] == "error" and "does not define 'tanh'" in c["message"], c
        assert not c["hint"], c


def test_not_started_function_gets_no_hint(sub):
    from conftest import TEMPLATE
    result = grade_stage(sub({}, base=TEMPLATE), 2, run_templates=True)
    for c in result["cases"]:
        assert "not implemented yet" in c["message"] and not c["hint"], c


def test_wrong_tanh_still_gets_the_nan_hint(sub):
    text = variant("activation.py", "y = np.tanh(x)", "y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))")
    c = case(grade_stage(sub({"activation.py": text}), 2), "large-magnitudes")
    assert c["status"] == "failed" and c["hint"]


# -- after the bubblewrap sandbox ------------------------------------------------------------------

def test_top_level_import_torch_in_stage_1(sub):
    pytest.importorskip("torch")
    result = grade_stage(sub({"activation.py": "import torch\n" + ACTIVATION}), 1)
    assert result["score"] == result["max_score"], result["message"]


def test_kind_helpers():
    import numpy as np
    from grader.judging.kinds import kind, kind_problem, raised_by_driver, with_kind
    arr = np.zeros(3)
    assert kind((arr, (3,))) == "a tuple of 2 items (ndarray, tuple)"
    assert kind(None) == "None" and kind([1.0]) == "a list of 1 item (float)"
    assert kind(arr) == "an ndarray of shape (3,)"
    assert kind_problem([1.0, 2.0, 3.0], arr, "en") == \
        "returned a list of 3 items (float, float, float) where an ndarray is expected"
    assert kind_problem(arr, arr, "en") is None
    assert kind_problem(None, 1.0, "en") is None  # a scalar expected: not an array stage
    assert with_kind("x", "text", arr, "en") == ("returned a str where an ndarray is expected", True)
    assert kind((arr, 1), "zh") == "包含 2 个元素的 tuple (ndarray, int)"
    assert kind_problem("x", arr, "zh") == "返回了str,而应返回ndarray"
    tb = '  File "{}", line 3, in f\n'
    assert raised_by_driver({"traceback": tb.format("metrics.py") + tb.format("/w/driver.py")}, "metrics.py")
    assert not raised_by_driver({"traceback": tb.format("driver.py") + tb.format("/w/metrics.py")}, "metrics.py")
    # torch raising on the driver's request is the driver's; torch raising inside the student's code is theirs
    lib = tb.format("/usr/lib/python3/site-packages/torch/nn/functional.py")
    assert raised_by_driver({"traceback": tb.format("metrics.py") + tb.format("driver.py") + lib}, "metrics.py")
    assert not raised_by_driver({"traceback": tb.format("driver.py") + tb.format("metrics.py") + lib}, "metrics.py")
    assert not raised_by_driver({}, "metrics.py")


def test_early_stopping_tuple_decision_is_named_not_turned_into_true(sub):
    text = variant("early_stopping.py", "            return True\n        return False\n",
                   "            return True, self.patience\n        return False, 0\n")
    result = grade_stage(sub({"early_stopping.py": text}), 11)
    c = next(c for c in result["cases"] if c["status"] != "passed")
    assert "tuple" in c["message"], c["message"]


def test_top_level_import_torch_in_early_stopping(sub):
    pytest.importorskip("torch")
    text = "import torch\n" + (REFERENCE / "early_stopping.py").read_text(encoding="utf-8")
    result = grade_stage(sub({"early_stopping.py": text}), 11)
    assert result["score"] == result["max_score"], result["message"]


def test_mnist_parser_returning_a_tuple_is_named(sub):
    text = variant("mnist_idx.py", "    return img\n", "    return img, image_num\n")
    c = next(c for c in grade_stage(sub({"mnist_idx.py": text}), 13)["cases"] if c["status"] != "passed")
    assert "returned a tuple of 2 items (ndarray, int); return only the array" in c["message"], c["message"]
