"""Similarity between students' files, for `grade batch --similarity`: a signal for a human.

Uses copydetect (winnowing over token k-grams in the spirit of MOSS; identifiers and comments
are normalised away, so renamed variables and reordered functions still match). The
template's code is boilerplate: its fingerprints never count.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from grader.authoring.sentences import lt
from grader.contents import Contents, walk
from grader.fsutil import read_bounded
from grader.sources import MAX_BYTES, decode_source

NOISE_T = 25  # copydetect's defaults: no match shorter than 25 tokens counts ...
GUARANTEE_T = 30  # ... and every match of 30 tokens or more is found
THRESHOLD = 0.6


@dataclass
class Pair:
    file: str
    a: str
    b: str
    score: float  # the larger of the two shares of copied code
    share_a: float
    share_b: float
    html_a: str  # the code, escaped, with the matching regions in <mark>
    html_b: str


def _stable_kgrams(string: str, k: int):
    """The hashes of every k-gram, the same in every process: copydetect's own use Python's
    hash(), which PYTHONHASHSEED changes from run to run (and with it the winnowed fingerprints)."""
    import numpy as np

    grams = (string[i:i + k].encode("utf-8", "surrogatepass") for i in range(len(string) - k + 1))
    return np.array([int.from_bytes(hashlib.blake2b(g, digest_size=8).digest(), "little", signed=True)
                     for g in grams], dtype=np.int64)


def _fingerprint(path: Path, boilerplate: Sequence[int], text: str):
    import io

    import copydetect.utils
    from copydetect import CodeFingerprint

    copydetect.utils.hashed_kgrams = _stable_kgrams  # winnow() looks the function up in its module
    return CodeFingerprint(str(path), NOISE_T, GUARANTEE_T - NOISE_T + 1, boilerplate=list(boilerplate),
                           language="python", fp=io.StringIO(text))


def _text(contents: Contents, name: str) -> Optional[str]:
    """The file as the submission's walk kept it (a regular file, not too large), read bounded."""
    entry = contents.file(name)
    if entry is None or entry.size > MAX_BYTES:
        return None
    data = read_bounded(contents.root / name, entry.size)
    return None if data is None else decode_source(data, name)[0]


def _boilerplate(template: Optional[Path], name: str) -> list[int]:
    text = _text(walk(template), name) if template is not None and template.is_dir() else None
    if text is None:
        return []
    return [int(h) for h in _fingerprint(template / name, [], text).hashes]


def _marked(fp, slices) -> str:
    from copydetect.utils import highlight_overlap

    if slices.shape[-1] == 0:
        from markupsafe import escape

        return str(escape(fp.raw_code))
    text, _ = highlight_overlap(fp.raw_code, slices, "<mark>", "</mark>", escape_html=True)
    return text


def find_pairs(students: Sequence[tuple[str, Union[Path, Contents]]], template: Optional[Path], files: Sequence[str],
               threshold: float = THRESHOLD) -> list[Pair]:
    """For each file: the pairs of students whose copies share at least `threshold` of either's code
    (the template's code excluded), most similar first. Each student's files are those the walk of
    their submission kept (grader/contents.py): the same the runs saw."""
    from copydetect import compare_files

    pairs: list[Pair] = []
    walks = [(sid, c if isinstance(c, Contents) else walk(c)) for sid, c in students]
    for name in files:
        boiler = _boilerplate(template, name)
        prints = {}
        for sid, contents in walks:
            text = _text(contents, name)
            if text is not None:
                try:
                    prints[sid] = _fingerprint(contents.root / name, boiler, text)
                except ValueError:
                    continue
        for (a, fa), (b, fb) in itertools.combinations(sorted(prints.items()), 2):
            _, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
            score = float(max(share_a, share_b))
            if score >= threshold:
                pairs.append(Pair(name, a, b, score, float(share_a), float(share_b),
                                  _marked(fa, slices_a), _marked(fb, slices_b)))
    return sorted(pairs, key=lambda p: (p.file, -p.score, p.a, p.b))


def render_page(pairs: Sequence[Pair], files: Sequence[str], threshold: float, lang: str = "en") -> str:
    from markupsafe import Markup

    from grader.templates import template

    groups = [(name, lt(lang, "sim_file", file=name, n=sum(p.file == name for p in pairs), threshold=threshold),
               [p for p in pairs if p.file == name]) for name in files]
    return template("similarity.html.j2").render(
        lang=lang, groups=groups, safe=Markup, title=lt(lang, "sim_title"), signal=lt(lang, "sim_signal"),
        none=lt(lang, "sim_none", threshold=threshold))


def write_similarity(out: Path, students: Sequence[tuple[str, Path]], template: Optional[Path],
                     files: Sequence[str], threshold: float = THRESHOLD, lang: str = "en") -> Path:
    """similarity.html for `students`: (id, their folder or its walk)."""
    pairs = find_pairs(students, template, files, threshold)
    page = out / "similarity.html"
    page.write_text(render_page(pairs, files, threshold, lang), encoding="utf-8")
    return page

