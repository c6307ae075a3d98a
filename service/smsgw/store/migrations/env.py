"""Alembic environment: migrates the connection `Store.migrate` hands over (holding the migration lock)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from smsgw.store.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()


run()
