"""Postgres: the schema and its migrations, the connection pool, queries and run notifications."""
