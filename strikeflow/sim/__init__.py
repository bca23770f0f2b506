"""The simulated market: what strikeflow trades against when it is not trading Alpaca."""
