"""The signal engine (pure): 1-minute bars → features → rules → Recommendation records.

``recommend(tickers, bars, bar_minute)`` is the whole path for a watchlist; its parts are
``compute_features`` (features.py), ``decide``/``to_recommendation`` (rules.py), the
thresholds in an editable TOML file (rules_file.py) and deterministic ids (ids.py).
"""
