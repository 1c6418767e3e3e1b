"""Alembic's entry point: Alembic executes this module itself when the store runs a migration.

It only ever runs online, on the connection the store passed in `config.attributes["connection"]`,
so the store keeps control of the engine, its pragmas and the transaction.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from overseer.state.models import Base


def run_migrations_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("overseer migrations run through overseer.state.store, with a connection")
    run_migrations_online(connection)


main()
