"""docs/security.md maps each defence to the tests that attack it: every test it names exists."""

from __future__ import annotations

import re

from conftest import ROOT


def test_every_test_the_security_doc_names_exists():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    named, current = [], None
    for path, name in re.findall(r"`(?:(tests/[\w/]+\.py))?(?:::(\w+))?`", text):
        current = path or current
        if path and not name:
            assert (ROOT / path).is_file(), path
        if name:
            named.append((current, name))
    assert len(named) > 40
    for path, name in named:
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M), f"{path}::{name}"
