"""`grade serve [ROSTER.csv] [--course DIR] [--db URL] [--demo]`: the submission service.

Starting it: open (and migrate) the database, issue sign-in links for the roster's new
students, put the jobs that were running when the last server stopped back in the queue,
start the worker process and its supervisor (grader/serve/supervisor.py), then serve HTTP
with uvicorn.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Optional

from grader.messages import LANGS, t


def register(sub) -> None:
    p = sub.add_parser("serve", help="a web service: students submit in the browser, see live results; a live class page")
    p.add_argument("roster", nargs="?", help="a CSV with a column `id` (and `name`): issue sign-in links to its new students")
    p.add_argument("--course", metavar="DIR", help="course folder (default: $GRADE_COURSE or the bundled course)")
    p.add_argument("--db", metavar="URL", help="database URL (default: sqlite file .grade-serve/serve.sqlite in the course); "
                                              "postgresql://user@host/db for PostgreSQL")
    p.add_argument("--scheduler", metavar="ADDR", default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                   help="grade on this Dask scheduler's workers (as grade batch --scheduler; see docs/cluster.md)")
    p.add_argument("--deadlines", metavar="YAML", help="due dates per stage, the late policy, extensions (docs/serve.md)")
    p.add_argument("--reissue", metavar="ID", nargs="+", default=[],
                   help="new sign-in links for these students (their old links stop working)")
    p.add_argument("--rotate-teacher", action="store_true", help="a new teacher link (the old one stops working)")
    p.add_argument("--links", metavar="CSV", help="where the new sign-in links go (default: links.csv beside the database)")
    p.add_argument("--demo", action="store_true", help="a throwaway database with three demo students")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--base-url", help="the address students use (behind a reverse proxy); default http://HOST:PORT")
    p.add_argument("--workers", type=int, default=2, help="submissions graded at once")
    p.add_argument("--max-queue", type=int, default=500, help="queued submissions beyond which new ones get 503")
    p.add_argument("--rate", type=int, default=10, help="submissions per student per minute")
    p.add_argument("--lang", choices=LANGS, default=os.environ.get("GRADE_LANG", "en"))
    p.set_defaults(func=run)


def database_url(args: argparse.Namespace, course_root: Path) -> tuple[str, Path]:
    """(the database URL, the folder for the links file)."""
    from grader.serve.db import sqlite_url

    if args.demo and not args.db:
        folder = Path(tempfile.mkdtemp(prefix="grade-serve-demo-"))
        return sqlite_url(folder / "serve.sqlite"), folder
    if args.db and args.db.startswith("sqlite:///"):
        return args.db, Path(args.db[len("sqlite:///"):]).resolve().parent
    folder = course_root / ".grade-serve"
    folder.mkdir(exist_ok=True)
    return args.db or sqlite_url(folder / "serve.sqlite"), folder


def issue_links(engine, args: argparse.Namespace, folder: Path, base_url: str) -> None:
    from grader.serve import auth

    text = auth.DEMO_ROSTER if args.demo else (Path(args.roster).read_text(encoding="utf-8-sig") if args.roster else "")
    issued = auth.issue(engine, auth.read_roster(text, args.lang)) if text else []
    issued += auth.reissue(engine, args.reissue, args.lang)
    teacher = auth.teacher_token(engine, rotate=args.rotate_teacher)
    path = Path(args.links) if args.links else folder / "links.csv"
    if issued or teacher:
        if path.exists() and not args.links:
            path = folder / f"links-{secrets.token_hex(3)}.csv"
        auth.write_links(path, base_url, issued, teacher)
        print(t(args.lang, "serve.links_written", n=len(issued) + bool(teacher), path=path))
    elif args.roster:
        print(t(args.lang, "serve.no_new_students", path=path))
    if teacher:
        print(t(args.lang, "serve.teacher_link", url=f"{base_url}/teacher?token={teacher}"))
    if args.demo:
        print(t(args.lang, "serve.demo_links", links="  ".join(f"{base_url}/s/{i.id}?token={i.token}" for i in issued)))


def worker_command(db_url: str, course: Optional[str], workers: int, lang: str, scheduler: Optional[str]) -> list[str]:
    cmd = [sys.executable, "-m", "grader.serve.worker", "--db", db_url, "--threads", str(workers), "--lang", lang,
           "--parent", str(os.getpid())]
    if course:
        cmd += ["--course", course]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    return cmd


def _need_extra(lang: str) -> None:
    import importlib.util

    from grader.errors import UsageError

    missing = [m for m in ("uvicorn", "starlette", "sqlalchemy", "alembic", "multipart")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(t(lang, "serve.needs_extra", modules=", ".join(missing)))


def run(args: argparse.Namespace) -> int:
    _need_extra(args.lang)
    import uvicorn

    from grader.course.digest import course_hash
    from grader.course.folder import load_course
    from grader.serve import auth, queue, regrade
    from grader.serve.app import Service, make_app
    from grader.serve.db import open_db
    from grader.serve.deadlines import load as load_deadlines
    from grader.serve.supervisor import Supervisor

    course = load_course(args.course, near=Path.cwd())
    policy = load_deadlines(args.deadlines, {s.number: {c.name for c in s.cases} for s in course.stages}, args.lang)
    db_url, folder = database_url(args, course.root)
    engine = open_db(db_url)
    auth.setting(engine, "seed", lambda: secrets.randbelow(2**31))
    base_url = (args.base_url or f"http://{args.host}:{args.port}").rstrip("/")
    issue_links(engine, args, folder, base_url)
    back = queue.requeue(engine, t(args.lang, "serve.worker_lost", n=queue.MAX_ATTEMPTS), expired_only=False)
    if back:
        print(t(args.lang, "serve.requeued", n=back))
    with engine.begin() as conn:  # the course the worker loads now; a regrade after a spec change stores the new one
        regrade.put_digest(conn, course_hash(course.root))
    supervisor = Supervisor(engine, worker_command(db_url, str(course.root), args.workers, args.lang, args.scheduler),
                            args.lang).start()
    svc = Service(engine=engine, course=course, lang=args.lang, workers=args.workers,
                  limits=queue.QueueCaps(max_queue=args.max_queue, rate_count=args.rate),
                  secret=auth.setting(engine, "csrf_secret", lambda: secrets.token_hex(32)),
                  secure_cookies=base_url.startswith("https://"),
                  policy=policy)
    print(t(args.lang, "serve.listening", url=base_url), flush=True)
    try:
        uvicorn.run(make_app(svc), host=args.host, port=args.port, log_level="warning")
    finally:
        supervisor.stop()
    return 0
