"""`grade batch CLASS_DIR`: grade a whole class, write a gradebook and a class overview.

CLASS_DIR holds one entry per student: a folder (as GitHub Classroom's assistant, an LMS
export or a plain copy leaves it), a `.zip` file (unpacked safely, see `unpack`) or a lone
`.py`/`.ipynb` file; stage files are found as `grade <folder>` finds them.
Students are graded in parallel by one shared `Grader` (so the whole class shares one
seed and the reference's expected values are computed once). Every student gets a row,
whatever their code does; Ctrl-C keeps what finished.

Modules: discover (students and the folder to grade), unpack (safe zips), cache (content
hashes), workers (worker threads), rows (gradebook rows, statuses and reasons), complete
(one denominator), progress, gradebook (csv, json, student pages), overview (index.html),
similarity, run (BatchRun, run_batch), cli. A student's typed `Report` goes from the grader
(or the cache) to every output; it is serialised only where a file holds it.

Outputs in --out: gradebook.csv, gradebook.json, students/<id>.html, index.html, and
.cache/ (one file per student, keyed by content hashes, so a re-run regrades only what
changed).
"""

from grader.batch.cli import main, register, run
from grader.batch.discover import Student, discover
from grader.batch.rows import summarize
from grader.batch.run import BatchResult, BatchRun, run_batch

__all__ = ["register", "run", "main", "run_batch", "BatchRun", "BatchResult", "Student", "discover", "summarize"]
