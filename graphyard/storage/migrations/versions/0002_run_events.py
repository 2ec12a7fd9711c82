"""run_events: the durable stream log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Append-only. seq is global so that a thread's stream (all its runs, one at a time)
        -- and a run's stream share one order; data is the SSE data line, stored as sent.
        -- step and attempt say which try of which super-step wrote an event, so a retried
        -- step can announce itself.
        CREATE TABLE run_events (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id uuid,
            thread_id uuid,
            step integer,
            attempt integer NOT NULL DEFAULT 1,
            event text NOT NULL,
            data text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX run_events_run_idx ON run_events (run_id, seq);
        CREATE INDEX run_events_thread_idx ON run_events (thread_id, seq);
        CREATE INDEX run_events_created_idx ON run_events (created_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE run_events;")
