"""`grade check-course`: proves that a course's cases bite.

For each stage: the reference earns full marks on several seeds and gives the same values
twice with one seed; the template earns zero, saying "not implemented"; hidden cases draw
different inputs for different seeds; every known mistake, applied to the reference, gets
its hint; and mutants of the reference (grader/authoring/mutants.py) fail. Everything runs
through the public ``Grader`` API: one session per seed, and one session (sharing the
reference's results) grading every mutant workspace of a stage.
"""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence, TextIO, Union

from grader.course.folder import Course, load_course
from grader.engine import Grader, missing_requirement
from grader.sandbox import Sandbox
from grader.errors import SpecError
from grader.course.inputs import draw_inputs
from grader.authoring import accepted, mistakes as mistake_course
from grader.authoring.sentences import lt
from grader.authoring.mutants import Mutant, identifiers, mutants, sample
from grader.messages import t
from grader.course.spec import StageSpec
from grader.verdict import Report

DEFAULT_SEEDS = (11, 12, 13)
DEFAULT_CAP = 100  # mutants graded per stage at most (sampled with a fixed seed)
HIDDEN_SEEDS = 8
MUTANT_TIME_FACTOR = 10.0  # a mutant's time limit: this times the reference's run, at least MUTANT_MIN_TIME_S
MUTANT_MIN_TIME_S = 3.0


@dataclass
class MutantResult:
    mutant: Mutant
    killed: bool
    by: str = ""  # the first failing case and its message
    hint: Optional[str] = None
    equivalent: bool = False
    like: str = ""  # the accepted answer it behaves like (then equivalent)


@dataclass
class StageCheck:
    number: int
    slug: str
    title: str
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mutants: list[MutantResult] = field(default_factory=list)
    generated: int = 0
    cap: int = 0

    @property
    def survivors(self) -> list[MutantResult]:
        return [m for m in self.mutants if not m.killed and not m.equivalent]

    @property
    def score(self) -> Optional[float]:
        graded = [m for m in self.mutants if not m.equivalent]
        return sum(m.killed for m in graded) / len(graded) if graded else None


@dataclass
class CourseCheck:
    course: str
    seeds: tuple[int, ...]
    lang: str = "en"
    findings: list[str] = field(default_factory=list)  # course-wide (a broken spec)
    stages: list[StageCheck] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def n_findings(self) -> int:
        return len(self.findings) + sum(len(s.findings) for s in self.stages)

    @property
    def ok(self) -> bool:
        return self.n_findings == 0


def check_course(course_dir: Union[str, Path, None] = None, stages: Optional[Sequence[Union[str, int]]] = None,
                 seeds: Sequence[int] = DEFAULT_SEEDS, cap: int = DEFAULT_CAP, lang: str = "en",
                 workers: int = 2, progress: Optional[TextIO] = None) -> CourseCheck:
    """`progress`: a stream (e.g. stderr) that gets a progress bar of the mutants graded, when it
    is a terminal (tqdm; nothing otherwise)."""
    started = time.perf_counter()
    result = CourseCheck(course=str(course_dir or ""), seeds=tuple(seeds), lang=lang)
    try:
        course = load_course(course_dir)
        specs = course.select(stages) if stages else list(course.stages)
        answers = accepted.load(course)
    except SpecError as exc:
        result.findings.append(lt(lang, "spec_invalid", why=str(exc)))
        return result
    result.course = str(course.root)
    checks = {s.slug: StageCheck(s.number, s.slug, s.title.get(lang)) for s in specs}
    result.stages = list(checks.values())
    runnable = []
    for spec in specs:
        missing = missing_requirement(spec)
        if missing:
            checks[spec.slug].notes.append(lt(lang, "needs", name=missing))
        else:
            runnable.append(spec)
    for spec in runnable:
        checks[spec.slug].findings += _hidden_checks(spec, lang)
    run = _Run(course, lang, Sandbox(workers=workers, platform=course.platform), workers, checks, progress)
    try:
        walls = _reference_checks(run, runnable, seeds)
        likes = _accepted_checks(run, runnable, seeds[0], answers)
        # a seed of its own: the shared sandbox keeps one copy of the inputs per (stage, seed), and
        # this session's cases differ from the course's
        mistake_course.check_value_mistakes(course, runnable, max(seeds) + 1, lang, run.session, checks)
        _mutation_checks(run, runnable, seeds[0], cap, walls, likes)
    finally:
        run.sandbox.close()
    result.duration_s = time.perf_counter() - started
    return result


class _KeepOpen:
    """The shared sandbox as one session sees it: closing the session leaves it running."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sandbox, name)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class _Run:
    """What every check of one `check_course` call shares."""

    course: Course
    lang: str
    sandbox: Sandbox  # one set of fork servers for every session
    workers: int
    checks: dict[str, StageCheck]
    progress: Optional[TextIO] = None  # where the mutants' progress bar goes (a terminal only)

    def session(self, course: Course, seed: int) -> Grader:
        grader = Grader(course=course, seed=seed, lang=self.lang, workers=self.workers, sandbox=_KeepOpen(self.sandbox))
        grader.trust_templates = False  # the template checks run the template files for real
        return grader

    def finding(self, slug: str, key: str, **params: Any) -> None:
        text = lt(self.lang, key, **params)
        if text not in self.checks[slug].findings:
            self.checks[slug].findings.append(text)


# -- reference and template ------------------------------------------------------------------

def _got(stage) -> list:
    return [json.dumps(c.details.get("got"), sort_keys=True, default=str) for c in stage.cases]


def _reference_checks(run: _Run, specs: list[StageSpec], seeds: Sequence[int]) -> dict[str, float]:
    """Full marks on every seed, the same values in two runs with the first (one session per
    seed; with the first, the reference is graded twice and the template once).
    Returns each stage's slowest reference run (seconds), for the mutants' time limit."""
    slugs = [s.slug for s in specs]
    walls: dict[str, float] = {s: 0.0 for s in slugs}
    for k, seed in enumerate(seeds if specs else ()):
        with run.session(run.course, seed) as grader:
            reports = [grader.grade(run.course.reference, slugs) for _ in range(2 if k == 0 else 1)]
            if k == 0:
                _template_checks(run, grader, specs)
        for stage in [s for r in reports for s in r.stages]:
            walls[stage.slug] = max(walls[stage.slug], float(stage.details.get("wall_s", 0.0)))
            bad = [c for c in stage.cases if c.status != "passed"]
            if bad:
                run.finding(stage.slug, "ref_not_full", seed=seed, case=bad[0].name, msg=bad[0].message)
        if len(reports) == 2:
            _same_values(run, seed, *reports)
    return walls


def _same_values(run: _Run, seed: int, one: Report, two: Report) -> None:
    for first, second in zip(one.stages, two.stages):
        for case, a, b in zip(first.cases, _got(first), _got(second)):
            if a != b:
                run.finding(first.slug, "ref_nondeterministic", seed=seed, case=case.name)


def _template_checks(run: _Run, grader: Grader, specs: list[StageSpec]) -> None:
    present = [s for s in specs if (run.course.template / s.file).is_file()]
    for spec in specs:
        if spec not in present:
            run.finding(spec.slug, "template_missing", file=spec.file)
    if not present:
        return
    prefix = t(run.lang, "not_implemented", where="").rstrip(" .")
    report = grader.grade(run.course.template, [s.slug for s in present])
    _template_beside_reference(run, grader, present)
    for stage in report.stages:
        for case in stage.cases:
            if case.score > 0:
                run.finding(stage.slug, "template_scores", score=case.score, case=case.name)
        other = [c for c in stage.cases if prefix not in c.message]
        if len(other) == len(stage.cases):  # a finding when no case says it; a note for a case that checks output
            run.finding(stage.slug, "template_message", case=other[0].name, msg=other[0].message)
        else:
            run.checks[stage.slug].notes += [lt(run.lang, "template_message", case=c.name, msg=c.message)
                                             for c in other]


def _template_beside_reference(run: _Run, grader: Grader, present: list[StageSpec]) -> None:
    """Each template file earns nothing even when every other file is the reference's: what lets
    the engine call an unchanged template file "not started" without running it."""
    for file in sorted({s.file for s in present}):
        with tempfile.TemporaryDirectory(prefix="grade-template-") as tmp:
            folder = Path(tmp) / "submission"
            shutil.copytree(run.course.reference, folder, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copyfile(run.course.template / file, folder / file)
            report = grader.grade(folder, [s.slug for s in present if s.file == file])
        for stage in report.stages:
            for case in stage.cases:
                if case.score > 0:
                    run.finding(stage.slug, "template_scores", score=case.score, case=case.name)


@dataclass
class _Likes:
    """What a stage's reference and its full-mark accepted answers return (per case), for telling a
    surviving mutant that behaves like an accepted answer (an equivalent one) from a survivor."""

    reference: list = field(default_factory=list)
    answers: dict[str, list] = field(default_factory=dict)  # answer name -> its values

    def like(self, got: list) -> str:
        """The accepted answer a full-mark result with these values behaves like, where it differs
        from the reference ("" when none)."""
        if got == self.reference:
            return ""
        return next((name for name, values in self.answers.items() if values == got), "")


def _accepted_checks(run: _Run, specs: list[StageSpec], seed: int,
                     answers: dict[str, list[accepted.Answer]]) -> dict[str, _Likes]:
    """Every accepted answer scores as its manifest declares (stages/accepted/, a finding otherwise)."""
    jobs = [(spec, a) for spec in specs for a in answers.get(spec.slug, [])]
    likes = {spec.slug: _Likes() for spec in specs if answers.get(spec.slug)}
    if not jobs:
        return likes
    with run.session(run.course, seed) as grader, ThreadPoolExecutor(max_workers=max(1, run.workers)) as pool:
        results = list(pool.map(lambda job: accepted.grade(grader, *job), jobs))
        for slug, stage in zip(likes, [grader.grade_stage(run.course.reference, grader.course.find(s)) for s in likes]):
            likes[slug].reference = _got(stage)
    for (spec, answer), result in zip(jobs, results):
        run.checks[spec.slug].findings += accepted.findings(answer, result, run.lang)
        if result.status == "passed":
            likes[spec.slug].answers[answer.name] = _got(result)
    return likes


def _hidden_checks(spec: StageSpec, lang: str) -> list[str]:
    """A hidden case must draw a different input for each of HIDDEN_SEEDS seeds."""
    out = []
    for i, case in enumerate(spec.cases):
        if not case.hidden:
            continue
        draws = {repr(draw_inputs(case, seed, spec.number, i, 0)) for seed in range(1, HIDDEN_SEEDS + 1)}
        if len(draws) < HIDDEN_SEEDS:
            out.append(lt(lang, "hidden_repeats", case=case.name, distinct=len(draws), n=HIDDEN_SEEDS))
    return out


# -- mutants ----------------------------------------------------------------------------------

def stage_mutants(course: Course, spec: StageSpec) -> list[Mutant]:
    """Every mutant of the code a student writes that the stage's calls reach."""
    source = (course.reference / spec.file).read_text(encoding="utf-8")
    template_file = course.template / spec.file
    template = template_file.read_text(encoding="utf-8") if template_file.is_file() else None
    names: set[str] = set()
    driver = course.driver_file(spec)
    driver_tree = ast.parse(driver.read_text(encoding="utf-8")) if driver else None
    for case in spec.cases:
        call = ast.parse(case.call, mode="eval")
        names |= identifiers(call)
        for node in ast.walk(call):
            if driver_tree and isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "driver":
                names |= _driver_names(driver_tree, node.attr)
    return mutants(source, spec.file, names, template)


def _driver_names(tree, name: str, seen: Optional[set[str]] = None) -> set[str]:
    """Identifiers a driver function uses, following calls to the driver's own functions."""
    seen = seen if seen is not None else set()
    seen.add(name)
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            found = identifiers(node)
            out |= found
            for other in found - seen:
                out |= _driver_names(tree, other, seen)
    return out


def _fast_course(course: Course, walls: dict[str, float]) -> Course:
    """The course with each stage's time limit cut to what its reference needs (mutants may loop)."""
    stages = []
    for spec in course.stages:
        limit = min(spec.limits.time_s, max(MUTANT_MIN_TIME_S, MUTANT_TIME_FACTOR * walls.get(spec.slug, 0.0)))
        stages.append(replace(spec, limits=replace(spec.limits, time_s=limit)))
    return Course(root=course.root, stages=tuple(stages))


def _equivalent(spec: StageSpec, mutant: Mutant) -> bool:
    added = [line[1:].strip() for line in mutant.diff.splitlines() if line.startswith("+") and
             not line.startswith("+++")]
    return any(entry == mutant.id or entry.strip() in added for entry in spec.equivalent_mutants)


def _mutation_checks(run: _Run, specs: list[StageSpec], seed: int, cap: int, walls: dict[str, float],
                     likes: Optional[dict[str, _Likes]] = None) -> None:
    jobs = []
    for spec in specs:
        found = stage_mutants(run.course, spec)
        check = run.checks[spec.slug]
        check.generated, check.cap = len(found), (cap if 0 < cap < len(found) else 0)
        jobs += [(spec, m) for m in sample(found, cap, seed=spec.number)]
    results: list[MutantResult] = []
    if jobs:
        with tempfile.TemporaryDirectory(prefix="grade-mutants-") as tmp, \
                run.session(_fast_course(run.course, walls), seed) as grader:
            def grade_one(k: int) -> MutantResult:
                spec, mutant = jobs[k]
                return _grade_mutant(grader, run.course, Path(tmp) / str(k), spec, mutant,
                                     (likes or {}).get(spec.slug, _Likes()))

            with ThreadPoolExecutor(max_workers=max(1, run.workers)) as pool, _bar(run, len(jobs)) as bar:
                futures = [pool.submit(grade_one, k) for k in range(len(jobs))]
                for f in as_completed(futures):
                    bar.update(1)
                results = [f.result() for f in futures]
    for (spec, _), res in zip(jobs, results):
        run.checks[spec.slug].mutants.append(res)
    for spec in specs:
        _summarise_mutants(spec, run.checks[spec.slug], run.lang)


def _bar(run: _Run, total: int):
    """A tqdm bar counting the mutants graded, shown only when run.progress is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, file=run.progress, disable=None if run.progress is not None else True,
                desc=lt(run.lang, "progress_mutants", n=total, s="" if total == 1 else "s"),
                unit="", leave=False, dynamic_ncols=True)


def _grade_mutant(grader: Grader, course: Course, work: Path, spec: StageSpec, mutant: Mutant,
                  likes: Optional[_Likes] = None) -> MutantResult:
    """Grade one mutant workspace (the reference folder with the mutated file) in the shared session."""
    shutil.copytree(course.reference, work, ignore=shutil.ignore_patterns("__pycache__"))
    (work / spec.file).write_text(mutant.source, encoding="utf-8")
    try:
        stage = grader.grade_stage(work, grader.course.find(spec.slug))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = next((c for c in stage.cases if c.status != "passed"), None)
    killed = stage.status != "passed"
    like = "" if killed else (likes or _Likes()).like(_got(stage))
    return MutantResult(mutant, killed=killed, by=f"{bad.name}: {bad.message}" if bad else stage.message,
                        hint=bad.hint if bad else None, like=like,
                        equivalent=not killed and (bool(like) or _equivalent(spec, mutant)))


def _summarise_mutants(spec: StageSpec, check: StageCheck, lang: str) -> None:
    """Findings for survivors and stale equivalent entries; notes for error-pattern mistakes."""
    if not check.mutants:
        check.notes.append(lt(lang, "no_mutants"))
    for res in check.survivors:
        check.findings.append(lt(lang, "mutant_survives", id=res.mutant.id))
    check.notes += [lt(lang, "mutant_like_accepted", id=r.mutant.id, answer=r.like) for r in check.mutants if r.like]
    if not check.cap:  # with a sample, an entry's mutant may just not have been drawn
        for entry in spec.equivalent_mutants:
            one = replace(spec, equivalent_mutants=[entry])
            if not any(r.equivalent and _equivalent(one, r.mutant) for r in check.mutants):
                check.findings.append(lt(lang, "equivalent_stale", entry=entry))
    _error_mistake_notes(spec, check, lang)


def _error_mistake_notes(spec: StageSpec, check: StageCheck, lang: str) -> None:
    """Which mutant, if any, shows each error-pattern mistake's hint."""
    hints = {r.hint: r.mutant.id for r in check.mutants if r.hint}
    for mistake in [m for case in spec.cases for m in case.mistakes if m.error is not None]:
        shown = hints.get(mistake.hint.get(lang))
        note = lt(lang, "mistake_seen" if shown else "mistake_unchecked", mistake=mistake.name, mutant=shown)
        if note not in check.notes:
            check.notes.append(note)
