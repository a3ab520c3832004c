"""Alembic migrations of the store's schema (run through :mod:`ocx.store.migrate`)."""
