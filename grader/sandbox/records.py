"""A run's replies read back as hostile input: sizes, depth, types and array bounds checked; nothing in them can execute code."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Optional

from grader.sandbox.child import decode
from grader.sandbox.job import Limits, Outcome


def parse_records(text: bytes, blob: bytes, budget: int) -> dict[str, tuple[Any, list]]:
    """Every complete record a run sent back: key -> (data, arrays); hostile input, checked.

    Arrays must lie back to back in the blob (no region used twice) and their total size
    stays within ``budget``; a record that cannot be read becomes ``{"unreadable": why}``.
    """
    return _parse_lines(text.split(b"\n")[:-1], blob, budget)[0]  # the last piece: empty or an unfinished line


def _parse_lines(lines: list[bytes], blob: bytes, budget: int, offset: int = 0,
                 base: int = 0) -> tuple[dict[str, tuple[Any, list]], int]:
    """`parse_records` of complete lines whose arrays start at `offset`; `blob` holds the arrays'
    bytes from `base` on. Also returns where the next record's arrays must start."""
    import numpy as np

    out: dict[str, tuple[Any, list]] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        try:
            arrays = []
            for dtype, shape, start in entry.get("arrays", []):
                dt = np.dtype(str(dtype))
                if dt.kind not in "biufcUS" or start != offset or not all(type(n) is int and n >= 0 for n in shape):
                    raise ValueError("a malformed array")
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                offset += count * dt.itemsize
                if offset > min(base + len(blob), budget):
                    raise ValueError("arrays beyond the data sent")
                arrays.append(np.frombuffer(blob, dtype=dt, count=count, offset=start - base)
                              .reshape(tuple(shape)).copy())
            out[entry["key"]] = (entry["data"], arrays)
        except (ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:
            out[entry["key"]] = ({"unreadable": str(exc)[:200]}, [])
    return out, offset


class Streamed:
    """A run's records as the fork server relays them while it runs (ForkServer.run `on_records`),
    read exactly as `collect` reads the final ones: ``add`` returns the run so far as an Outcome
    (no end yet: not killed, no exit code). Hostile input, checked the same way; the final
    reply, read by `collect`, stays what the report is made of."""

    def __init__(self, limits: Limits, on_records: Optional[Callable[[Outcome], None]] = None):
        """`on_records`: told the run so far by `heard` (what ForkServer.run calls with each relayed part)."""
        self.limits, self.on_records = limits, on_records
        self.failed = False
        self.pending = b""  # an unfinished last line
        self.blob, self.base, self.offset = b"", 0, 0  # arrays' bytes from `base` on; the next array's start
        self.raw = b""
        self.imported: Optional[dict] = None
        self.cases: dict[str, dict] = {}

    def heard(self, parts: list[bytes]) -> None:
        """A relayed part: the run so far told to `on_records`. Whatever goes wrong here only ends the
        streaming (the run's final reply, read on its own, makes the report)."""
        if self.failed or self.on_records is None:
            return
        try:
            outcome = self.add(parts)
        except Exception:
            self.failed = True
            return
        self.on_records(outcome)

    def add(self, parts: list[bytes]) -> Outcome:
        text, blob, raw = parts
        self.raw += raw
        self.blob += blob
        lines = (self.pending + text).split(b"\n")
        self.pending = lines.pop()
        records, self.offset = _parse_lines(lines, self.blob, self.limits.result_bytes, self.offset, self.base)
        cut = self.offset - self.base  # the arrays read are dropped (the next record's start where they end)
        if 0 <= cut <= len(self.blob):
            self.blob, self.base = self.blob[cut:], self.offset
        imported, cases = _checked(records)
        self.imported = imported or self.imported
        self.cases.update(cases)
        outcome = Outcome(imported=self.imported, cases=dict(self.cases), killed=None, exit_code=None, signal=None,
                          wall_s=0.0, cpu_s=0.0, peak_mb=0.0,
                          output=self.raw[:self.limits.output_keep_bytes].decode("utf-8", errors="replace"))
        outcome._raw = self.raw
        return outcome


def _checked(parsed: dict[str, tuple[Any, list]]) -> tuple[Optional[dict], dict[str, dict]]:
    """The import record and the case records, with only the fields and types the engine relies on."""
    records: dict[str, dict] = {}
    imported = None
    for key, (data, arrays) in parsed.items():
        if not isinstance(data, dict):
            continue
        if key == "import":
            imported = _checked_import(data)
        elif "unreadable" in data:
            records[key] = {"error": _unreadable(str(data["unreadable"]))}
        else:
            records[key] = _decode_record(data, arrays)
    return imported, records


def collect(report: dict, payload: list[bytes], limits: Limits) -> Outcome:
    """Read back a finished run's records; nothing in them can execute code."""
    text, blob, raw, error = payload
    imported, records = _checked(parse_records(text, blob, limits.result_bytes))
    runner_error = None
    try:
        runner_error = str(json.loads(error)["traceback"])[-4000:] if error else None
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    outcome = Outcome(
        imported=imported,
        cases=records,
        killed=report.get("killed"),
        exit_code=report.get("code") if type(report.get("code")) is int else None,
        signal=report.get("signal") if type(report.get("signal")) is int else None,
        wall_s=_number(report.get("wall_s")),
        cpu_s=_number(report.get("cpu_s")),
        peak_mb=_number(report.get("peak_mb")),
        output=raw[:limits.output_keep_bytes].decode("utf-8", errors="replace"),
        runner_error=runner_error,
        timeline={},
    )
    outcome._raw = raw
    return outcome


def _number(value: Any) -> float:
    return float(value) if type(value) in (int, float) and math.isfinite(value) else 0.0


def _checked_import(data: dict) -> dict:
    """The import record with the types the engine relies on (anything else dropped)."""
    out = {k: v for k, v in data.items() if k in ("duration_s", "output_end") and type(v) in (int, float)}
    out["warnings"] = [str(w)[:500] for w in data.get("warnings", [])[:20]] if isinstance(data.get("warnings"), list) else []
    err = data.get("error")
    out["error"] = _checked_error(err) if err is not None else None
    return out


def _unreadable(why: str) -> dict:
    """The error of a case whose result could not be read (worded by the grader: result.unreadable)."""
    why = why[:200]
    return {"type": "ResultError", "message": f"its result could not be read ({why})", "line": None,
            "traceback": "", "key": "unreadable", "params": {"why": why}}


def _checked_error(err: Any) -> dict:
    if not isinstance(err, dict):
        return {"type": "ResultError", "message": "an unreadable error", "line": None, "traceback": ""}
    line = err.get("line")
    out = {"type": str(err.get("type", ""))[:100], "message": str(err.get("message", ""))[:2000],
           "line": line if type(line) is int else None, "traceback": str(err.get("traceback", ""))[-6000:]}
    key, params = err.get("key"), err.get("params")
    if type(key) is str and re.fullmatch(r"[a-z_]{1,40}", key) and isinstance(params, dict) and len(params) <= 4:
        # which sentence of the catalog says it (the grader words it in the student's language)
        out["key"], out["params"] = key, {str(k)[:40]: str(v)[:200] for k, v in params.items()}
    return out


def _decode_record(data: dict, arrays: list) -> dict:
    """A case record with only the fields and types the engine relies on."""
    record: dict[str, Any] = {k: data[k] for k in ("duration_s", "output_start", "output_end")
                              if type(data.get(k)) in (int, float) and data[k] >= 0}
    warnings = data.get("warnings")
    record["warnings"] = [str(w)[:500] for w in warnings[:20]] if isinstance(warnings, list) else []
    try:
        if "error" in data:
            record["error"] = _checked_error(data["error"])
        elif "value" in data:
            record["value"] = decode(data["value"], arrays)
        else:
            raise ValueError("no value")
        mistakes = data.get("mistakes")
        if isinstance(mistakes, dict) and "value" in record:
            record["mistakes"] = {str(name): None if isinstance(tree, dict) and "$error" in tree else decode(tree, arrays)
                                  for name, tree in mistakes.items()}
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        record.pop("value", None)
        record["error"] = _unreadable(str(exc))
    return record
