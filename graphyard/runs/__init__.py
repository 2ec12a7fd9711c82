"""The run service: what creating, starting, resuming, cancelling, waiting for and reconciling
a run means, used alike by the HTTP API (``graphyard.api``) and the worker
(``graphyard.activities``: a cron's firing creates its run here). It speaks to Postgres
through ``graphyard.storage`` and to Temporal through its client; nothing here knows HTTP."""
