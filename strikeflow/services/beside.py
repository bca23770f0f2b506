"""Venue reads sent beside the step that needs them, on threads this process keeps: a
step that needs several reads waits one round trip for all of them, not one each
(fetch_chain's quote, account and chain; manage_positions' quotes)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from strikeflow.domain.errors import BrokerError

T = TypeVar("T")
# Reads a process may have in flight beside its steps' own: two a chain (the account
# and the chain's snapshots), for the few steps a worker process runs at once.
READ_THREADS = 8

_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def beside(read: Callable[..., T], *args: object) -> Future[T]:
    """``read(*args)`` started on this process's pool of reading threads. The pool is
    made on first use in each process (a worker forked from its parent starts its own:
    threads do not survive a fork)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(READ_THREADS, "venue-read"))
        pool = _pool[1]
    return pool.submit(read, *args)


def settled(read: Future[T] | None) -> T | None:
    """What a read beside the step returned; None for no read, or a venue that failed
    (the step asks again itself where it needs the answer)."""
    if read is None:
        return None
    try:
        return read.result()
    except BrokerError:
        return None


__all__ = ["beside", "settled"]
