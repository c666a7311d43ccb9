"""Case inputs: literals, or values drawn from seeded generators (see docs/authoring.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.course.spec import Case, StageSpec


@dataclass
class Draw:
    """One draw of one case: its key in the run, its inputs and the call's seed."""

    key: str
    case_index: int
    repeat: int
    inputs: dict[str, Any]
    seed: int


def make_draws(spec: StageSpec, seed: int) -> list[Draw]:
    """Every case's draws for a session's seed: the same seed gives the same inputs."""
    out = []
    for i, case in enumerate(spec.cases):
        for rep in range(case.repeat):
            seq = np.random.SeedSequence([seed, spec.number, i, rep])
            out.append(Draw(f"c{i}r{rep}", i, rep, draw_inputs(case, seed, spec.number, i, rep),
                            int(seq.generate_state(1)[0])))
    return out


def case_rng(seed: int, stage: int, case_index: int, repeat: int) -> np.random.Generator:
    return np.random.default_rng([seed, stage, case_index, repeat])


def draw_inputs(case: Case, seed: int, stage: int, case_index: int, repeat: int) -> dict[str, Any]:
    """The sizes and inputs of one draw of a case, in spec order."""
    rng = case_rng(seed, stage, case_index, repeat)
    values: dict[str, Any] = {name: int(rng.integers(lo, hi + 1)) for name, (lo, hi) in case.sizes.items()}
    for name, spec in case.inputs.items():
        values[name] = make_value(spec, rng, values)
    return values


def make_value(spec: Any, rng: np.random.Generator, env: dict[str, Any]) -> Any:
    if not isinstance(spec, dict):
        return spec
    shape = tuple(d if isinstance(d, int) else env[d] for d in spec.get("shape", []) or [])
    dtype = spec.get("dtype")
    if "array" in spec:
        value = np.array(spec["array"], dtype=dtype)
    elif "normal" in spec:
        loc, scale = spec["normal"]
        value = rng.normal(loc, scale, size=shape)
    elif "uniform" in spec:
        low, high = spec["uniform"]
        value = rng.uniform(low, high, size=shape)
    elif "integers" in spec:
        low, high = spec["integers"]
        value = rng.integers(low, high, size=shape, dtype=np.int64)
    elif "labels" in spec:
        value = rng.integers(0, spec["labels"], size=shape, dtype=np.int64)
    elif "one_hot" in spec:
        labels = rng.integers(0, spec["one_hot"], size=shape)
        value = np.eye(spec["one_hot"])[labels]
    elif "choice" in spec:
        options = spec["choice"]
        return options[int(rng.integers(len(options)))]
    else:  # expr: trusted course code
        return eval(spec["expr"], {"rng": rng, "np": np, "math": math, **env})  # noqa: S307
    if "round" in spec:
        value = np.round(value, spec["round"])
    if dtype is not None and "array" not in spec:
        value = value.astype(dtype)
    return value
