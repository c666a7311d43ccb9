"""The options every subcommand shares, declared once: `--stage`, `--lang`, `--course`, `--format`.

Each subcommand builds its parser with ``parents=[shared("stage", "lang", ...)]`` so that
``--stage 1,2``, ``--stage 1 2``, ``--stage 1 --stage 2`` and slugs mean the same everywhere,
with the same help text; the parsed stages land in ``args.stages`` as a flat list of words.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Callable

from grader.messages import LANGS

STAGE_HELP = ("stage(s): numbers, slugs, ranges like 1-3; space- or comma-separated, or repeat the option "
              "(default: the stages whose file is present; for init and check-course, every stage)")
FORMATS = ("text", "json", "markdown")


def stage_words(value: str) -> list[str]:
    """``"1,2 tanh"`` -> ``["1", "2", "tanh"]``: one `--stage` value, split into stage references."""
    return [p for p in re.split(r"[\s,]+", value) if p]


class _ExtendWords(argparse.Action):
    """`--stage` values accumulate across repeats, each value split by :func:`stage_words`."""

    def __call__(self, parser, namespace, values, option_string=None):
        chosen = list(getattr(namespace, self.dest, None) or [])
        for value in values:
            chosen += stage_words(value)
        setattr(namespace, self.dest, chosen)


def _stage(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", "--stages", "-s", dest="stages", action=_ExtendWords, nargs="+", default=[],
                   metavar="N|SLUG", help=STAGE_HELP)


def _lang(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=LANGS, default=os.environ.get("GRADE_LANG", "en"),
                   help="language of messages and reports (default: $GRADE_LANG or en)")


def _course(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course", metavar="DIR", default=None,
                   help="course folder (default: $GRADE_COURSE, a student kit around the submission, "
                        "or the bundled course)")


def _format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="text", help="what to print on stdout")


OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "stage": _stage, "lang": _lang, "course": _course, "format": _format,
}


def shared(*names: str) -> argparse.ArgumentParser:
    """A parent parser holding the shared options `names` (keys of OPTIONS), in that order."""
    parent = argparse.ArgumentParser(add_help=False)
    for name in names:
        OPTIONS[name](parent)
    return parent
