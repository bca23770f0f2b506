"""The signal engine (pure): 1-minute bars → features → rules → Recommendation records.

``recommend(tickers, bars, bar_minute)`` is the whole path for a watchlist; its parts are
``compute_features`` (features.py), ``decide``/``to_recommendation`` (rules.py), the
thresholds in an editable TOML file (rules_file.py) and deterministic ids (ids.py).
"""

from strikeflow.signals.features import Bars, Features, compute_features
from strikeflow.signals.ids import recommendation_id
from strikeflow.signals.rules import (
    Decision,
    NeutralSentiment,
    SentimentProvider,
    decide,
    features_of,
    recommend,
    to_recommendation,
)
from strikeflow.signals.rules_file import InvalidRules, Rules, default_rules, load_rules

__all__ = [
    "Bars",
    "Decision",
    "Features",
    "InvalidRules",
    "NeutralSentiment",
    "Rules",
    "SentimentProvider",
    "compute_features",
    "decide",
    "default_rules",
    "features_of",
    "load_rules",
    "recommend",
    "recommendation_id",
    "to_recommendation",
]
