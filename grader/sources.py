"""Student files as they are handed in, turned into the module a stage imports.

Host side, pure file work, run on the prepared copy of a submission before it goes into the
sandbox (and on the submission itself to read the notes and the line map):

- a Jupyter notebook with the same stem stands in for the file (``activation.ipynb`` for
  ``activation.py``): its code cells in order, read with nbformat; IPython magics
  (``%...``), shell lines (``!...``) and cells run under a cell magic (``%%...``) are
  dropped, each drop recorded as a note; a line map turns a line of the generated file
  into "cell N, line M";
- encodings as students save them: UTF-8 with or without a BOM, CRLF, GBK (decoded as
  GB18030 with a note, never a crash); the file the run imports is always UTF-8 with LF;
- a name in a different case (``Activation.py``) is used, with a note naming the file the
  stage expects.

Nothing here runs student code. A notebook is JSON; nbformat parses it and nothing else.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from grader.fsutil import read_bounded
from grader.limits import PLATFORM
from grader.messages import t

NOTEBOOK = ".ipynb"
MAX_BYTES = PLATFORM.source_bytes  # a student file larger than this is not read (the copy is capped anyway)
SHOWN = 60  # characters of a dropped line quoted in a note
NEAR_CUTOFF = 0.85  # difflib ratio above which a file name is taken for a misspelling of another
MAX_CELLS = 5000  # cells of a notebook read (a real one has a few hundred at most)
NOTES_KEPT = 10  # notes about dropped lines kept per file; one more says how many others there were


@dataclass(frozen=True)
class Note:
    """Something the grader changed or assumed while reading a file: a catalog key and its values."""

    key: str
    params: tuple = ()  # (name, value) pairs, so that a Note is hashable

    def text(self, lang: str) -> str:
        return t(lang, self.key, **dict(self.params))


def note(key: str, **params) -> Note:
    return Note(key, tuple(sorted(params.items())))


@dataclass
class Source:
    """A stage file as read: its text (None when unreadable), notes, and the line map of a notebook."""

    path: Path
    text: Optional[str]
    notes: list[Note] = field(default_factory=list)
    cells: Optional[list[tuple[int, int]]] = None  # generated line i+1 -> (cell number, line in the cell)
    handed_in: Optional[str] = None  # the name the student gave the file, when not path.name

    @property
    def name(self) -> str:
        """The file's name as the student handed it in (``homework.ipynb``), for every message."""
        return self.handed_in or self.path.name

    def location(self, line: Optional[int]) -> Optional[tuple[int, int]]:
        """(cell, line) in the notebook for a line of the generated file, or None for a .py file."""
        if self.cells is None or not line or not 0 < line <= len(self.cells):
            return None
        return self.cells[line - 1]

    def where(self, line: Optional[int], lang: str) -> str:
        """The " (line N)" or " (cell N, line M)" suffix of a message; empty without a line."""
        if not line:
            return ""
        loc = self.location(line)
        if loc is None:
            return t(lang, "at_line", line=line)
        return t(lang, "at_cell_line", cell=loc[0], line=loc[1])


# -- finding the file ---------------------------------------------------------------------------

def find_source(folder: Path, filename: str) -> Optional[Path]:
    """The student's file for `filename`: itself, a notebook of the same stem, or either in another case."""
    folder = Path(folder)
    notebook = Path(filename).stem + NOTEBOOK
    for name in (filename, notebook):
        if (folder / name).is_file():
            return folder / name
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())
    except OSError:
        return None
    for wanted in (filename.lower(), notebook.lower()):
        for path in entries:
            if path.name.lower() == wanted:
                return path
    return None


def _near_key(name: str) -> str:
    """A file name as a near miss is compared: lower case, no spaces."""
    return re.sub(r"\s+", "", name.lower())


def near_miss(folder: Path, filename: str, taken: Iterable[str] = ()) -> Optional[str]:
    """A file in `folder` whose name is close to `filename` (or its notebook) but not it:
    ``activation .py``, ``activations.py``, ``Activation.PY``. None when nothing is close.
    Files named in `taken` (other stages' files) are never proposed."""
    try:
        names = sorted(p.name for p in Path(folder).iterdir() if p.is_file() and not p.is_symlink())
    except OSError:
        return None
    others = {_near_key(x) for x in taken if x != filename}
    keys = {_near_key(n): n for n in names if _near_key(n) not in others}
    for wanted in (filename, Path(filename).stem + NOTEBOOK):
        close = difflib.get_close_matches(_near_key(wanted), list(keys), n=1, cutoff=NEAR_CUTOFF)
        if close:
            return keys[close[0]]
    return None


def missing_file_advice(folder: Path, filename: str, lang: str, taken: Iterable[str] = ()) -> str:
    """" - found X: did you mean FILE?" after "FILE was not found", or nothing."""
    found = near_miss(folder, filename, taken)
    return t(lang, "did_you_mean_file", found=found, expected=filename) if found else ""


# -- decoding -------------------------------------------------------------------------------------

def decode_source(data: bytes, name: str) -> tuple[str, list[Note]]:
    """Text of a file: UTF-8 (a BOM is dropped), else GB18030 (a superset of GBK) with a note.

    Line endings become LF. Never raises: bytes no codec reads become U+FFFD, with a note.
    """
    notes: list[Note] = []
    try:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its BOM (Notepad's "Unicode")
            text = data.decode("utf-16")
            notes.append(note("note_utf16", file=name))
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
            notes.append(note("note_gbk", file=name))
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            notes.append(note("note_undecodable", file=name))
    return text.replace("\r\n", "\n").replace("\r", "\n"), notes


# -- notebooks --------------------------------------------------------------------------------------

def _quote(line: str) -> str:
    line = line.strip()
    return line if len(line) <= SHOWN else line[: SHOWN - 3] + "..."


def _cell_lines(cell_no: int, source: str, notes: list[Note]) -> list[tuple[str, int]]:
    """The Python lines of one code cell with their line numbers in the cell; drops noted."""
    lines = source.split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        notes.append(note("note_cell_magic", cell=cell_no, magic=_quote(first.split()[0])))
        return []
    kept = []
    for i, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            key = "note_magic" if stripped.startswith("%") else "note_shell"
            notes.append(note(key, cell=cell_no, line=i, code=_quote(stripped)))
            line = line[: len(line) - len(stripped)] + "pass"  # keeps a block that held only this line valid
        kept.append((line, i))
    return kept


def _notebook_cells(text: str) -> list:
    """The cells of a notebook. Format 4 (every notebook since 2015) is plain JSON, read here;
    older formats are converted by nbformat. Never nbformat's schema validation, which takes
    minutes on a hostile notebook of 60,000 cells: each cell's fields are checked as they are used."""
    import json

    nb = json.loads(text)
    if not isinstance(nb, dict):
        raise ValueError("it is not a JSON object")
    if not isinstance(nb.get("nbformat"), int) or nb["nbformat"] < 4:
        import nbformat
        from nbformat import reader

        nb = nbformat.convert(reader.reads(text), 4)
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("it has no list of cells")
    return cells


def _cell_text(cell) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(map(str, source)) if isinstance(source, list) else str(source)


def notebook_source(text: str, name: str) -> tuple[Optional[str], list[Note], list[tuple[int, int]]]:
    """(Python text, notes, line map) of a notebook's code cells; text None when it cannot be read.
    Past MAX_CELLS cells the rest is left out, with a note; past NOTES_KEPT notes, one says how many more."""
    try:
        all_cells = _notebook_cells(text)
    except Exception as exc:  # nbformat raises many kinds (JSON, schema, version): all mean unreadable
        return None, [note("note_notebook_unreadable", file=name, why=_quote(str(exc)))], []
    notes = [note("note_notebook", file=name)]
    if len(all_cells) > MAX_CELLS:
        notes.append(note("note_notebook_cells", file=name, n=len(all_cells), kept=MAX_CELLS))
    out: list[str] = []
    cells: list[tuple[int, int]] = []
    dropped: list[Note] = []
    for cell_no, cell in enumerate(all_cells[:MAX_CELLS], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_text(cell)
        for line, line_no in _cell_lines(cell_no, source, dropped):
            out.append(line)
            cells.append((cell_no, line_no))
        out.append("")  # a blank line between cells, mapped to the cell's end
        cells.append((cell_no, max(1, len(source.split("\n")))))
    return "\n".join(out) + "\n", notes + capped(dropped), cells


def capped(notes: list[Note], keep: int = NOTES_KEPT) -> list[Note]:
    """The first `keep` notes, then one saying how many more there were ("and 179,990 more")."""
    if len(notes) <= keep:
        return notes
    return notes[:keep] + [note("note_more", n=f"{len(notes) - keep:,}")]


# -- the whole step -------------------------------------------------------------------------------

def read_source(folder: Path, filename: str, handed_in: Optional[dict[str, str]] = None) -> Optional[Source]:
    """The stage file `filename` as the run will import it, or None when the submission has none.
    `handed_in`: {name in the folder: name the student gave it} for a lone file placed under its
    stage's name (``homework.ipynb`` graded as ``activation.ipynb``): messages use the student's."""
    path = find_source(folder, filename)
    if path is None:
        return None
    shown = (handed_in or {}).get(path.name)
    name = shown or path.name
    notes: list[Note] = []
    notebook = Path(filename).stem + NOTEBOOK
    if path.name not in (filename, notebook):
        expected = notebook if path.suffix.lower() == NOTEBOOK else filename
        notes.append(note("note_case", found=path.name, expected=expected))
    data = read_bounded(path, MAX_BYTES)  # a FIFO or a 100 GB sparse file: never a hang or MemoryError
    if data is None:
        return None
    text, decode_notes = decode_source(data, name)
    notes += decode_notes
    if path.suffix.lower() != NOTEBOOK:
        return Source(path, text, notes, handed_in=shown)
    code, nb_notes, cells = notebook_source(text, name)
    return Source(path, code, notes + nb_notes, cells, handed_in=shown)


def prepare_sources(folder: Path, expected_files: Iterable[str]) -> list[Note]:
    """Rewrite each expected file of a submission copy as the UTF-8 module the run imports.

    Run on the copy only: the student's folder is never written. Returns the notes.
    """
    notes: list[Note] = []
    for filename in sorted(set(expected_files)):
        source = read_source(Path(folder), filename)
        if source is None:
            continue
        notes += source.notes
        if source.text is not None:
            write_module(Path(folder), filename, source.text)
    return notes


def write_module(folder: Path, filename: str, text: str) -> None:
    """`filename` in `folder` (a submission's copy) as the UTF-8 module the run imports."""
    target = Path(folder) / filename
    if not target.is_dir() and not target.is_symlink():
        target.write_text(text, encoding="utf-8", newline="\n")


# -- a single file handed in ------------------------------------------------------------------------

def single_file_name(path: Path, stage_files: Iterable[str]) -> Optional[str]:
    """The name a lone file takes in a submission folder, or None when no stage file fits.

    Its own name when it is a stage file or that file's notebook (in any case); otherwise,
    when exactly one stage file is asked for, that file's name (``.ipynb`` kept).
    """
    files = sorted(set(stage_files))
    suffix = NOTEBOOK if Path(path).suffix.lower() == NOTEBOOK else ".py"
    for filename in files:
        wanted = Path(filename).stem + suffix
        if Path(path).name.lower() == wanted.lower():
            return wanted
    if len(files) == 1:
        return Path(files[0]).stem + suffix
    return None
