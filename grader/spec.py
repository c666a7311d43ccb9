"""Stage specs: the YAML files under ``stages/``, loaded into typed, validated models.

A broken spec fails with the file, the field path and what was expected, e.g.
``stages/05_mae_rmse.yaml: cases[2].tolerance.rtol: expected a number``.
The format is documented in ``docs/authoring.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from grader.errors import SpecError  # noqa: F401 - re-exported
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
GENERATORS = ("array", "normal", "uniform", "integers", "labels", "one_hot", "choice", "expr")
GENERATOR_OPTIONS = {"shape", "dtype", "round"}
BUILTIN_CHECKS = ("allclose", "exact", "text")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 5x faster


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    """Text in English and Chinese."""

    en: str
    zh: str

    @model_validator(mode="before")
    @classmethod
    def _plain_string(cls, value: Any) -> Any:
        return {"en": value, "zh": value} if isinstance(value, str) else value

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Tolerance(Strict):
    rtol: float = Field(default=1e-7, ge=0)
    atol: float = Field(default=0.0, ge=0)


class PartialTolerance(Strict):
    rtol: Optional[float] = Field(default=None, ge=0)
    atol: Optional[float] = Field(default=None, ge=0)

    def over(self, base: Tolerance) -> Tolerance:
        return Tolerance(
            rtol=base.rtol if self.rtol is None else self.rtol,
            atol=base.atol if self.atol is None else self.atol,
        )


class Limits(Strict):
    time_s: float = Field(default=20.0, gt=0)
    memory_mb: int = Field(default=1024, gt=0)


class Output(Strict):
    name: str
    check: Optional[str] = None
    tolerance: Optional[PartialTolerance] = None

    @model_validator(mode="before")
    @classmethod
    def _plain_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Mistake(Strict):
    name: str = Field(pattern=SLUG)
    value: Optional[str] = None
    error: Optional[str] = None
    frozen: bool = False  # in a student kit: `value` was computed at release and dropped
    output: Optional[str] = None
    hint: Text

    @model_validator(mode="after")
    def _one_kind(self) -> "Mistake":
        if [self.value is not None, self.error is not None, self.frozen].count(True) != 1:
            raise ValueError("a mistake needs exactly one of `value` (a wrong formula) or `error` (a regex)")
        if self.value is not None:
            _compiles(self.value, "value")
        if self.error is not None:
            try:
                re.compile(self.error)
            except re.error as exc:
                raise ValueError(f"error: not a valid regular expression ({exc})") from None
        return self


class Case(Strict):
    name: str = Field(pattern=SLUG)
    points: float = Field(gt=0)
    hidden: bool = False
    repeat: int = Field(default=1, ge=1, le=100)
    sizes: dict[str, tuple[int, int]] = {}
    inputs: dict[str, Any] = {}
    call: str
    outputs: list[Output] = [Output(name="result")]
    check: str = "allclose"
    tolerance: Optional[PartialTolerance] = None
    hint: Optional[Text] = None
    shows: Optional[Text] = None  # what a `driver.` call asks of the student's code, shown instead of the call
    mistakes: list[Mistake] = []

    @field_validator("outputs", mode="before")
    @classmethod
    def _single_output(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value

    @field_validator("call")
    @classmethod
    def _call_compiles(cls, value: str) -> str:
        return _compiles(value, "call")

    @model_validator(mode="after")
    def _consistent(self) -> "Case":
        for name, (lo, hi) in self.sizes.items():
            if lo > hi:
                raise ValueError(f"sizes.{name}: expected [low, high] with low <= high, got [{lo}, {hi}]")
        for name, value in self.inputs.items():
            _check_input(f"inputs.{name}", value, set(self.sizes))
        names = [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError("outputs: names must be unique")
        for check in [self.check] + [o.check for o in self.outputs if o.check]:
            if check not in BUILTIN_CHECKS and not check.startswith("driver."):
                raise ValueError(f"check: expected one of {', '.join(BUILTIN_CHECKS)} or driver.NAME, got {check!r}")
        for m in self.mistakes:
            if m.output is not None and m.output not in names:
                raise ValueError(f"mistakes[{m.name}].output: {m.output!r} is not one of the outputs {names}")
        return self


class StageSpec(Strict):
    number: int = Field(ge=1)
    slug: str = Field(pattern=SLUG)
    title: Text
    file: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
    requires: list[str] = []
    support: list[str] = []
    driver: Optional[str] = None
    limits: Limits = Limits()
    tolerance: Tolerance = Tolerance()
    hint: Optional[Text] = None
    toplevel_ok: bool = False  # the file must compute at its top level (M-P neuron's y): never advise moving it
    cases: list[Case] = Field(min_length=1)
    equivalent_mutants: list[str] = []  # `grade check-course`: mutant ids (or mutated lines) that cannot be killed
    path: Optional[Path] = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_cases(self) -> "StageSpec":
        seen = set()
        for i, case in enumerate(self.cases):
            if case.name in seen:
                raise ValueError(f"cases[{i}].name: {case.name!r} is used twice")
            seen.add(case.name)
            for o in case.outputs:
                if (o.check or case.check).startswith("driver.") and not self.driver:
                    raise ValueError(f"cases[{i}]: check {o.check or case.check!r} needs a `driver` file")
        return self

    @property
    def max_score(self) -> float:
        return float(sum(c.points for c in self.cases))

    @property
    def needs_torch(self) -> bool:
        return "torch" in self.requires


def _compiles(source: str, field: str) -> str:
    try:
        compile(source, f"<{field}>", "eval")
    except SyntaxError as exc:
        raise ValueError(f"{field}: not a valid Python expression ({exc.msg}): {source!r}") from None
    return source


def _check_input(where: str, value: Any, sizes: set[str]) -> None:
    """Literals pass; a mapping must name exactly one known generator."""
    if not isinstance(value, dict):
        return
    kinds = [k for k in value if k in GENERATORS]
    unknown = set(value) - set(GENERATORS) - GENERATOR_OPTIONS
    if len(kinds) != 1 or unknown:
        raise ValueError(
            f"{where}: expected a literal or a mapping with exactly one of {', '.join(GENERATORS)}"
            + (f" (unknown keys: {', '.join(sorted(map(str, unknown)))})" if unknown else "")
        )
    for dim in value.get("shape", []) or []:
        if not (isinstance(dim, int) or dim in sizes):
            raise ValueError(f"{where}.shape: {dim!r} is neither an integer nor a name from `sizes`")
    if "expr" in value:
        _compiles(value["expr"], f"{where}.expr")


# --- loading ---------------------------------------------------------------

_EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "tuple_type": "expected a list [low, high]",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling)",
    "string_pattern_mismatch": "does not match the expected form",
    "too_short": "must not be empty",
}


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("function-", "union")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_error(err: dict) -> str:
    msg = _EXPECTED.get(err["type"])
    if msg is None:
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif err["type"] == "string_pattern_mismatch":
        msg += f" ({err.get('ctx', {}).get('pattern', '')})"
    got = err.get("input")
    if err["type"] not in ("missing",) and not isinstance(got, (dict, list)) and got is not None:
        msg += f", got {got!r}"
    return f"{_format_loc(err['loc'])}: {msg}"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grade" / "specs"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, through a JSON cache keyed by the file's content hash.

    Building Python objects from YAML costs ~15 ms a spec even with libyaml; JSON is ~50x
    faster, and start-up time is what a student waits for on every `grade` run.
    """
    raw = path.read_bytes()
    cached = _cache_dir() / f"{hashlib.sha256(raw).hexdigest()}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    data = yaml.load(raw.decode("utf-8"), Loader=_LOADER)
    try:
        text = json.dumps(data, ensure_ascii=False)
        if json.loads(text) == data:  # only plain data (no dates, no integer keys) round-trips
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, cached)
    except (OSError, TypeError, ValueError):
        pass
    return data


def load_spec(path: Path) -> StageSpec:
    """Read and validate one stage spec; raise SpecError naming the file and field."""
    try:
        data = read_yaml(path)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise SpecError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    try:
        spec = StageSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        raise SpecError(f"{path}: {_format_error(first)}" + (f" (and {more} more)" if more else "")) from None
    return spec.model_copy(update={"path": path})


def resolve_tolerance(spec: StageSpec, case: Case, output: Output) -> Tolerance:
    tol = spec.tolerance
    if case.tolerance:
        tol = case.tolerance.over(tol)
    if output.tolerance:
        tol = output.tolerance.over(tol)
    return tol


def check_of(case: Case, output: Output) -> str:
    return output.check or case.check


Number = Union[int, float]
