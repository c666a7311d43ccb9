"""Regrade-all jobs: a `regrades` table, and each regrade submission's link to it and to the
submission it grades again.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regrades",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("open_stage", sa.Integer, unique=True),  # the stage while it runs, NULL once done: one at a time
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("regrade_id", sa.Integer))
        batch.add_column(sa.Column("source_id", sa.Integer))
    op.create_index("ix_submissions_regrade", "submissions", ["regrade_id"])


def downgrade() -> None:
    op.drop_index("ix_submissions_regrade", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("source_id")
        batch.drop_column("regrade_id")
    op.drop_table("regrades")
