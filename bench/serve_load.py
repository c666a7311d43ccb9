"""Load on `grade serve` over loopback: simulated students submit in bursts to a 2-worker server.

    .venv/bin/python bench/serve_load.py [--students 50] [--submissions 400] [--bursts 8]
                                         [--gap 2.0] [--workers 2] [--db URL] [--probe-stage 1]

Starts the real `grade serve` (SQLite in a temporary folder unless --db), signs every
student in with their link, then sends the submissions in bursts (each burst: every student
submits once at the same moment, one of the numpy stages 1-5, one in four a wrong answer),
each followed on its own server-sent-event stream as a browser would. Prints, from the
client's side, p50/p95 from submit to the first case's verdict (streamed while the stage runs),
to the stage's verdicts and to the final result, and checks
from the database that none was lost and none was graded twice (a submission superseded by
the same student's newer one of the same stage while it waited is counted apart). Not a
test: run it on an idle machine; the numbers are the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.course.folder import load_course  # noqa: E402
from grader.serve.db import connect, events, sqlite_url, submissions  # noqa: E402

STAGES = (1, 2, 3, 4, 5)


def answers(stages=STAGES) -> dict[int, tuple[str, str]]:
    """stage -> (its file name, the reference's file): the right answers."""
    course = load_course(str(ROOT))
    return {s.number: (s.file, (ROOT / "reference" / s.file).read_text(encoding="utf-8"))
            for s in course.stages if s.number in stages}


def start(db_url: str, folder: Path, students: int, workers: int, port: int) -> tuple[subprocess.Popen, dict]:
    roster = folder / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"s{i:03d},Student {i}\n" for i in range(students)), encoding="utf-8")
    links = folder / "links.csv"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", str(roster), "--db", db_url, "--port", str(port),
                             "--links", str(links), "--workers", str(workers), "--rate", "100000",
                             "--max-queue", "100000", "--course", str(ROOT)],
                            stdout=open(folder / "server.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    import csv
    tokens = {r["id"]: r["token"] for r in csv.DictReader(links.open(encoding="utf-8")) if r["id"] != "(teacher)"}
    return proc, tokens


async def sign_in(base: str, who: str, token: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=base, timeout=600)
    page = await client.get(f"/s/{who}?token={token}", follow_redirects=True)
    return client, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


async def one(client: httpx.AsyncClient, who: str, csrf: str, stage: int, code: str, out: list) -> None:
    sent = time.perf_counter()
    r = await client.post(f"/s/{who}/submit", data={"csrf": csrf, "stage": str(stage), "code": code},
                          headers={"accept": "application/json"})
    if r.status_code != 201:
        out.append({"refused": r.status_code})
        return
    sub, first, first_case, kind = r.json(), None, None, None
    async with client.stream("GET", sub["url"] + "/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "case" and first_case is None:
                first_case = time.perf_counter() - sent
            elif line.startswith("data: ") and kind == "stage" and first is None:
                first = time.perf_counter() - sent
            elif line.startswith("data: ") and kind == "final":
                out.append({"id": sub["id"], "first_case": first_case, "first": first,
                            "final": time.perf_counter() - sent, "state": json.loads(line[6:])["state"]})
                return


async def warm_probe(base: str, tokens: dict, stage: int = 1, n: int = 5) -> list[dict]:
    """One submission at a time on an idle, warm server: the latency a lone student sees."""
    who = sorted(tokens)[-1]
    client, csrf = await sign_in(base, who, tokens[who])
    file, code = answers((stage,))[stage]
    out: list[dict] = []
    for _ in range(n + 1):  # the first one warms the reference up and is not counted
        await one(client, who, csrf, stage, code, out)
    await client.aclose()
    return out[1:]


async def load(base: str, tokens: dict, args) -> list[dict]:
    right = answers()
    people = sorted(tokens)[: args.students]
    clients = await asyncio.gather(*(sign_in(base, who, tokens[who]) for who in people))
    out: list[dict] = []
    tasks, sent = [], 0
    for burst in range(args.bursts):
        for i, (who, (client, csrf)) in enumerate(zip(people, clients)):
            if sent >= args.submissions:
                break
            stage = STAGES[(burst + i) % len(STAGES)]
            code = right[stage][1]
            if (burst + i) % 4 == 0:
                code = code.replace("return", "return 0 *", 1)  # a wrong answer (or a broken one)
            tasks.append(asyncio.create_task(one(client, who, csrf, stage, code, out)))
            sent += 1
        await asyncio.sleep(args.gap)
    await asyncio.gather(*tasks)
    for client, _ in clients:
        await client.aclose()
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def check(db_url: str, results: list[dict]) -> dict:
    engine = connect(db_url)
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(submissions.c.state, sa.func.count()).group_by(submissions.c.state)).all())
        finals = conn.execute(sa.select(events.c.submission_id, sa.func.count()).where(events.c.kind == "final")
                              .group_by(events.c.submission_id)).all()
    return {"states": states, "finals_per_submission": sorted({n for _, n in finals}),
            "with_a_final": len(finals), "refused": sum(1 for r in results if "refused" in r)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--students", type=int, default=50)
    p.add_argument("--submissions", type=int, default=400)
    p.add_argument("--bursts", type=int, default=8)
    p.add_argument("--gap", type=float, default=2.0, help="seconds between bursts")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--db")
    p.add_argument("--probe-stage", type=int, default=1, help="the stage of the lone warm submissions")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="serve-load-"))
    db_url = args.db or sqlite_url(folder / "serve.sqlite")
    port = 20000 + secrets.randbelow(20000)
    proc, tokens = start(db_url, folder, args.students, args.workers, port)
    try:
        probe = asyncio.run(warm_probe(f"http://127.0.0.1:{port}", tokens, args.probe_stage))
        started = time.perf_counter()
        results = asyncio.run(load(f"http://127.0.0.1:{port}", tokens, args))
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    graded = [r for r in results if r.get("state") == "graded"]
    cases = [r["first_case"] for r in graded if r["first_case"] is not None]
    firsts = [r["first"] for r in graded if r["first"] is not None]
    finals = [r["final"] for r in graded]
    print(f"{len(results)} submissions from {args.students} students in {args.bursts} bursts, "
          f"{args.workers} workers, {wall:.1f} s wall")
    print(f"submit -> first case verdict: p50 {pct(cases, .5):.3f} s  p95 {pct(cases, .95):.3f} s  (n={len(cases)})")
    print(f"submit -> stage verdicts:     p50 {pct(firsts, .5):.3f} s  p95 {pct(firsts, .95):.3f} s  (n={len(firsts)})")
    print(f"submit -> final result:       p50 {pct(finals, .5):.3f} s  p95 {pct(finals, .95):.3f} s  (n={len(finals)})")
    for label, key in (("first case verdict", "first_case"), ("stage verdicts", "first")):
        warm = [r[key] for r in probe if r.get(key) is not None]
        print(f"warm, idle server, one stage-{args.probe_stage} submission at a time: submit -> {label} "
              f"p50 {pct(warm, .5):.3f} s  max {max(warm, default=float('nan')):.3f} s  (n={len(warm)})")
    print(f"mean grading throughput: {len(graded) / wall:.2f} submissions/s")
    print("database:", json.dumps(check(db_url, results)))
    print(f"server log: {folder / 'server.log'}")


if __name__ == "__main__":
    main()
