"""fetch_chain's venue reads, sent at once: one round trip's wait where there were three.

The stock quote, the account and, for an option, the chain's snapshots go out together,
the last two on the process's reading threads (``services.beside``). The chain's strike
band is drawn around spot, which only the quote brings, so the chain is asked for a band
spanning every price within ``chain_spot_margin`` of the last spot the fleet saw
(``spot_hints``; ``guessed_band``). When the quote lands within that range, the band
spot wants is cut from the contracts already fetched (``cut``); when it lands outside
(a gap, the first chain of a ticker with no hint, a hint too old) or the early read
failed, the chain is asked for again, after the quote, as it would have been.

The cut is the chain the sequential read gives, but for one case: a listed strike the
venue sends no quote for is left out either way, and where the band counts strikes from
spot, the cut counts among the quoted ones, so it may reach one strike further.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from operator import attrgetter

from strikeflow.domain.enums import Right, StrategyType
from strikeflow.domain.market import StrikeBand
from strikeflow.domain.models import OptionContract
from strikeflow.services.dispatch_policy import DispatchContext


def guessed_band(
    ctx: DispatchContext, strategy: StrategyType | None, right: Right, hint: Decimal | None
) -> StrikeBand | None:
    """The band that holds the strikes spot's band would, for any spot within the
    policy's margin of ``hint``; None with no hint or no margin."""
    margin = ctx.policy.chain_spot_margin
    if hint is None or margin <= 0:
        return None
    low = ctx.policy.strikes_to_fetch(strategy, hint * (1 - margin), right)
    high = ctx.policy.strikes_to_fetch(strategy, hint * (1 + margin), right)
    return low.spanning(high)


def cut(
    fetched: Sequence[OptionContract] | None, guess: StrikeBand | None, band: StrikeBand
) -> list[OptionContract] | None:
    """``band``'s contracts out of the chain fetched early for ``guess``; None when there
    is no such chain or ``guess`` does not hold every strike ``band`` may pick."""
    if fetched is None or guess is None or not guess.covers(band):
        return None
    return band.pick(
        list(fetched), expiration=attrgetter("expiration"), strike=attrgetter("strike")
    )


__all__ = ["cut", "guessed_band"]
