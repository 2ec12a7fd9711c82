"""runs: cancel requested

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- When a client (or a multitask interrupt/rollback) asked to stop the run. A step told
        -- to stop checks it: set, the node in flight stops; unset, the stop came from Temporal
        -- taking the step's workflow task away (a timeout under load), and the super-step
        -- finishes so that its nodes run once.
        ALTER TABLE runs ADD COLUMN cancel_requested_at timestamptz;
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE runs DROP COLUMN cancel_requested_at;")
