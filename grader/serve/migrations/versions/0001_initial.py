"""The first schema: settings, students, submissions (the queue of record), events.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("settings", sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table("students", sa.Column("id", sa.String(128), primary_key=True),
                    sa.Column("name", sa.String(256), nullable=False),
                    sa.Column("token_hash", sa.String(64), nullable=False))
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(128), sa.ForeignKey("students.id"), nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("filename", sa.String(256), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("first_verdict_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("reported_at", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("max_score", sa.Float),
        sa.Column("reason", sa.Text),
        sa.Column("report", sa.Text),
    )
    op.create_index("ix_submissions_state", "submissions", ["state", "priority", "id"])
    op.create_index("ix_submissions_student", "submissions", ["student_id", "stage"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_events_submission", "events", ["submission_id", "id"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("submissions")
    op.drop_table("students")
    op.drop_table("settings")
