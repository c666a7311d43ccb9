"""Hints teach; they do not answer (stages.md, "Hints teach").

A hint names the concept, the symptom the grader saw and where to look. It never holds
the code or the constants of the solution. The solution of a stage is what the reference
file has and the student template does not: the reference's code lines that are not
among the template's code lines. Every hint of the course (stage, case and known-mistake
level, English and Chinese) and every message a driver raises or returns is checked
against it:

- no solution line (whitespace ignored), nor the expression an assignment or a `return`
  of such a line computes, when it is longer than a trivial token (>= 12 characters) and
  not part of the template's code (`exact_step(x, p)` is the function's own name);
- no run of 5 code tokens taken from a solution line (a recipe in other spacing, with
  `self.` left out or other names around it) that names something longer than one letter
  (`x + t * p` is the maths of the exercise), unless the template's code has that run too;
- no numeric constant of the solution lines (sign ignored; 0 and 1 and numbers the
  template's code already holds are not the solution's);
- no string constant of the solution lines (e.g. a struct format), unless the template's
  code holds it.

Then: the untouched template gets no hint at all, only "not implemented".
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import ROOT, TEMPLATE, grade_stage
from grader.course.folder import load_course
from grader.engine import torch_available
from grader.messages import t

COURSE = load_course(ROOT)
MIN_LINE = 12
NGRAM = 5
TRIVIAL_NUMBERS = {0.0, 1.0}
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|[^\sA-Za-z0-9_]")
NUMBER_IN_TEXT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)")


# --- the solution of a file: reference code lines the template does not have -------------------


def code_lines(path: Path) -> list[str]:
    """The file's code lines, without comments, docstrings and blank lines, stripped."""
    source = path.read_text(encoding="utf-8")
    skip: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            skip.update(range(node.lineno, node.end_lineno + 1))
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    return [line.strip() for i, line in enumerate(lines, 1) if i not in skip and line.strip()]


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def expressions(line: str) -> list[str]:
    """What an assignment, augmented assignment, return or bare expression on the line computes."""
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return []
    stmt = tree.body[0] if len(tree.body) == 1 else None
    value = getattr(stmt, "value", None) if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Return, ast.Expr)) \
        else None
    return [ast.unparse(value)] if value is not None else []


def constants(lines: list[str]) -> tuple[set[float], set[str]]:
    """Numbers (absolute values) and strings written as literals in these lines."""
    numbers: set[float] = set()
    strings: set[str] = set()
    for line in lines:
        try:
            toks = list(tokenize.generate_tokens(io.StringIO(line + "\n").readline))
        except (tokenize.TokenError, IndentationError):
            continue
        for tok in toks:
            if tok.type == tokenize.NUMBER:
                numbers.add(abs(float(ast.literal_eval(tok.string))))
            elif tok.type == tokenize.STRING and not tok.string.lstrip("rbuRBU").startswith(("f", "F")):
                strings.add(str(ast.literal_eval(tok.string)))
    return numbers, strings


def code_tokens(text: str) -> list[str]:
    """Identifiers, numbers and single symbols, with `self.` left out (a hint writes `a2`, the code `self.a2`)."""
    return TOKEN.findall(re.sub(r"\bself\s*\.\s*", "", text))


def ngrams(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    """Runs of n tokens that name something longer than one letter (`x + t * p` is maths, not code)."""
    runs = {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}
    return {r for r in runs if any(len(tok) > 1 and (tok[0].isalpha() or tok[0] == "_") for tok in r)}


@dataclass
class Solution:
    lines: list[str] = field(default_factory=list)        # compact forms, >= MIN_LINE characters
    grams: set[tuple[str, ...]] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)


@lru_cache(maxsize=None)
def solution(file: str) -> Solution:
    ref, tpl = code_lines(COURSE.reference / file), code_lines(COURSE.template / file)
    left = Counter(compact(x) for x in tpl)
    new = []
    for line in ref:
        if left[compact(line)] > 0:
            left[compact(line)] -= 1
        else:
            new.append(line)
    given = "\n".join(compact(x) for x in tpl)
    out = Solution()
    for line in new:
        for text in (line, *expressions(line)):
            text = compact(text)
            if len(text) >= MIN_LINE and not re.fullmatch(r"return\w+", text) and text not in given:
                out.lines.append(text)
    template_grams = set().union(*(ngrams(code_tokens(x)) for x in tpl))
    out.grams = set().union(*(ngrams(code_tokens(x)) for x in new)) - template_grams
    numbers, strings = constants(new)
    given_numbers, given_strings = constants(tpl)
    out.numbers = numbers - given_numbers - TRIVIAL_NUMBERS
    out.strings = {s for s in strings - given_strings if len(s) >= 3}
    return out


# --- every text a student may read as a hint ------------------------------------------------------


def spec_hints(spec) -> list[tuple[str, str]]:
    """(where, text) for the stage's hint, its cases' hints and its known mistakes' hints, en and zh."""
    found = []

    def add(where, text):
        if text is not None:
            found.extend([(f"{where} [en]", text.en), (f"{where} [zh]", text.zh)])

    add(f"{spec.path.name}: hint", spec.hint)
    for case in spec.cases:
        add(f"{spec.path.name}: {case.name}: hint", case.hint)
        for mistake in case.mistakes:
            add(f"{spec.path.name}: {case.name}: mistake {mistake.name}", mistake.hint)
    return found


def driver_messages(path: Path) -> list[tuple[str, str]]:
    """String constants of what a driver raises, and of its message tables (names ending in MESSAGES)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = [n.exc for n in ast.walk(tree) if isinstance(n, ast.Raise) and n.exc is not None]
    roots += [n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
              and any(isinstance(tg, ast.Name) and tg.id.endswith("MESSAGES") for tg in n.targets)]
    found = []
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 1:
                found.append((f"{path.name}:{node.lineno}", node.value))
    return found


DRIVERS_CHECKED_ELSEWHERE: set[str] = set()  # every driver's messages follow the rule


def all_texts():
    """(stage file, where, text) for every hint and driver message of the course."""
    out = []
    for spec in COURSE.stages:
        out += [(spec.file, where, text) for where, text in spec_hints(spec)]
        if spec.driver and spec.driver not in DRIVERS_CHECKED_ELSEWHERE:
            out += [(spec.file, where, text) for where, text in driver_messages(COURSE.driver_file(spec))]
    return out


def problems(file: str, text: str) -> list[str]:
    """What of the solution of `file` this text gives away."""
    sol = solution(file)
    out = [f"holds the solution code {line!r}" for line in sol.lines if line in compact(text)]
    grams = ngrams(code_tokens(text)) & sol.grams
    out += [f"holds the solution's code tokens {' '.join(g)!r}" for g in sorted(grams)[:1]]
    for number in NUMBER_IN_TEXT.findall(text):
        if abs(float(number)) in sol.numbers:
            out.append(f"holds the solution's constant {number}")
    out += [f"holds the solution's string {s!r}" for s in sorted(sol.strings)
            if (f"'{s}'" in text or f'"{s}"' in text) or (re.search(r"\W", s) and s in text)]
    return out


# --- the checker itself --------------------------------------------------------------------------


def test_the_solution_of_a_file_is_what_the_template_leaves_out():
    sol = solution("mp_neuron.py")
    assert "y=f(np.dot(x,w)+b)" in sol.lines
    assert "f(np.dot(x,w)+b)" in sol.lines            # the expression of the assignment
    assert 1.5 in sol.numbers and 0.0 not in sol.numbers
    assert not any("np.array([[0,0]" in line for line in sol.lines)   # given by the template
    assert ">iiii" in solution("mnist_idx.py").strings
    assert 4.0 in solution("steepest_descent.py").numbers
    assert 2.0 not in solution("steepest_descent.py").numbers          # the template's func has it


@pytest.mark.parametrize("file, text", [
    ("mp_neuron.py", "any w, b that realise AND are right, e.g. w = [1, 1], b = -1.5."),
    ("mp_neuron.py", "b = 1.5 works"),
    ("activation.py", "ReLU(x) = np.where(x > 0, x, 0.0)"),
    ("data_split.py", "use   train_basket.append( dataset_copy.pop(random_choose) )"),
    ("l2_regularization.py", "每次: optimizer.zero_grad()、output = network(data)、loss = F.nll_loss(output, target)"),
    ("mnist_idx.py", "read the header with '>iiii'"),
    ("tinynet.py", "conv1 = Convolution(W, b, stride=1, pad=1)"),
    ("digits_network.py", "Compute a1 = X.T, z2 = W1.a1 + b1, a2 = relu(z2) and take the argmax"),
])
def test_the_checker_catches_answers(file, text):
    assert problems(file, text)


@pytest.mark.parametrize("file, text", [
    ("mp_neuron.py", "Only the input (1, 1) may fire; check the sign of your threshold b."),
    ("steepest_descent.py", "f(x) = 2*x1^2 + x2^2: differentiate each term (the docstring has f)."),
    ("data_split.py", "Draw indexes with randrange into the copy and move items with pop."),
    ("mnist_idx.py", "idx headers are big-endian 32-bit integers: see the struct format characters."),
])
def test_the_checker_lets_teaching_through(file, text):
    assert problems(file, text) == []


# --- the course -------------------------------------------------------------------------------------


def test_the_course_has_hints_to_check():
    texts = all_texts()
    assert len(texts) > 100
    assert {f for f, _, _ in texts} >= {s.file for s in COURSE.stages if s.hint or any(c.hint for c in s.cases)}


def test_no_hint_gives_the_solution_away():
    bad = [f"{where}: {why}\n    {text}" for file, where, text in all_texts() for why in problems(file, text)]
    assert not bad, "hints that give the answer away:\n" + "\n".join(bad)


# --- hints only for what happened ----------------------------------------------------------------------


@pytest.mark.parametrize("spec", COURSE.stages, ids=lambda s: s.slug)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_untouched_template_gets_not_implemented_and_no_hint(spec, lang):
    if "torch" in spec.requires and not torch_available():
        pytest.skip("needs torch")
    stage = grade_stage(TEMPLATE, spec.number, lang=lang, run_templates=True)  # what its run says
    assert stage["score"] == 0
    head = re.split("[:：]", t(lang, "not_implemented", where=""))[0]   # "not implemented yet"
    for case in stage["cases"]:
        assert case["status"] == "error", case
        assert head in case["message"], case
        assert not case.get("hint"), case


def test_a_missing_class_is_told_so_without_advice(sub):
    text = (ROOT / "reference" / "early_stopping.py").read_text(encoding="utf-8")
    stage = grade_stage(sub({"early_stopping.py": text.replace("EarlyStopping", "EarlyStop")}), "early-stopping")
    assert COURSE.find("early-stopping").hint is not None        # a stage hint that must not show here
    missing = [c for c in stage["cases"] if "does not define 'EarlyStopping'" in c["message"]]
    assert len(missing) >= 5 and not any(c["hint"] for c in missing)


def test_data_split_returning_nothing_is_not_told_it_changed_the_callers_list(sub):
    text = (ROOT / "reference" / "data_split.py").read_text(encoding="utf-8")
    text = text.replace("    return train_basket, dataset_copy\n", "    pass\n")
    stage = grade_stage(sub({"data_split.py": text}), "data-split")
    statuses = {c["name"]: c["status"] for c in stage["cases"]}
    assert statuses["caller-unchanged"] == "passed"          # that case looks at the caller's list only
    assert statuses["partition"] == statuses["seed-example"] == "error"


def test_a_real_failure_still_gets_its_case_hint(sub):
    text = (ROOT / "reference" / "data_split.py").read_text(encoding="utf-8")
    stage = grade_stage(sub({"data_split.py": text.replace("list(dataset)", "dataset")}), "data-split")
    unchanged = next(c for c in stage["cases"] if c["name"] == "caller-unchanged")
    assert unchanged["status"] == "failed" and "copy the template makes" in unchanged["hint"]
