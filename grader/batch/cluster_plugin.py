"""The Dask worker plugin that keeps one warm Grader per worker process (see grader.batch.cluster).

Imported only where Dask is in use: by the client when it connects, and by the workers
when the plugin arrives.
"""

from __future__ import annotations

from typing import Any, Optional

from distributed import WorkerPlugin

from grader.batch.warm_graders import WarmGraders


class WarmGradersPlugin(WorkerPlugin):
    """Sets up the worker's Graders on start and closes them (and their fork servers) on exit."""

    idempotent = True  # a later batch's registration keeps the Graders already warm

    def __init__(self) -> None:
        self.graders: Optional[WarmGraders] = None

    def setup(self, worker: Any) -> None:
        self.graders = WarmGraders()

    def teardown(self, worker: Any) -> None:
        if self.graders is not None:
            self.graders.close()
