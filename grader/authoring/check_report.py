"""`grade check-course`'s report: terminal text and a self-contained HTML page (jinja2, escaped)."""

from __future__ import annotations

from functools import lru_cache

from grader.authoring.sentences import lt
from grader.authoring.check_course import CourseCheck, StageCheck


def score_line(stage: StageCheck, lang: str) -> str:
    if stage.score is None:
        return ""
    graded = [m for m in stage.mutants if not m.equivalent]
    return lt(lang, "mutation_score", score=f"{stage.score:.0%}", killed=sum(m.killed for m in graded),
              graded=len(graded), s=_s(len(graded)),
              equivalent=len(stage.mutants) - len(graded), total=stage.generated,
              capped=lt(lang, "capped", cap=stage.cap) if stage.cap else "")


def summary(result: CourseCheck) -> str:
    lang = result.lang
    if result.ok:
        return lt(lang, "summary_ok", n=len(result.stages), s=_s(len(result.stages)), seconds=result.duration_s)
    bad = sum(bool(s.findings) for s in result.stages) + bool(result.findings)
    return lt(lang, "summary_bad", findings=result.n_findings, s=_s(result.n_findings), stages=bad,
              n=len(result.stages), seconds=result.duration_s)


def _s(n: int) -> str:
    """The English plural ending of a count (the catalog's {s}; other languages drop it)."""
    return "" if n == 1 else "s"


def render_text(result: CourseCheck, verbose: bool = False) -> str:
    """Findings with the surviving mutants' diffs; notes only with verbose."""
    lang = result.lang
    out = [f"FINDING {f}" for f in result.findings]
    for stage in result.stages:
        mark = "ok  " if not stage.findings else "FAIL"
        line = score_line(stage, lang)
        out.append(f"{mark} {stage.number:>2} {stage.slug:<20} {line}")
        for finding in stage.findings:
            out.append(f"       - {finding}")
        for res in stage.survivors:
            out += ["         " + d for d in res.mutant.diff.rstrip("\n").splitlines()]
        if verbose:
            out += [f"       . {n}" for n in stage.notes]
    out.append(summary(result))
    return "\n".join(out)


@lru_cache(maxsize=1)
def _template():
    from grader.templates import template

    return template("lint_report.html.j2")


def render_html(result: CourseCheck) -> str:
    lang = result.lang
    words = {k: lt(lang, k) for k in ("title", "findings", "notes", "survivors", "killed_by", "mutants", "equivalent",
                                       "survives", "seeds")}
    return _template().render(result=result, lang=lang, w=words, summary=summary(result),
                              score_line=lambda s: score_line(s, lang))
