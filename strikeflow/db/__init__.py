"""Persistence: the schema, its migrations, one engine per process, and the repositories."""
