"""Similarity between students' files, for `grade batch --similarity`: a signal for a human.

Uses copydetect (winnowing over token k-grams in the spirit of MOSS; identifiers and comments
are normalised away, so renamed variables and reordered functions still match). The
template's lines are not the student's: they are taken out of each file before it is
fingerprinted (lines the file shares with the template, in order, as difflib aligns them), so
they neither count in a share nor show as matching. k-grams are hashed with a stable hash, so
the pairs are the same in every process (copydetect's own hash() depends on PYTHONHASHSEED).

The page opens with a ranked table of the pairs above the threshold (pair, file and stages,
share, link); each pair's code is one <details> away, for the first DETAILED pairs only, each
side cut at SHOWN_LINES lines: the page stays small for a large class.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from markupsafe import Markup, escape

from grader.authoring.sentences import lt
from grader.contents import Contents, walk
from grader.fsutil import read_bounded
from grader.sources import MAX_BYTES, decode_source

NOISE_T = 25  # copydetect's defaults: no match shorter than 25 tokens counts ...
GUARANTEE_T = 30  # ... and every match of 30 tokens or more is found
THRESHOLD = 0.6
DETAILED = 40       # pairs whose code the page holds (the table lists every pair)
SHOWN_LINES = 400   # lines of each side's code shown


@dataclass
class Pair:
    file: str
    a: str
    b: str
    score: float  # the larger of the two shares of the students' own code
    share_a: float
    share_b: float
    html_a: str  # the whole file, escaped, the matching lines (never the template's) in <mark>
    html_b: str


@dataclass
class OwnCode:
    """A student's file and which of its lines are their own (not the template's)."""

    lines: list[str]
    own: list[bool]

    @property
    def text(self) -> str:
        """The file with the template's lines blanked: line numbers are kept."""
        return "".join(line if mine else "\n" for line, mine in zip(self.lines, self.own))


def own_code(text: str, template: Optional[str]) -> OwnCode:
    lines = text.splitlines(keepends=True)
    own = [bool(line.strip()) for line in lines]
    if template:
        tmpl = [line.strip() for line in template.splitlines()]
        matcher = difflib.SequenceMatcher(None, tmpl, [line.strip() for line in lines], autojunk=False)
        for block in matcher.get_matching_blocks():
            for i in range(block.b, block.b + block.size):
                own[i] = False
    return OwnCode(lines, own)


def _stable_kgrams(string: str, k: int):
    """The hashes of every k-gram, the same in every process: copydetect's own use Python's
    hash(), which PYTHONHASHSEED changes from run to run (and with it the winnowed fingerprints)."""
    import numpy as np

    grams = (string[i:i + k].encode("utf-8", "surrogatepass") for i in range(len(string) - k + 1))
    return np.array([int.from_bytes(hashlib.blake2b(g, digest_size=8).digest(), "little", signed=True)
                     for g in grams], dtype=np.int64)


def _fingerprint(name: str, text: str):
    import copydetect.utils
    from copydetect import CodeFingerprint

    copydetect.utils.hashed_kgrams = _stable_kgrams  # winnow() looks the function up in its module
    return CodeFingerprint(name, NOISE_T, GUARANTEE_T - NOISE_T + 1, language="python", fp=io.StringIO(text))


def _text(contents: Contents, name: str) -> Optional[str]:
    """The file as the submission's walk kept it (a regular file, not too large), read bounded."""
    entry = contents.file(name)
    if entry is None or entry.size > MAX_BYTES:
        return None
    data = read_bounded(contents.root / name, entry.size)
    return None if data is None else decode_source(data, name)[0]


def _marked_lines(code: OwnCode, slices) -> set[int]:
    """The line numbers (0-based) of the student's own lines that a copied slice covers
    (slices are offsets in `code.text`, where the template's lines are blank)."""
    if getattr(slices, "shape", (0,))[-1] == 0:
        return set()
    ends = list(itertools.accumulate(len(line) if mine else 1 for line, mine in zip(code.lines, code.own)))
    marked: set[int] = set()
    for begin, end in zip(slices[0], slices[1]):
        first = bisect.bisect_right(ends, int(begin))
        last = bisect.bisect_left(ends, int(end))
        marked |= {i for i in range(first, min(last + 1, len(ends))) if code.own[i]}
    return marked


def render_code(code: OwnCode, marked: set[int], lang: str = "en", limit: int = SHOWN_LINES) -> str:
    """The file's first `limit` lines, escaped, each marked line in <mark>."""
    out = []
    for i, line in enumerate(code.lines[:limit]):
        body = str(escape(line.rstrip("\n")))
        out.append(f"<mark>{body}</mark>" if i in marked else body)
    if len(code.lines) > limit:
        out.append(str(escape(lt(lang, "sim_cut", n=len(code.lines) - limit))))
    return "\n".join(out)


def _prints(walks: Sequence[tuple[str, Contents]], name: str, template: Optional[str]) -> dict:
    prints = {}
    for sid, contents in walks:
        text = _text(contents, name)
        if text is None:
            continue
        code = own_code(text, template)
        if not any(code.own):
            continue  # the template alone: nothing of the student's to compare
        try:
            prints[sid] = (code, _fingerprint(name, code.text))
        except (ValueError, UnicodeError):
            continue
    return prints


def find_pairs(students: Sequence[tuple[str, Union[Path, Contents]]], template: Optional[Path],
               files: Sequence[str], threshold: float = THRESHOLD, lang: str = "en") -> list[Pair]:
    """For each file: the pairs of students whose copies share at least `threshold` of either's
    own code (the template's lines taken out), most similar first. Each student's files are those
    the walk of their submission kept (grader/contents.py): the same the runs saw."""
    from copydetect import compare_files

    pairs: list[Pair] = []
    walks = [(sid, c if isinstance(c, Contents) else walk(c)) for sid, c in students]
    template_walk = walk(template) if template is not None and template.is_dir() else None
    for name in files:
        tmpl = _text(template_walk, name) if template_walk is not None else None
        prints = _prints(walks, name, tmpl)
        for (a, (ca, fa)), (b, (cb, fb)) in itertools.combinations(sorted(prints.items()), 2):
            _, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
            score = float(max(share_a, share_b))
            if score >= threshold:
                pairs.append(Pair(name, a, b, score, float(share_a), float(share_b),
                                  render_code(ca, _marked_lines(ca, slices_a), lang),
                                  render_code(cb, _marked_lines(cb, slices_b), lang)))
    return sorted(pairs, key=lambda p: (-p.score, p.file, p.a, p.b))


def render_page(pairs: Sequence[Pair], files: Sequence[str], threshold: float, lang: str = "en",
                stages: Optional[Mapping[str, str]] = None) -> str:
    """The page: the ranked table of every pair, then the first DETAILED pairs' code on demand.
    `stages`: file name -> the stages it holds, as shown."""
    from grader.templates import template

    ranked = sorted(pairs, key=lambda p: (-p.score, p.file, p.a, p.b))
    counts = [lt(lang, "sim_file", file=name, n=sum(p.file == name for p in pairs), threshold=threshold)
              for name in files]
    more = max(len(ranked) - DETAILED, 0)
    return template("similarity.html.j2").render(
        lang=lang, pairs=ranked, detailed=DETAILED, safe=Markup, stages=dict(stages or {}), counts=counts,
        w={k: lt(lang, f"sim_{k}") for k in ("title", "signal", "rank", "pair", "file_col", "share", "open")},
        none=lt(lang, "sim_none", threshold=threshold), more=lt(lang, "sim_more", n=more) if more else "")


def write_similarity(out: Path, students: Sequence[tuple[str, Union[Path, Contents]]], template: Optional[Path],
                     files: Sequence[str], threshold: float = THRESHOLD, lang: str = "en",
                     stages: Optional[Mapping[str, str]] = None) -> Path:
    """similarity.html for `students`: (id, their folder or its walk)."""
    pairs = find_pairs(students, template, files, threshold, lang)
    page = out / "similarity.html"
    page.write_text(render_page(pairs, files, threshold, lang, stages), encoding="utf-8")
    return page
