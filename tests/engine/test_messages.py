"""One catalog: every language has every sentence, with the same placeholders."""

from __future__ import annotations

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
