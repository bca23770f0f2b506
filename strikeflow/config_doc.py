"""docs/configuration.md, generated from ``strikeflow.config.Settings``.

``python -m strikeflow.config_doc > docs/configuration.md`` (``make docs``) writes it.
A setting's default, meaning and readers live on the field itself (``Field(description=
...)`` and ``json_schema_extra={"read_by": [...]}``), so the page cannot say something
the code does not: tests/unit/test_configuration_doc.py fails when a field lacks either,
or when the committed page differs from what this module writes.
"""

from __future__ import annotations

import sys
import types
import typing
from decimal import Decimal
from enum import Enum
from pathlib import Path

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from strikeflow.config import Settings

PREFIX = "STRIKEFLOW_"
GENERATOR = "python -m strikeflow.config_doc > docs/configuration.md"

HEADER = f"""\
# Configuration

<!-- Generated from strikeflow.config.Settings by `{GENERATOR}`
     (`make docs`). Edit the fields' descriptions there, not this page. -->

Every setting is an environment variable with the prefix `{PREFIX}`. A process reads
them when it starts, never at import, and checks them: a malformed value stops it with
a message naming the setting. The defaults suit one host: a SQLite file in the working
directory and a Redis on 127.0.0.1:6379, on db numbers 0, 1 and 2. For the
docker-compose fleet, `.env.example` holds the values compose hands to every service.

"Read by" names the processes a setting changes: `workers: <queue>` the Celery workers
that consume that queue (every worker process builds the same runtime when it starts, so
a malformed value stops any of them), `cli: <command>` the `strikeflow` commands
([cli.md](cli.md)), `beat` and `flower` the Celery processes of those names, and `demo` the command
`strikeflow demo`, which sets the venue, the keys and the clock itself. How the
processes fit together is in [operations.md](operations.md).

One more variable is not a setting: `STRIKEFLOW_DEBUG=1` makes a `strikeflow` command
print the traceback above its one-line error ([cli.md](cli.md)).
"""


def env_name(name: str) -> str:
    return PREFIX + name.upper()


def readers(field: FieldInfo) -> list[str]:
    extra = field.json_schema_extra
    found = extra.get("read_by") if isinstance(extra, dict) else None
    return [str(r) for r in found] if isinstance(found, list | tuple) else []


def undocumented(model: type[BaseModel] = Settings) -> list[str]:
    """One line per field the page could not describe: no meaning, or no reader."""
    problems = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            problems.append(f"{env_name(name)}: no description (Field(description=...))")
        if not readers(field):
            problems.append(f"{env_name(name)}: no readers (json_schema_extra read_by)")
    return problems


def shown_default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, tuple | list):
        value = ",".join(map(str, value))
    elif isinstance(value, Enum):
        value = value.value
    return f"`{value}`"


def allowed_values(field: FieldInfo) -> str | None:
    """What the type and the bounds admit, where they say it better than prose."""
    kinds = [k for k in _alternatives(field.annotation) if k is not type(None)]
    if len(kinds) != 1:
        return None
    kind = kinds[0]
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(f"`{v}`" for v in typing.get_args(kind))
    if kind is bool:
        return "`true` or `false`"
    if kind is SecretStr:
        return "a secret: masked in repr, logs and error messages"
    if kind is Path:
        return "a file path"
    if typing.get_origin(kind) is tuple:
        return "a comma-separated list"
    if kind in (int, float, Decimal):
        noun = "an integer" if kind is int else "a number"
        bounds = _bounds(field)
        return f"{noun} {bounds}" if bounds else noun
    return None


def _alternatives(annotation: object) -> tuple[object, ...]:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _bounds(field: FieldInfo) -> str:
    signs = ((annotated_types.Gt, "gt", ">"), (annotated_types.Ge, "ge", "≥"))
    signs += ((annotated_types.Lt, "lt", "<"), (annotated_types.Le, "le", "≤"))
    found = [
        f"{sign} {getattr(item, attr)}"
        for item in field.metadata
        for kind, attr, sign in signs
        if isinstance(item, kind)
    ]
    return " and ".join(found)


def render(model: type[BaseModel] = Settings) -> str:
    """The whole page: the introduction, a summary table, then one section a setting."""
    fields = model.model_fields
    lines = [HEADER, "| setting | default | read by |", "|---|---|---|"]
    for name, field in fields.items():
        anchor = env_name(name).lower()
        who = "; ".join(readers(field))
        lines.append(f"| [`{env_name(name)}`](#{anchor}) | {shown_default(field)} | {who} |")
    for name, field in fields.items():
        lines += ["", f"## `{env_name(name)}`", "", " ".join((field.description or "").split())]
        lines += ["", f"- default: {shown_default(field)}"]
        values = allowed_values(field)
        if values:
            lines.append(f"- values: {values}")
        lines.append("- read by: " + "; ".join(readers(field)))
    return "\n".join(lines) + "\n"


def main() -> int:
    problems = undocumented()
    if problems:
        for problem in problems:
            print(f"strikeflow.config_doc: {problem}", file=sys.stderr)
        return 1
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
