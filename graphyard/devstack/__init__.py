"""Local dev servers (PostgreSQL, Temporal) run as supervised child processes."""
