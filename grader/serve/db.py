"""The service's tables (SQLAlchemy Core) and opening a database at the newest schema.

Schema changes are alembic migrations (grader/serve/migrations/versions), never hand-made
ALTERs: `open_db` upgrades the database to the head revision before anything else runs.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

metadata = sa.MetaData()

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

students = sa.Table(
    "students", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, default=""),
    sa.Column("token_hash", sa.String(64), nullable=False),
)

# The queue of record: one row per submission, its file inside (stored with the row).
submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("student_id", sa.String(128), sa.ForeignKey("students.id"), nullable=False),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0),  # 0 interactive; larger waits
    sa.Column("filename", sa.String(256), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # queued running graded not_gradable superseded
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("queued_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("first_verdict_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("reported_at", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("max_score", sa.Float),
    sa.Column("reason", sa.Text),
    sa.Column("report", sa.Text),  # the report's JSON (with details), when graded
    sa.Column("regrade_id", sa.Integer),  # a regrade-all job's submission: that job (migration 0002)
    sa.Column("source_id", sa.Integer),   # ... and the submission it grades again
    sa.Index("ix_submissions_state", "state", "priority", "id"),
    sa.Index("ix_submissions_student", "student_id", "stage"),
)

# What the worker produced, in order: stage verdicts and the final state (the browser's stream).
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # stage | final
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_events_submission", "submission_id", "id"),
)

# Regrade-all jobs: one stage for everyone, after a spec change (migration 0002).
regrades = sa.Table(
    "regrades", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("open_stage", sa.Integer, unique=True),  # the stage while it runs, NULL once done
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
)

FINAL_STATES = ("graded", "not_gradable", "superseded")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _on_connect(dbapi_conn, _record) -> None:
    """SQLite shared by a web process and a worker process: WAL, and wait for the writer's lock."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def connect(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _on_connect)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to the newest schema with alembic."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_db(url: str) -> sa.Engine:
    engine = connect(url)
    upgrade(engine)
    return engine
