"""ended stateless runs' rows found by their end, for their retention

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A stateless run's thread goes when the run ends; its row stays for wait and join, and
    # the housekeeping deletes it once it is older than the stream retention. Only such rows
    # are indexed: the sweep reads a handful, whatever the size of runs.
    op.execute(
        "CREATE INDEX runs_temporary_ended_idx ON runs (ended_at) "
        "WHERE (kwargs ->> 'temporary')::boolean"
    )


def downgrade() -> None:
    op.execute("DROP INDEX runs_temporary_ended_idx")
