"""Crons: one row per cron (its Temporal Schedule is ``cron-<cron_id>``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE crons (
            cron_id uuid PRIMARY KEY,
            assistant_id uuid NOT NULL,
            thread_id uuid REFERENCES threads (thread_id) ON DELETE CASCADE,
            user_id text,
            schedule text NOT NULL,
            timezone text,
            end_time timestamptz,
            payload jsonb NOT NULL DEFAULT '{}',
            metadata jsonb NOT NULL DEFAULT '{}',
            on_run_completed text,
            enabled boolean NOT NULL DEFAULT true,
            next_run_date timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX crons_thread ON crons (thread_id)")
    op.execute("CREATE INDEX crons_assistant ON crons (assistant_id)")


def downgrade() -> None:
    op.execute("DROP TABLE crons")
