"""The Celery side: the app, its configuration, and per-process startup."""
