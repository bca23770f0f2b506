"""Money at the scale the venue and the records keep it."""

from __future__ import annotations

from decimal import Decimal

# A cent: the price step of US equities and of option premiums of $3 and more, and the
# scale of the money the records show.
CENT = Decimal("0.01")
