"""A refused STRIKEFLOW_* setting as the one line a user reads: the variable, the value
it had, and what it accepts, built from pydantic's own error (its ``loc`` is the field,
so the variable's name is the prefix and the field; its ``input`` the value; its type
and the field's constraints what it accepts) rather than from its multi-line report."""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings

MASK = "'**********'"
MAX_SHOWN = 60
NUMBER_ERRORS = ("int_", "float_", "decimal_", "greater_", "less_", "finite_", "multiple_of")
BOOL_WORDS = "true or false (also 1/0, yes/no, on/off)"


def settings_problem(error: ValidationError, settings: type[BaseSettings]) -> str | None:
    """One line for every value ``settings`` refused, or None when ``error`` is not about
    ``settings`` (another model's validation is not a setting the user can fix)."""
    if error.title != settings.__name__:
        return None
    prefix = str(settings.model_config.get("env_prefix", ""))
    return "; ".join(_one(detail, settings, prefix) for detail in error.errors(include_url=False))


def _one(detail: ErrorDetails, settings: type[BaseSettings], prefix: str) -> str:
    name = str(detail["loc"][0]) if detail["loc"] else ""
    field = settings.model_fields.get(name)
    if field is None:  # not one field's: a rule across several, or an unknown key
        return f"{prefix}*: {_message(detail)}"
    value = MASK if _is_secret(field) else _shown(detail["input"])
    return f"{(prefix + name).upper()}={value}: {_expected(detail, field)}"


def _expected(detail: ErrorDetails, field: FieldInfo) -> str:
    kind = detail["type"]
    plain = _plain(field.annotation)
    if kind in ("value_error", "assertion_error"):
        return _message(detail)
    if kind == "literal_error":
        return f"expected {detail.get('ctx', {}).get('expected')}"
    if plain is bool:
        return f"expected {BOOL_WORDS}"
    if plain in (int, float, Decimal) and kind.startswith(NUMBER_ERRORS):
        return f"expected {_number(plain, field)}"
    if kind == "string_pattern_mismatch":
        pattern = detail.get("ctx", {}).get("pattern")
        described = f" ({field.description})" if field.description else ""
        return f"expected a value matching {pattern}{described}"
    return _message(detail)


def _number(plain: type, field: FieldInfo) -> str:
    """'a whole number in [0, 10]', 'a number > 0', from the field's constraints."""
    what = "a whole number" if plain is int else "a number"
    low = high = None
    for bound in field.metadata:
        if isinstance(bound, Gt):
            low = f"({bound.gt}"
        elif isinstance(bound, Ge):
            low = f"[{bound.ge}"
        elif isinstance(bound, Lt):
            high = f"{bound.lt})"
        elif isinstance(bound, Le):
            high = f"{bound.le}]"
    if low and high:
        return f"{what} in {low}, {high}"
    if low:
        return f"{what} {'>' if low[0] == '(' else '>='} {low[1:]}"
    if high:
        return f"{what} {'<' if high[-1] == ')' else '<='} {high[:-1]}"
    return what


def _message(detail: ErrorDetails) -> str:
    """pydantic's message, said as what is expected ('Input should be x' → 'expected x')."""
    message = detail["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    return message.split(", unable to")[0]


def _plain(annotation: Any) -> Any:
    """``float | None`` → float; a Literal or anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _is_secret(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN] + "…"
    return repr(text)
