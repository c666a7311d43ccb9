"""The HTML pages' templates, and the one loader every page uses (``template(name)``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader

    # autoescape everywhere: every value a page shows may come from a student
    return Environment(loader=PackageLoader("grader", "templates"), autoescape=True,
                       trim_blocks=True, lstrip_blocks=True)


def template(name: str) -> Any:
    """The jinja2 template `name` of this folder (e.g. ``"report.html.j2"``)."""
    return _environment().get_template(name)
