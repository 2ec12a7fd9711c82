"""runs: webhook delivery

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- How a run's webhook went: {"status": "pending"|"retrying"|"delivered"|"failed",
        -- "attempts", "status_code", "last_error", "sent_at"}; NULL for a run without one.
        ALTER TABLE runs ADD COLUMN webhook_delivery jsonb;
        -- The state values a run with a webhook ended with: its payload's "values", kept
        -- because a stateless run's thread and checkpoints are gone once it ends.
        ALTER TABLE runs ADD COLUMN end_values jsonb;
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE runs DROP COLUMN webhook_delivery, DROP COLUMN end_values;")
