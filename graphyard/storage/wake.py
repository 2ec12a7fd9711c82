"""The keys notifications on the runs channel carry (``Settings.notify_channel``): each names
what changed, and ``storage/listener.py`` wakes whoever subscribed to it. A notification is
only a wake-up call: the woken re-read Postgres.

- ``<run_id>``: the run ended (``runs.wait``, ``join``);
- ``ev:<run_id>`` / ``th:<thread_id>``: events were appended to the run's / thread's log;
- ``cancel:<run_id>``: a client asked to stop the run (its step in flight, in a worker).
"""

from __future__ import annotations

from graphyard.storage.rows import Conn

# Postgres refuses a payload of 8000 bytes or more: a batch of keys fits well below.
_KEYS_PER_NOTIFY = 100


def run_ended(run_id: str) -> str:
    return run_id


def run_events(run_id: str) -> str:
    return f"ev:{run_id}"


def thread_events(thread_id: str) -> str:
    return f"th:{thread_id}"


def cancel(run_id: str) -> str:
    return f"cancel:{run_id}"


def events_of(run_id: str | None, thread_id: str | None) -> str:
    """The payload that wakes followers of this run and of its thread."""
    keys = [run_events(run_id)] if run_id else []
    if thread_id:
        keys.append(thread_events(thread_id))
    return " ".join(keys)


async def notify(conn: Conn, channel: str, keys: list[str]) -> None:
    """Notify ``keys`` on ``channel`` (in batches), delivered when the transaction commits."""
    for start in range(0, len(keys), _KEYS_PER_NOTIFY):
        payload = " ".join(keys[start : start + _KEYS_PER_NOTIFY])
        await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
