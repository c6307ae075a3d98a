"""Persistence: schema, migrations, id allocation and bulk SQL. No SQLAlchemy row leaves this package."""
