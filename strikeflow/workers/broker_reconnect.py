"""kombu's Redis transport, kept from killing a worker while it reconnects.

When Redis goes away, Celery closes the broken connection (which detaches its transport:
``transport.client = None``, and the channel's ``connection``) and builds a new one. The
old connection's channels are still used afterwards: a task that was running acks late
on the channel that delivered it, and that channel is asked to put its unacknowledged
messages back (at close, by the garbage collector, or by the periodic
``maybe_restore_messages`` of a poller that still lists it). Its Redis pool is gone, so
it rebuilds one from the detached transport and raises ``AttributeError: 'NoneType'
object has no attribute 'hostname'`` (or ``'client'``; kombu 5.7.0, in
``Channel._connparams``), which Celery treats as unrecoverable: the worker exits.

Nothing is lost by doing nothing on such a channel: its messages stay in Redis's
``unacked`` hash (on a broker that kept its data), and the live connection's own
periodic restore hands them back after the visibility timeout; a message run again is
harmless (the pipeline is idempotent). ``install()`` wraps the ack, reject and the two
restores of kombu's Redis QoS so that on a detached channel they log a warning and do
nothing. Idempotent; called where the app's Celery configuration is built, so every
process of ours (workers, beat, the shell) has it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

_MARK = "_strikeflow_detached_guard"


def detached(channel: Any) -> bool:
    """The channel's connection was closed: no transport client to reconnect with."""
    transport = getattr(channel, "connection", None)
    return transport is None or getattr(transport, "client", None) is None


def guarded(restore: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(restore)
    def restore_unless_detached(qos: Any, *args: Any, **kwargs: Any) -> Any:
        if detached(qos.channel):
            log.warning(
                "broker: %s on a closed channel skipped (Redis keeps its messages)",
                restore.__name__,
            )
            return None
        try:
            return restore(qos, *args, **kwargs)
        except AttributeError:
            if not detached(qos.channel):
                raise
            log.warning(
                "broker: a channel closed during %s (Redis keeps its messages)", restore.__name__
            )
            return None

    setattr(restore_unless_detached, _MARK, True)
    return restore_unless_detached


def install() -> None:
    qos = kombu_redis.QoS
    for name in ("ack", "reject", "restore_unacked", "restore_visible"):
        method = getattr(qos, name)
        if not getattr(method, _MARK, False):
            setattr(qos, name, guarded(method))


__all__ = ["detached", "install"]
