"""assistants, threads and runs

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE assistants (
            assistant_id uuid PRIMARY KEY,
            graph_id text NOT NULL,
            config jsonb NOT NULL DEFAULT '{}',
            context jsonb NOT NULL DEFAULT '{}',
            metadata jsonb NOT NULL DEFAULT '{}',
            name text NOT NULL,
            description text,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE assistant_versions (
            assistant_id uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
            version integer NOT NULL,
            graph_id text NOT NULL,
            config jsonb NOT NULL DEFAULT '{}',
            context jsonb NOT NULL DEFAULT '{}',
            metadata jsonb NOT NULL DEFAULT '{}',
            name text NOT NULL,
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (assistant_id, version)
        );
        CREATE TABLE threads (
            thread_id uuid PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            state_updated_at timestamptz NOT NULL DEFAULT now(),
            metadata jsonb NOT NULL DEFAULT '{}',
            status text NOT NULL DEFAULT 'idle',
            config jsonb NOT NULL DEFAULT '{}',
            "values" jsonb,
            interrupts jsonb,
            error jsonb
        );
        CREATE INDEX threads_metadata_idx ON threads USING gin (metadata jsonb_path_ops);
        CREATE INDEX threads_status_idx ON threads (status);
        -- No foreign key to threads: a temporary (stateless) run's thread is deleted when the
        -- run ends, while its row keeps the result that wait/join return.
        CREATE TABLE runs (
            run_id uuid PRIMARY KEY,
            thread_id uuid NOT NULL,
            assistant_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            ended_at timestamptz,
            status text NOT NULL DEFAULT 'pending',
            metadata jsonb NOT NULL DEFAULT '{}',
            kwargs jsonb NOT NULL DEFAULT '{}',
            multitask_strategy text,
            output jsonb,
            error jsonb
        );
        CREATE INDEX runs_thread_idx ON runs (thread_id, created_at DESC);
        CREATE INDEX runs_status_idx ON runs (status) WHERE status IN ('pending', 'running');
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE runs; DROP TABLE threads; DROP TABLE assistant_versions; DROP TABLE assistants;"
    )
