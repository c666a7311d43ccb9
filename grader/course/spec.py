"""Stage specs: the YAML files under ``stages/``, loaded into frozen, validated dataclasses.

A broken spec fails with the file, the field path and what was expected, e.g.
``stages/05_mae_rmse.yaml: cases[2].tolerance.rtol: expected a number``.
The format is documented in ``docs/authoring.md``.

The validator is the small one below (pydantic cost ~75 ms of start-up on every `grade` run).
``StageSpec.parse(data)`` converts a mapping field by field, driven by each dataclass field's
type hint and metadata (bounds ``ge``/``gt``/``le``, a ``pattern``, ``min_length``, a
``before`` conversion, an extra ``check``), then runs the model's own rules (``_check``).
Plain keyword construction (``Tolerance(rtol=1e-5)``) does not validate.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, TypeVar, Union

from grader.errors import SpecError  # noqa: F401 - re-exported
from grader.limits import PLATFORM, Limits

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
GENERATORS = ("array", "normal", "uniform", "integers", "labels", "one_hot", "choice", "expr")
GENERATOR_OPTIONS = {"shape", "dtype", "round"}
CHECK_NAME = r"^([a-z][a-z0-9_]*|driver\.[A-Za-z_][A-Za-z0-9_]*)$"  # registered ones: grader/judging/checks.py


# --- validation --------------------------------------------------------------

_EXPECTED = {
    float: "expected a number",
    int: "expected an integer",
    bool: "expected true or false",
    str: "expected a string",
    list: "expected a list",
    dict: "expected a mapping",
    tuple: "expected a list [low, high]",
}
_MISSING = "required field is missing"
_UNKNOWN = "unknown field (check the spelling)"
_BAD = object()  # a value that failed (its error is in the list); the model holding it is not built

Loc = tuple  # where a value is: ("cases", 2, "tolerance", "rtol")
Errors = list  # of (Loc, message, the value given, shown after ", got" when it is a scalar)
M = TypeVar("M", bound="_Model")


class _Invalid(ValueError):
    """A value does not fit its field; the message says what was expected."""


def _scalar(value: Any, kind: Any) -> Any:
    """`value` as a str, bool, int or float. An int is a number, a bool is not; numbers may come
    as strings (YAML reads `1e-5` as one) and an integer as a whole float (3.0)."""
    if kind is Any or type(value) is kind:
        return value
    try:
        if kind is float and type(value) in (int, str):
            return float(value)
        if kind is int and (type(value) is str or type(value) is float and value.is_integer()):
            return int(value)
    except (ValueError, OverflowError):
        pass
    raise _Invalid(_EXPECTED[kind])


def _convert(value: Any, hint: Any, loc: Loc, errors: Errors) -> Any:
    """`value` as the type `hint`: a model, Optional[X], list[X], dict[str, X], tuple[X, Y] or a
    scalar. A problem is appended to `errors`, and the value becomes _BAD."""
    kind, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if kind is Union:  # Optional[X]
        return None if value is None else _convert(value, args[0], loc, errors)
    if isinstance(kind, type) and issubclass(kind, _Model):
        return kind._from(value, loc, errors)
    if kind is Limits:  # the platform's record (grader/limits.py): its per-stage fields
        return _parse_fields(Limits, value, loc, errors)
    if kind in (list, tuple, dict):
        return _items(value, kind, args, loc, errors)
    try:
        return _scalar(value, kind)
    except _Invalid as exc:
        return _reject(errors, loc, str(exc), value)


def _items(value: Any, kind: type, args: tuple, loc: Loc, errors: Errors) -> Any:
    """A list[X], tuple[X, Y] or dict[str, X], item by item."""
    if kind is dict:
        if not isinstance(value, dict):
            return _reject(errors, loc, _EXPECTED[dict], value)
        return {_convert(k, args[0], loc + (str(k),), errors): _convert(v, args[1], loc + (str(k),), errors)
                for k, v in value.items()}
    if not isinstance(value, (list, tuple)) or (kind is tuple and len(value) != len(args)):
        return _reject(errors, loc, _EXPECTED[kind], value)
    items = [_convert(v, args[0 if kind is list else i], loc + (i,), errors) for i, v in enumerate(value)]
    return items if kind is list else tuple(items)


def _reject(errors: Errors, loc: Loc, message: str, value: Any) -> Any:
    errors.append((loc, message, value))
    return _BAD


def _constrain(value: Any, meta: Mapping) -> None:
    """A converted value against its field's bounds, pattern, length and extra check."""
    if "ge" in meta and not value >= meta["ge"]:
        raise _Invalid(f"must be >= {meta['ge']}")
    if "gt" in meta and not value > meta["gt"]:
        raise _Invalid(f"must be > {meta['gt']}")
    if "le" in meta and not value <= meta["le"]:
        raise _Invalid(f"must be <= {meta['le']}")
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        raise _Invalid(f"does not match the expected form ({meta['pattern']})")
    if "min_length" in meta and len(value) < meta["min_length"]:
        raise _Invalid("must not be empty")
    if "check" in meta:
        meta["check"](value)


def _field(given: Any, hint: Any, meta: Mapping, loc: Loc, errors: Errors) -> Any:
    """One field's value: converted (after its `before` shorthand, if any), then constrained."""
    before = len(errors)
    value = _convert(meta["before"](given) if "before" in meta else given, hint, loc, errors)
    if len(errors) == before and value is not None:
        try:
            _constrain(value, meta)
        except ValueError as exc:
            _reject(errors, loc, str(exc), given)
    return value


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


_RELATIVE = re.compile(r"^[A-Za-z_][\w.\[\]]*: ")  # a rule's message that starts with the field it is about


def _format_error(loc: Loc, message: str, value: Any) -> str:
    got = "" if value is None or isinstance(value, (dict, list)) else f", got {value!r}"
    where = _format_loc(loc)
    if where and _RELATIVE.match(message):  # cases[1] + "name: 'x' is used twice"
        return f"{where}.{message}{got}"
    return f"{where}: {message}{got}" if where else f"{message}{got}"


def _parse_fields(cls: type, value: Any, loc: Loc, errors: Errors) -> Any:
    """A dataclass from a mapping: its fields in their order, then unknown keys (any dataclass:
    the spec's models and the platform's Limits record)."""
    if not isinstance(value, dict):
        return _reject(errors, loc, _EXPECTED[dict], value)
    before, known, given = len(errors), _fields_of(cls), {}
    for name, (hint, meta, required) in known.items():
        if name in value:
            given[name] = _field(value[name], hint, meta, loc + (name,), errors)
        elif required:
            errors.append((loc + (name,), _MISSING, None))
    errors.extend((loc + (key,), _UNKNOWN, v) for key, v in value.items() if key not in known)
    return _BAD if len(errors) > before else cls(**given)


class _Model:
    """What the spec dataclasses share: `parse`, a shorthand (`_coerce`) and rules (`_check`)."""

    @classmethod
    def parse(cls: type[M], data: Any) -> M:
        """Validate a mapping (read from YAML) into an instance; SpecError names the first bad field
        and how many more there are."""
        errors: Errors = []
        out = cls._from(data, (), errors)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise SpecError(_format_error(*errors[0]) + more)
        return out

    @classmethod
    def _from(cls, value: Any, loc: Loc, errors: Errors) -> Any:
        """The shorthand expanded, the fields parsed, then the model's own rules."""
        out = _parse_fields(cls, cls._coerce(value), loc, errors)
        if out is _BAD:
            return out
        try:
            out._check()
        except ValueError as exc:
            return _reject(errors, loc, str(exc), None)  # the message names the fields it is about
        return out

    @classmethod
    def _coerce(cls, value: Any) -> Any:
        """A shorthand accepted in place of the mapping (none by default)."""
        return value

    def _check(self) -> None:
        """Rules across fields: raise ValueError (none by default)."""


@functools.lru_cache(maxsize=None)
def _fields_of(cls: type) -> dict[str, tuple[Any, Mapping, bool]]:
    """name -> (type hint, metadata, required) of each field a spec may give."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.metadata,
                     f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls) if f.metadata.get("parse", True)}


# --- the models --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Text(_Model):
    """Text in English and Chinese."""

    en: str
    zh: str

    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return {"en": value, "zh": value} if isinstance(value, str) else value

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, kw_only=True)
class Tolerance(_Model):
    rtol: float = field(default=1e-7, metadata={"ge": 0})
    atol: float = field(default=0.0, metadata={"ge": 0})


@dataclass(frozen=True, kw_only=True)
class PartialTolerance(_Model):
    rtol: Optional[float] = field(default=None, metadata={"ge": 0})
    atol: Optional[float] = field(default=None, metadata={"ge": 0})

    def over(self, base: Tolerance) -> Tolerance:
        return Tolerance(
            rtol=base.rtol if self.rtol is None else self.rtol,
            atol=base.atol if self.atol is None else self.atol,
        )


@dataclass(frozen=True, kw_only=True)
class Output(_Model):
    name: str
    check: Optional[str] = field(default=None, metadata={"pattern": CHECK_NAME})
    tolerance: Optional[PartialTolerance] = None

    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


@dataclass(frozen=True, kw_only=True)
class Mistake(_Model):
    name: str = field(metadata={"pattern": SLUG})
    value: Optional[str] = None
    error: Optional[str] = None
    frozen: bool = False  # in a student kit: `value` was computed at release and dropped
    nonfinite: bool = False  # NaN or inf came back where the expected value is finite (an overflow)
    output: Optional[str] = None
    hint: Text

    def _check(self) -> None:
        """Exactly one kind: a wrong formula (`value`) that compiles, an `error` regex, `nonfinite` (or frozen)."""
        if [self.value is not None, self.error is not None, self.frozen, self.nonfinite].count(True) != 1:
            raise ValueError("a mistake needs exactly one of `value` (a wrong formula), `error` (a regex) "
                             "or `nonfinite: true`")
        if self.value is not None:
            _compiles(self.value, "value")
        if self.error is not None:
            try:
                re.compile(self.error)
            except re.error as exc:
                raise ValueError(f"error: not a valid regular expression ({exc})") from None


def _one_or_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, dict)) else value


@dataclass(frozen=True, kw_only=True)
class Case(_Model):
    name: str = field(metadata={"pattern": SLUG})
    points: float = field(metadata={"gt": 0})
    hidden: bool = False
    repeat: int = field(default=1, metadata={"ge": 1, "le": 100})
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    call: str = field(metadata={"check": lambda call: _compiles(call)})
    outputs: list[Output] = field(default_factory=lambda: [Output(name="result")],
                                  metadata={"before": _one_or_list})  # a single output may be written alone
    check: str = field(default="allclose", metadata={"pattern": CHECK_NAME})
    tolerance: Optional[PartialTolerance] = None
    hint: Optional[Text] = None
    shows: Optional[Text] = None  # what a `driver.` call asks of the student's code, shown instead of the call
    mistakes: list[Mistake] = field(default_factory=list)
    form: Optional[str] = None  # graded only in that original form of the stage (see `forms`), not in the book's

    def _check(self) -> None:
        """Sizes are ranges, inputs are literals or generators, outputs unique (checks: checks.validate)."""
        for name, (lo, hi) in self.sizes.items():
            if lo > hi:
                raise ValueError(f"sizes.{name}: expected [low, high] with low <= high, got [{lo}, {hi}]")
        for name, value in self.inputs.items():
            _check_input(f"inputs.{name}", value, set(self.sizes))
        names = [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError("outputs: names must be unique")
        for m in self.mistakes:
            if m.output is not None and m.output not in names:
                raise ValueError(f"mistakes[{m.name}].output: {m.output!r} is not one of the outputs {names}")


@dataclass(frozen=True, kw_only=True)
class Form(_Model):
    """An original form of the stage (another interface the course's platform accepted): graded when
    `when` (evaluated in the submission's process, after its import) is true, on `cases` (name ->
    points in this form, adding up to the stage's total), with `note` in the report."""

    name: str = field(metadata={"pattern": SLUG})
    when: str = field(metadata={"check": lambda when: _compiles(when, "when")})
    cases: dict[str, float] = field(metadata={"min_length": 1})
    note: Text

    def _check(self) -> None:
        for name, points in self.cases.items():
            if not points > 0:
                raise ValueError(f"cases.{name}: must be > 0")


@dataclass(frozen=True, kw_only=True)
class StageSpec(_Model):
    number: int = field(metadata={"ge": 1})
    slug: str = field(metadata={"pattern": SLUG})
    title: Text
    file: str = field(metadata={"pattern": r"^[A-Za-z_][A-Za-z0-9_]*\.py$"})
    requires: list[str] = field(default_factory=list)
    support: list[str] = field(default_factory=list)
    driver: Optional[str] = None
    limits: Limits = PLATFORM  # its per-stage fields may be set in the YAML (grader/limits.py)
    tolerance: Tolerance = Tolerance()
    hint: Optional[Text] = None
    toplevel_ok: bool = False  # the file must compute at its top level (M-P neuron's y): never advise moving it
    cases: list[Case] = field(metadata={"min_length": 1})
    equivalent_mutants: list[str] = field(default_factory=list)  # `grade check-course`: mutant ids (or mutated lines) that cannot be killed
    forms: list[Form] = field(default_factory=list)  # original forms, tried in order; none true: the book's form
    path: Optional[Path] = field(default=None, metadata={"parse": False})  # set by load_spec, never read from the YAML

    def _check(self) -> None:
        """Case names are unique; a `driver.` check needs a driver file."""
        seen = set()
        for i, case in enumerate(self.cases):
            if case.name in seen:
                raise ValueError(f"cases[{i}].name: {case.name!r} is used twice")
            seen.add(case.name)
            for o in case.outputs:
                if (o.check or case.check).startswith("driver.") and not self.driver:
                    raise ValueError(f"cases[{i}]: check {o.check or case.check!r} needs a `driver` file")
        self._check_forms()

    def _check_forms(self) -> None:
        """Each form names known cases and adds up to the stage's total; a form's own case is in it."""
        forms = {f.name: f for f in self.forms}
        if len(forms) != len(self.forms):
            raise ValueError("forms: names must be unique")
        for i, case in enumerate(self.cases):
            if case.form is not None and case.name not in getattr(forms.get(case.form), "cases", {}):
                raise ValueError(f"cases[{i}].form: {case.form!r} is not a form that grades {case.name!r}")
        names = {c.name for c in self.cases}
        for k, form in enumerate(self.forms):
            unknown = [n for n in form.cases if n not in names]
            if unknown:
                raise ValueError(f"forms[{k}].cases: {unknown[0]!r} is not a case of this stage")
            if abs(sum(form.cases.values()) - self.max_score) > 1e-9:
                raise ValueError(f"forms[{k}].cases: the points add up to {sum(form.cases.values()):g}, "
                                 f"not the stage's {self.max_score:g}")

    @property
    def book_cases(self) -> list[Case]:
        """The cases of the stage book's form (every case that belongs to no original form only)."""
        return [c for c in self.cases if c.form is None]

    @property
    def max_score(self) -> float:
        return float(sum(c.points for c in self.book_cases))

    @property
    def needs_torch(self) -> bool:
        return "torch" in self.requires


def _compiles(source: str, what: str = "") -> str:
    """`source` if it is a Python expression; `what` names the field in the message (a rule's check)."""
    try:
        compile(source, f"<{what or 'call'}>", "eval")
    except SyntaxError as exc:
        message = f"not a valid Python expression ({exc.msg})"
        raise ValueError(f"{what}: {message}: {source!r}" if what else message) from None
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
    shape = value.get("shape") or []
    if not isinstance(shape, list):
        raise ValueError(f"{where}.shape: expected a list of sizes, got {shape!r}")
    for dim in shape:
        if not (isinstance(dim, int) or dim in sizes):
            raise ValueError(f"{where}.shape: {dim!r} is neither an integer nor a name from `sizes`")
    if "expr" in value:
        _compiles(value["expr"], f"{where}.expr")


# --- loading -----------------------------------------------------------------


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
    data = _parse_yaml(raw)
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


class NotYAML(ValueError):
    """The file is not valid YAML; the message says where and why."""


def _parse_yaml(raw: bytes) -> Any:
    import yaml  # only when the JSON cache has no copy: importing it is most of a cached load's time

    try:
        return yaml.load(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 5x
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise NotYAML(f"not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None


def load_spec(path: Path) -> StageSpec:
    """Read and validate one stage spec; raise SpecError naming the file and field."""
    try:
        data = read_yaml(path)
    except NotYAML as exc:
        raise SpecError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    try:
        spec = StageSpec.parse(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    return dataclasses.replace(spec, path=path)


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
