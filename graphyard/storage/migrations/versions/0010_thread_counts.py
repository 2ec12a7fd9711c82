"""threads counted by status as they change, so a count with no filter reads no threads

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Deltas only ever appended (no row is updated, so concurrent writers never wait on a
    # counter); the housekeeping folds them into one row per status (storage/thread_counts.py).
    # Created with the backfill in the migration's transaction: the trigger's lock on threads
    # holds writers back until both are in place.
    op.execute(
        """
        CREATE TABLE thread_counts (status text NOT NULL, n bigint NOT NULL);
        CREATE FUNCTION thread_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                INSERT INTO thread_counts (status, n) VALUES (OLD.status, -1);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO thread_counts (status, n) VALUES (NEW.status, 1);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER threads_counted AFTER INSERT OR DELETE ON threads
            FOR EACH ROW EXECUTE FUNCTION thread_counts_add();
        CREATE TRIGGER threads_status_counted AFTER UPDATE OF status ON threads
            FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
            EXECUTE FUNCTION thread_counts_add();
        INSERT INTO thread_counts (status, n) SELECT status, count(*) FROM threads GROUP BY status;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER threads_status_counted ON threads;
        DROP TRIGGER threads_counted ON threads;
        DROP FUNCTION thread_counts_add();
        DROP TABLE thread_counts;
        """
    )
