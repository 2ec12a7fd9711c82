"""threads: time to live

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A thread with a TTL expires ttl_minutes after its last update (updated_at moves with
        -- every run, state update and patch); ttl_swept_at keeps keep_latest from re-pruning.
        ALTER TABLE threads
            ADD COLUMN ttl_strategy text,
            ADD COLUMN ttl_minutes double precision,
            ADD COLUMN ttl_swept_at timestamptz;
        CREATE INDEX threads_ttl_idx ON threads (updated_at) WHERE ttl_minutes IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP INDEX threads_ttl_idx; ALTER TABLE threads DROP COLUMN ttl_strategy, "
        "DROP COLUMN ttl_minutes, DROP COLUMN ttl_swept_at;"
    )
