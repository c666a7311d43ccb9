"""The sentences of `grade check-course` and of the similarity page: keys ``lint.*`` of the
one message catalog (grader/messages.py)."""

from __future__ import annotations

from typing import Any

from grader.messages import t


def lt(lang: str, key: str, **params: Any) -> str:
    return t(lang, f"lint.{key}", **params)
