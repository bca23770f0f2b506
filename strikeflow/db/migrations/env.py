"""Alembic's environment for strikeflow.

``strikeflow.db.migrate`` builds the Config in code (there is no alembic.ini): it sets
``sqlalchemy.url`` and usually hands over an open connection in
``config.attributes["connection"]``, already inside the transaction that the whole run
shares. Without one, this opens such a connection itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from strikeflow.db.migrate import migration_connection
from strikeflow.db.tables import metadata

config = context.config


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        **options,
    )


def run_offline() -> None:
    """``--sql`` mode: the migrations as a script, no database needed."""
    url = config.get_main_option("sqlalchemy.url")
    _configure(
        url=url,
        literal_binds=True,
        render_as_batch=str(url).startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_online(given)
else:
    with migration_connection(config.get_main_option("sqlalchemy.url") or "") as opened:
        run_online(opened)
