"""Frozen expected values of a student kit: the reference's records, stored without code.

``grade release`` runs the reference once over the kit's public cases and writes, per
stage, ``frozen/SLUG.jsonl`` + ``frozen/SLUG.bin`` with grader/sandbox/child.py's record format
(one JSON line per draw, arrays as raw bytes described by dtype, shape and offset: no
pickle, nothing in it can execute). The engine reads them back instead of running
``reference/`` when the course is a kit (``Course.frozen``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from grader.messages import t
from grader.sandbox.child import Arrays, EncodeError, RecordWriter, decode, encode, read_records

KIT_FORMAT = 1
_BUDGET = 2**31  # the reference's own values: no cap beyond sanity


def write_frozen(folder: Path, slug: str, records: dict[str, dict]) -> None:
    """Write the reference's `value` and known-mistake values of every draw of one stage."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".jsonl", ".bin"):
        (folder / f"{slug}{suffix}").unlink(missing_ok=True)
    out = RecordWriter(str(folder), slug)
    try:
        for key, rec in records.items():
            arrays = Arrays(_BUDGET)
            data: dict[str, Any] = {"value": encode(rec["value"], arrays)}
            mistakes = {}
            for name, wrong in (rec.get("mistakes") or {}).items():
                try:
                    mistakes[name] = encode(wrong, arrays)
                except EncodeError as exc:
                    mistakes[name] = {"$error": str(exc)}
            data["mistakes"] = mistakes
            out.write(key, data, arrays)
    finally:
        out.close()


def read_frozen(folder: Path, slug: str) -> dict[str, dict]:
    """key -> {"value": ..., "mistakes": {name: value or None}}; unreadable records are left out."""
    out = {}
    for key, (data, arrays) in read_records(str(folder), slug).items():
        try:
            mistakes = {name: None if isinstance(tree, dict) and "$error" in tree else decode(tree, arrays)
                        for name, tree in (data.get("mistakes") or {}).items()}
            out[key] = {"value": decode(data["value"], arrays), "mistakes": mistakes}
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            continue
    return out


def kit_notes(course: Any, lang: str, seed_asked: Optional[int] = None) -> list[str]:
    """What a report graded against a student kit must say: hidden cases run only at submission;
    and a --seed other than the kit's was not used (the kit holds its own seed's values only)."""
    if course.frozen is None:
        return []
    notes = [t(lang, "kit_note", kit=course.root)]
    if seed_asked is not None and seed_asked != course.kit_seed:
        notes.append(kit_seed_note(course, lang, seed_asked))
    return notes


def kit_seed_note(course: Any, lang: str, seed_asked: int) -> str:
    return t(lang, "kit_seed_note", asked=seed_asked, seed=course.kit_seed)


def write_kit_file(path: Path, course_name: str, seed: int, stages: list[dict]) -> None:
    path.write_text(json.dumps({"format": KIT_FORMAT, "course": course_name, "seed": seed, "stages": stages},
                               ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
