"""Files as students really hand them in: encodings, line endings, names, return kinds, known mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REFERENCE, case, failed, grade_stage, make_submission, variant
from grader.sources import decode, find_source, prepare_sources, read_source

ACTIVATION = (REFERENCE / "activation.py").read_text(encoding="utf-8")
GBK_COMMENT = "# 激活函数:按元素计算\n"


def _raw_submission(tmp_path: Path, name: str, data: bytes) -> Path:
    sub = make_submission(tmp_path, {}, base=None)
    (sub / name).write_bytes(data)
    return sub


# -- encodings and line endings ---------------------------------------------------------------------

def test_decode_bom_crlf_gbk_and_garbage():
    assert decode("\ufeffx = 1\r\ny = 2\r\n".encode("utf-8"), "a.py") == ("x = 1\ny = 2\n", [])
    text, notes = decode(GBK_COMMENT.encode("gbk"), "a.py")
    assert text == GBK_COMMENT and [n.key for n in notes] == ["note_gbk"]
    text, notes = decode(b"x = 1  # \x81\x30\xff\xfe\n", "a.py")  # neither UTF-8 nor GB18030
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
    assert read_source(sub, "activation.py").notes[0].text("en").startswith("found Activation.py; expected activation.py")
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
