"""``grade --format json``: the report as the README's JSON contract (without details)."""

from __future__ import annotations

import json

from grader.verdict import Report


def render(report: Report, lang: str | None = None) -> str:
    return json.dumps(report.to_dict(details=False), ensure_ascii=False, indent=1)
