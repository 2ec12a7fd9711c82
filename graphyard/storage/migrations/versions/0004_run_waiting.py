"""runs: waiting at an interrupt

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A run paused at an interrupt: its status reads "interrupted" and its workflow waits
        -- for the resume signal. Only such a run can be resumed.
        ALTER TABLE runs ADD COLUMN waiting boolean NOT NULL DEFAULT false;
        CREATE INDEX runs_waiting_idx ON runs (thread_id) WHERE waiting;
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX runs_waiting_idx; ALTER TABLE runs DROP COLUMN waiting;")
