"""One catalog: every language has every sentence, with the same placeholders."""

from __future__ import annotations

import re
import string

from grader.messages import CATALOG, LANGS, t, words


GRAMMAR = {"a", "s"}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys_and_placeholders():
    assert set(LANGS) >= {"en", "zh"}
    for lang in LANGS:
        assert set(CATALOG[lang]) == set(CATALOG["en"]), lang
        for key, text in CATALOG[lang].items():
            # English grammar (an article, a plural s) is a placeholder other languages may drop
            assert _fields(text) - GRAMMAR == _fields(CATALOG["en"][key]) - GRAMMAR, (lang, key)
            assert _fields(text) <= _fields(CATALOG["en"][key]), (lang, key)


def test_no_hidden_twins_remain():
    assert not [k for k in CATALOG["en"] if k.endswith("_hidden")]


def test_t_and_words():
    assert t("zh", "batch.interrupted") == "已中断" and t("en", "batch.interrupted") == "interrupted"
    assert t("xx", "passed") == "passed"  # an unknown language reads English
    md = words("zh", "md")
    assert md["title"] == "评分报告" and "md.title" not in md


# --- no English under --lang zh -----------------------------------------------------------

# Names a Chinese sentence keeps as they are: products, commands' words, type names.
NAMES = {"GitHub", "Classroom", "PyTorch", "Dask", "NumPy", "Begin", "End", "Markdown", "JUnit", "HTML", "CSV",
         "JSON", "Gradescope", "Jupyter", "Python", "SymPy", "Notebook", "MNIST", "IDX"}
_CODE = (r"`[^`]*`", r"'[^']*'", r'"[^"]*"', r"\{[^}]*\}", r"https?://\S+", r"--[\w-]+(?: [A-Z_]+)?",
         r"(?m)^(?: {4}|#|pip |export |dask |grade |DASK_).*$", r"\bpip install\b", r"\b\w+(?:[._/=-]\w+)+\b", r"\b\w+\(\)")


def _sample(text: str) -> dict:
    """A value for every placeholder of `text`: a number where a format spec asks for one."""
    return {name: (1.5 if spec else "VALUE") for _, name, spec, _ in string.Formatter().parse(text) if name}


def english_sentence(text: str) -> list[str]:
    """Runs of three or more English words left in `text` once code, placeholders and names are out."""
    for pattern in _CODE:
        text = re.sub(pattern, " ", text)
    words_only = " ".join(w for w in re.split(r"\s+", text) if w not in NAMES)
    return re.findall(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){2,}\b", words_only)


def test_every_key_renders_in_both_languages_and_zh_holds_no_english_sentence():
    assert english_sentence("raised ValueError: the shapes do not match") != []  # the check itself bites
    assert english_sentence("抛出了 {kind}: `np.asarray(x)` 在 GitHub Classroom 中") == []
    for key, en in CATALOG["en"].items():
        params = _sample(en)
        assert t("en", key, **params)
        zh = t("zh", key, **params)
        assert english_sentence(CATALOG["zh"][key]) == [], (key, CATALOG["zh"][key])
        assert zh, key


def test_the_unknown_stage_is_said_in_chinese(capsys):
    from grader.cli import main
    from conftest import REFERENCE

    assert main([str(REFERENCE), "--stage", "99", "--lang", "zh"]) == 2
    err = capsys.readouterr().err
    assert "未知的关卡 '99'" in err and english_sentence(err.replace("grade: error:", "")) == [], err


def test_the_childs_encode_errors_are_said_in_chinese(tmp_path):
    from conftest import grader_for, make_submission
    from helpers import MET, body

    for line, needle in (("RMSE = object()", "builtins.object 对象,评测器无法比较"),
                         ("RMSE = np.array([object()])", "由 Python 对象组成的 numpy 数组")):
        sub = make_submission(tmp_path, {MET: body(line)})
        stage = grader_for(lang="zh").grade(sub, [5]).stages[0]
        case = next(c for c in stage.cases if c.name == "rmse-small")
        assert needle in case.message and english_sentence(case.message) == [], case.message


def test_a_large_array_is_summarised_without_english_words():
    from grader.judging.checks import show
    import numpy as np

    text = show(np.arange(100.0).reshape(10, 10))
    assert text.startswith("ndarray shape=(10, 10) dtype=float64 min=0.0 max=99.0 [0.0, 1.0, 2.0, 3.0, ...]")
    assert english_sentence(text) == []


def test_a_keyed_error_from_the_run_is_worded_by_the_catalog_and_forged_keys_fall_back():
    from grader.judging.judge import keyed_words

    def err(kind, key, params):
        return {"type": kind, "message": "english", "key": key, "params": params}

    assert keyed_words(err("ResultError", "unreadable", {"why": "x"}), "zh") == "无法读取它的结果(x)"
    assert keyed_words(err("EncodeError", "dtype", {"dtype": "<M8"}), "zh") == "返回了 dtype 为 <M8 的数组,评测器无法比较"
    for forged in (err("EncodeError", "dtype", {}),                    # a placeholder without its value
                   err("EncodeError", "dtype", {"lang": "en", "key": "x"}),  # names t() itself takes
                   err("EncodeError", "../none", {}),                  # not a key of the catalog
                   err("EncodeError", "none", {}),                     # a key, but not an encode one
                   err("ValueError", "dtype", {"dtype": "x"})):       # a student's own exception
        assert keyed_words(forged, "zh") is None, forged
