"""The tickers scanned when none are configured: the settings' default watchlist and the
demo's, one tuple so the two cannot drift apart."""

DEFAULT_WATCHLIST = ("SPY", "QQQ", "AAPL", "MSFT", "NVDA", "TSLA")
