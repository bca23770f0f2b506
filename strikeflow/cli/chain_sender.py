"""Sending a recommendation's chain from the shell (``signal``, ``close``): the app is
configured, the broker's connection is checked first, and a broker that cannot take the
chain is one ``Unsent`` naming why, never a traceback."""

from __future__ import annotations

from collections.abc import Callable


class Unsent(Exception):
    """The broker did not take a recommendation's chain."""

    def __init__(self, rid: str, reason: str) -> None:
        super().__init__(reason)
        self.rid, self.reason = rid, reason


def chain_sender() -> Callable[[str], object]:
    """``send(recommendation_id)``: its chain through ``tasks.chains.dispatch_chain``
    (an entry's steps, or a close's for a close), or ``Unsent``."""
    from celery import current_app

    import strikeflow.workers.app  # noqa: F401  (configures and becomes the current app)
    from strikeflow.tasks.chains import dispatch_chain

    def send(recommendation_id: str) -> object:
        try:
            with current_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=2)
            return dispatch_chain(recommendation_id)
        except Exception as unsent:  # kombu's errors vary by transport
            raise Unsent(recommendation_id, str(unsent)) from unsent

    return send
