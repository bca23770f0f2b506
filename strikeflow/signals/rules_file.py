"""The rules file: the signal thresholds as TOML a user edits without touching code.

The defaults ship with the package (``default_rules.toml``, the one source of default
values). A user's file overrides any subset of keys. Every value is checked for its type
and range; an unknown section or key is refused too (a typo must not silently keep the
default). Each failure is an ``InvalidRules`` naming the key, e.g. ``day_trade.min_confidence``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from strikeflow.domain.errors import DomainError
from strikeflow.domain.exit_rules import (
    OPTION_ONLY_FIELDS,
    ExitRuleBook,
    ExitRules,
    InvalidExitRules,
    StrategyExits,
)
from strikeflow.domain.working import (
    InvalidWorkingPolicy,
    Purpose,
    StrategyWorking,
    WorkingBook,
    WorkingPolicy,
)

__all__ = [
    "ConfidenceModel",
    "CooldownRule",
    "DayTradeRule",
    "FeatureParams",
    "InvalidRules",
    "Rules",
    "StockRule",
    "SwingRule",
    "default_rules",
    "exit_keys",
    "load_rules",
    "rules_from_mapping",
    "working_keys",
]

DEFAULT_RULES_FILE = "default_rules.toml"


class InvalidRules(DomainError, ValueError):
    """A rules file, or a value in it, that the signal engine must not run with."""

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        self.key, self.problem, self.source = key, problem, source
        where = f"rules file {source}: " if source else ""
        super().__init__(f"{where}{key} {problem}")

    def __reduce__(self):
        return (type(self), (self.key, self.problem, self.source))


def _num(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    return field(metadata={"kind": float, "ge": ge, "gt": gt, "le": le})


def _int(*, ge: int, le: int) -> Any:
    return field(metadata={"kind": int, "ge": ge, "gt": None, "le": le})


def _flag() -> Any:
    return field(metadata={"kind": bool})


class _Section:
    """Checks every field of a section against its metadata when it is built."""

    __slots__ = ()
    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            _check(f"{self.SECTION}.{f.name}", value, f.metadata)
            if f.metadata["kind"] is float:  # TOML's 3 and 3.0 mean the same threshold
                object.__setattr__(self, f.name, float(value))


@dataclass(frozen=True, slots=True)
class FeatureParams(_Section):
    SECTION: ClassVar[str] = "features"
    volume_lookback: int = _int(ge=1, le=389)
    momentum_minutes: int = _int(ge=1, le=389)
    rsi_period: int = _int(ge=2, le=200)
    trend_days: int = _int(ge=1, le=250)


@dataclass(frozen=True, slots=True)
class ConfidenceModel(_Section):
    SECTION: ClassVar[str] = "confidence"
    volume_full: float = _num(gt=1.0)
    momentum_full: float = _num(gt=0.0, le=1.0)
    rsi_span: float = _num(gt=0.0, le=50.0)
    vwap_full: float = _num(gt=0.0, le=1.0)
    weight_volume: float = _num(ge=0.0)
    weight_momentum: float = _num(ge=0.0)
    weight_rsi: float = _num(ge=0.0)
    weight_vwap: float = _num(ge=0.0)
    sentiment_weight: float = _num(ge=0.0, le=1.0)
    trend_full: float = _num(gt=0.0, le=10.0)

    def __post_init__(self) -> None:
        _Section.__post_init__(self)
        if self.weight_volume + self.weight_momentum + self.weight_rsi + self.weight_vwap <= 0:
            raise InvalidRules("confidence.weight_volume", "and the other weights are all 0")


@dataclass(frozen=True, slots=True)
class DayTradeRule(_Section):
    SECTION: ClassVar[str] = "day_trade"
    enabled: bool = _flag()
    min_confidence: float = _num(ge=0.0, le=1.0)
    min_volume_ratio: float = _num(ge=0.0)
    min_abs_momentum: float = _num(ge=0.0, le=1.0)


@dataclass(frozen=True, slots=True)
class SwingRule(_Section):
    SECTION: ClassVar[str] = "swing"
    enabled: bool = _flag()
    min_trend_return: float = _num(ge=0.0, le=10.0)
    min_consistency: float = _num(ge=0.0, le=1.0)


@dataclass(frozen=True, slots=True)
class StockRule(_Section):
    SECTION: ClassVar[str] = "stock"
    min_confidence: float = _num(ge=0.0, le=1.0)
    allow_short: bool = _flag()


@dataclass(frozen=True, slots=True)
class OptionRule(_Section):
    """Which listed contracts an option entry may trade."""

    SECTION: ClassVar[str] = "options"
    adjusted_contracts: bool = _flag()


@dataclass(frozen=True, slots=True)
class CooldownRule(_Section):
    """Minutes of the scan's clock (bar minutes, so simulated time too) during which a
    ticker recorded with one action gets no new record with that action; 0: none."""

    SECTION: ClassVar[str] = "cooldown"
    minutes: int = _int(ge=0, le=390)


@dataclass(frozen=True, slots=True)
class Rules:
    """The whole rule set, one attribute per section of the file."""

    features: FeatureParams
    confidence: ConfidenceModel
    day_trade: DayTradeRule
    swing: SwingRule
    stock: StockRule
    options: OptionRule
    cooldown: CooldownRule
    exits: ExitRuleBook
    working: WorkingBook


SECTIONS: dict[str, type] = {
    "features": FeatureParams,
    "confidence": ConfidenceModel,
    "day_trade": DayTradeRule,
    "swing": SwingRule,
    "stock": StockRule,
    "options": OptionRule,
    "cooldown": CooldownRule,
    "exits": ExitRuleBook,
    "working": WorkingBook,
}


@functools.cache
def default_rules() -> Rules:
    """The rules shipped with the package (read once; Rules is immutable)."""
    text = resources.files(__package__).joinpath(DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    return _build(_parse(text, DEFAULT_RULES_FILE), None, DEFAULT_RULES_FILE)


def load_rules(path: str | Path | None = None) -> Rules:
    """The defaults, overridden by the keys of the TOML file at ``path`` if one is given."""
    if path is None:
        return default_rules()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRules("file", f"cannot be read: {exc.strerror or exc}", source) from None
    return rules_from_mapping(_parse(text, source), source)


def rules_from_mapping(doc: Mapping[str, Any], source: str | None = None) -> Rules:
    """The defaults overridden by ``doc`` (a parsed rules file: sections of keys)."""
    return _build(doc, default_rules(), source)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRules("file", f"is not valid TOML: {exc}", source) from None


def _build(doc: Mapping[str, Any], base: Rules | None, source: str | None) -> Rules:
    """Sections of ``doc`` over ``base``; with no base every key must be present."""
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise InvalidRules(unknown[0], f"is not a section (known: {', '.join(SECTIONS)})", source)
    built = {}
    for name, kind in SECTIONS.items():
        given = doc.get(name, {})
        if not isinstance(given, Mapping):
            raise InvalidRules(name, f"must be a table [{name}], got {given!r}", source)
        if kind is ExitRuleBook:
            built[name] = _exits(given, None if base is None else base.exits, source)
            continue
        if kind is WorkingBook:
            built[name] = _working(given, None if base is None else base.working, source)
            continue
        keys = [f.name for f in dataclasses.fields(kind)]
        extra = sorted(set(given) - set(keys))
        if extra:
            raise InvalidRules(
                f"{name}.{extra[0]}", f"is not a key (known: {', '.join(keys)})", source
            )
        values = {} if base is None else dataclasses.asdict(getattr(base, name))
        values.update(given)
        missing = [k for k in keys if k not in values]
        if missing:
            raise InvalidRules(f"{name}.{missing[0]}", "is missing", source)
        try:
            built[name] = kind(**values)
        except InvalidRules as exc:
            raise InvalidRules(exc.key, exc.problem, source) from None
    return Rules(**built)


def _check(key: str, value: object, spec: Mapping[str, Any]) -> None:
    kind = spec["kind"]
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidRules(key, f"must be true or false, got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRules(key, f"must be a number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise InvalidRules(key, f"must be a whole number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidRules(key, f"must be finite, got {value!r}")
    if spec["ge"] is not None and value < spec["ge"]:
        raise InvalidRules(key, f"must be >= {spec['ge']}, got {value!r}")
    if spec["gt"] is not None and value <= spec["gt"]:
        raise InvalidRules(key, f"must be > {spec['gt']}, got {value!r}")
    if spec["le"] is not None and value > spec["le"]:
        raise InvalidRules(key, f"must be <= {spec['le']}, got {value!r}")


# [exits.<strategy>.<kind>]: the file's keys of each kind, and how each value is read.
OFF = "off"
_EXIT_STRATEGIES = ("day_trade", "swing_trade")
_EXIT_KINDS = ("option", "stock")
_EXIT_KEYS = {
    "take_profit_pct": "pct",
    "stop_loss_pct": "pct",
    "trailing_stop_pct": "pct",
    "trailing_arm_pct": "number",
    "time_exit": "time",
    "close_at_dte": "days",
    "underlying_stop_pct": "pct",
    "theta_max_pct": "pct",
    "max_holding_hours": "pct",
    "max_quote_age_s": "number",
}
_STOCK_KEYS = tuple(k for k in _EXIT_KEYS if k not in OPTION_ONLY_FIELDS)
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def exit_keys(kind: str) -> tuple[str, ...]:
    """The keys of an ``[exits.<strategy>.<kind>]`` table (a share has no option rules)."""
    return _STOCK_KEYS if kind == "stock" else tuple(_EXIT_KEYS)


def _exits(doc: Mapping[str, Any], base: ExitRuleBook | None, source: str | None) -> ExitRuleBook:
    """The ``[exits]`` tables over ``base``; with no base every key must be present."""
    _only("exits", doc, _EXIT_STRATEGIES, source)
    strategies = {}
    for strategy in _EXIT_STRATEGIES:
        given = _table(f"exits.{strategy}", doc.get(strategy, {}), source)
        _only(f"exits.{strategy}", given, _EXIT_KINDS, source)
        kinds = {}
        for kind in _EXIT_KINDS:
            at = f"exits.{strategy}.{kind}"
            table = _table(at, given.get(kind, {}), source)
            old = None if base is None else getattr(getattr(base, strategy), kind)
            kinds[kind] = _exit_rules(at, table, exit_keys(kind), old, source)
        strategies[strategy] = StrategyExits(**kinds)
    return ExitRuleBook(**strategies)


def _exit_rules(
    at: str,
    table: Mapping[str, Any],
    keys: tuple[str, ...],
    base: ExitRules | None,
    source: str | None,
) -> ExitRules:
    _only(at, table, keys, source)
    values = {} if base is None else {k: getattr(base, k) for k in keys}
    for key, raw in table.items():
        values[key] = _exit_value(f"{at}.{key}", _EXIT_KEYS[key], raw, source)
    missing = [k for k in keys if k not in values]
    if missing:
        raise InvalidRules(f"{at}.{missing[0]}", "is missing", source)
    try:
        return ExitRules(**values)
    except InvalidExitRules as exc:
        raise InvalidRules(f"{at}.{exc.field}", exc.problem, source) from None


def _exit_value(key: str, kind: str, raw: object, source: str | None) -> object:
    if raw == OFF and kind in ("pct", "time", "days"):
        return None
    off = f' or "{OFF}"' if kind != "number" else ""
    if kind == "time":
        match = _HH_MM.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            raise InvalidRules(key, f'must be a New York time "HH:MM"{off}, got {raw!r}', source)
        return time(int(match[1]), int(match[2]))
    if kind == "days":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidRules(key, f"must be a whole number of days{off}, got {raw!r}", source)
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidRules(key, f"must be a number{off}, got {raw!r}", source)
    if not math.isfinite(raw):
        raise InvalidRules(key, f"must be finite, got {raw!r}", source)
    return float(raw)


def _table(key: str, value: object, source: str | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRules(key, f"must be a table [{key}], got {value!r}", source)
    return value


def _only(key: str, table: Mapping[str, Any], known: tuple[str, ...], source: str | None) -> None:
    extra = sorted(set(table) - set(known))
    if extra:
        raise InvalidRules(f"{key}.{extra[0]}", f"is not a key (known: {', '.join(known)})", source)


# [working.<strategy>.<purpose>]: how an option order is worked (domain/working.py).
_WORKING_PURPOSES = tuple(p.value for p in Purpose)
_WORKING_KEYS = {
    "start_toward_far": "number",
    "steps": "count",
    "interval_s": "number",
    "final_toward_far": "number",
    "max_slippage_pct": "pct",
    "hold_s": "number",
    "end": "end",
    "max_move_pct": "pct",
}


def working_keys() -> tuple[str, ...]:
    """The keys of a ``[working.<strategy>.<purpose>]`` table."""
    return tuple(_WORKING_KEYS)


def _working(doc: Mapping[str, Any], base: WorkingBook | None, source: str | None) -> WorkingBook:
    """The ``[working]`` tables over ``base``; with no base every key must be present."""
    _only("working", doc, _EXIT_STRATEGIES, source)
    strategies = {}
    for strategy in _EXIT_STRATEGIES:
        given = _table(f"working.{strategy}", doc.get(strategy, {}), source)
        _only(f"working.{strategy}", given, _WORKING_PURPOSES, source)
        purposes = {}
        for purpose in _WORKING_PURPOSES:
            at = f"working.{strategy}.{purpose}"
            table = _table(at, given.get(purpose, {}), source)
            old = None if base is None else getattr(getattr(base, strategy), purpose)
            purposes[purpose] = _working_policy(at, table, old, source)
        strategies[strategy] = StrategyWorking(**purposes)
    return WorkingBook(**strategies)


def _working_policy(
    at: str, table: Mapping[str, Any], base: WorkingPolicy | None, source: str | None
) -> WorkingPolicy:
    _only(at, table, working_keys(), source)
    values = {} if base is None else {k: getattr(base, k) for k in _WORKING_KEYS}
    for key, raw in table.items():
        values[key] = _working_value(f"{at}.{key}", _WORKING_KEYS[key], raw, source)
    missing = [k for k in _WORKING_KEYS if k not in values]
    if missing:
        raise InvalidRules(f"{at}.{missing[0]}", "is missing", source)
    try:
        return WorkingPolicy(**values)
    except InvalidWorkingPolicy as exc:
        raise InvalidRules(f"{at}.{exc.field}", exc.problem, source) from None


def _working_value(key: str, kind: str, raw: object, source: str | None) -> object:
    if kind == "end":
        if raw not in ("cancel", "marketable"):
            raise InvalidRules(key, f'must be "cancel" or "marketable", got {raw!r}', source)
        return raw
    if kind == "count":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidRules(key, f"must be a whole number, got {raw!r}", source)
        return raw
    if kind == "pct" and raw == OFF:
        return None
    off = f' or "{OFF}"' if kind == "pct" else ""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidRules(key, f"must be a number{off}, got {raw!r}", source)
    if not math.isfinite(raw):
        raise InvalidRules(key, f"must be finite, got {raw!r}", source)
    return float(raw) if kind == "number" and key.endswith("_s") else Decimal(repr(raw))
