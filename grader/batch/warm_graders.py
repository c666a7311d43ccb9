"""One worker process's warm Graders (grader.batch.cluster): the course loaded, the reference's
results for the batch's seed computed once, the sandbox ready. No Dask here: the plugin
(grader.batch.cluster_plugin) and the task (grader.batch.cluster) both use it."""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional


class WarmGraders:
    """One worker process's warm Graders, by (course, grader, seed, lang, stages)."""

    def __init__(self, keep: int = 2):
        self.keep = keep
        self._graders: "collections.OrderedDict[tuple, Any]" = collections.OrderedDict()
        self._lock = threading.Lock()
        # Submissions are unpacked here. No run may read this machine's worker folders (the
        # sandbox forbids their parent), so no student reads another's, whichever worker has it.
        self.parent = Path(tempfile.gettempdir()) / f"grade-workers-{os.geteuid()}"
        self.parent.mkdir(mode=0o700, exist_ok=True)
        _remove_orphans(self.parent)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=self.parent))

    def get(self, key: tuple, course_dir: Optional[str], seed: int, lang: str) -> Any:
        from grader.engine import Grader
        from grader.sandbox import zygote as zygotes

        with self._lock:
            if key not in self._graders:
                self._graders[key] = grader = Grader(course=course_dir, seed=seed, lang=lang, workers=1,
                                                     forbidden=[self.parent], zygote=zygotes.enabled())
                grader.sandbox.on_demote = lambda folder: None  # the cluster's other workers share the machine
                while len(self._graders) > self.keep:
                    self._graders.popitem(last=False)[1].close()
            self._graders.move_to_end(key)
            return self._graders[key]

    def close(self) -> None:
        with self._lock:
            for grader in self._graders.values():
                grader.close()
            self._graders.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _remove_orphans(parent: Path) -> None:
    """Remove the folders of worker processes that died without tidying up (`worker-PID-*`)."""
    for folder in parent.glob("worker-*-*"):
        try:
            os.kill(int(folder.name.split("-")[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):
            pass
