"""indexes for the hot reads at scale

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- threads.search pages newest first by default, alone or by status: read in index
        -- order, a page costs its ten rows, not a sort of every match (make bench-scale).
        CREATE INDEX threads_created_idx ON threads (created_at);
        CREATE INDEX threads_status_created_idx ON threads (status, created_at);
        DROP INDEX threads_status_idx;
        -- runs.list pages a thread's runs by (created_at, run_id) descending: the whole key, so
        -- a thread with thousands of runs is not sorted to return ten.
        CREATE INDEX runs_thread_created_idx ON runs (thread_id, created_at DESC, run_id DESC);
        DROP INDEX runs_thread_idx;
        -- GET /runs/dead: the runs that ended in error, newest first.
        CREATE INDEX runs_dead_idx ON runs (updated_at DESC, run_id DESC) WHERE status = 'error';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX runs_dead_idx;
        CREATE INDEX runs_thread_idx ON runs (thread_id, created_at DESC);
        DROP INDEX runs_thread_created_idx;
        CREATE INDEX threads_status_idx ON threads (status);
        DROP INDEX threads_status_created_idx;
        DROP INDEX threads_created_idx;
        """
    )
