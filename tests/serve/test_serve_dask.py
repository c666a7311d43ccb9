"""`grade serve --scheduler`: the service's submissions graded on a Dask LocalCluster (the
one of tests/engine/test_cluster.py, 2 worker processes), with the scores the local engine gives."""

from __future__ import annotations

import json
import re
import sys

import httpx
import pytest

from serve_fixtures import ROOT, make_server  # noqa: F401 (fixtures)

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed (pip install -e '.[dask]')")
sys.path.insert(0, str(ROOT / "tests" / "engine"))
from test_cluster import cluster_address  # noqa: E402,F401 (fixture: grade batch's LocalCluster, 2 workers)

from grader.serve.db import sqlite_url  # noqa: E402

ANSWER = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
WRONG = ANSWER.replace("np.exp(-x)", "np.exp(x)")


def _result(server, who: str, code: str) -> dict:
    c = httpx.Client(base_url=server.url, timeout=60)
    page = c.get(f"/s/{who}?token={server.tokens[who]}", follow_redirects=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    sub = c.post(f"/s/{who}/submit", data={"csrf": csrf, "stage": "1", "code": code},
                 headers={"accept": "application/json"}).json()
    got = {}
    with c.stream("GET", sub["url"] + "/events", timeout=300) as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                got[kind] = json.loads(line[6:])
                if kind == "final":
                    break
    return got


def test_submissions_are_graded_on_the_dask_cluster(cluster_address, make_server, tmp_path):
    scheduler = cluster_address
    from conftest import grader_for

    server = make_server(sqlite_url(tmp_path / "serve.sqlite"), ["alice", "bob"], "--scheduler", scheduler).start()
    right, wrong = _result(server, "alice", ANSWER), _result(server, "bob", WRONG)
    assert right["final"] == {"state": "graded", "score": 9.0, "max_score": 9.0, "reason": None}
    assert right["stage"]["status"] == "passed"
    assert wrong["final"]["state"] == "graded"
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "activation.py").write_text(WRONG, encoding="utf-8")
    import sqlalchemy as sa
    from grader.serve.db import connect, settings
    with connect(server.db_url).connect() as conn:
        seed = int(conn.scalar(sa.select(settings.c.value).where(settings.c.key == "seed")))
    local = grader_for(seed).grade(tmp_path / "w", [1])
    assert wrong["final"]["score"] == local.score < 9
    assert [c["status"] for c in wrong["stage"]["cases"]] == [c.status.value for c in local.stages[0].cases]
    with distributed.Client(scheduler, timeout=30) as client:  # the grading happened on the cluster
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "grade_submission" in prefixes
