"""The kill switch as an operator turns it: on with a reason, off, or only read.

The dispatch steps see only ``ports.KillSwitch.is_on``; the command line needs the
switch's whole state (since when, why, and whether it could be read at all) and a way
to flip it, which this module's port declares and its adapters (``app_state``) keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True)
class KillSwitchState:
    """``readable`` False: the switch could not be read, and so counts as on."""

    on: bool
    reason: str | None = None
    since: str | None = None
    readable: bool = True


class KillSwitchUnavailable(ConnectionError):
    """The store that holds the switch could not be written (its message is the store's)."""


class KillSwitchControl(Protocol):
    def turn_on(self, reason: str = "manual", now: datetime | None = None) -> None:
        """Stop new orders; raises KillSwitchUnavailable when the switch cannot be set."""
        ...

    def turn_off(self) -> None:
        """Allow new orders again; raises KillSwitchUnavailable like ``turn_on``."""
        ...

    def state(self) -> KillSwitchState:
        """The switch as it is now; never raises (an unreadable switch is on)."""
        ...

    def is_on(self) -> bool: ...


def set_kill_switch(
    switch: KillSwitchControl, wanted: Literal["on", "off", "status"], reason: str = "manual"
) -> KillSwitchState:
    """Turn ``switch`` on or off (``status``: leave it), then read it back."""
    if wanted == "on":
        switch.turn_on(reason)
    elif wanted == "off":
        switch.turn_off()
    return switch.state()
