"""Store URLs as operators write them, mapped to SQLAlchemy's asyncio drivers."""
from __future__ import annotations

from sqlalchemy.engine import URL, make_url

# backend → the asyncio driver OCX runs it with
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_ALIASES = {"postgres": "postgresql"}


def async_url(url: str | URL) -> URL:
    """``sqlite:///path`` → ``sqlite+aiosqlite:///path``, ``postgresql://…`` →
    ``postgresql+asyncpg://…``; any other driver named for these backends is replaced too.

    Raises ``ValueError`` for another backend; the message never shows a password.
    """
    parsed = make_url(url)
    backend = _ALIASES.get(parsed.get_backend_name(), parsed.get_backend_name())
    driver = ASYNC_DRIVERS.get(backend)
    if driver is None:
        raise ValueError(f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}:"
                         " use sqlite:///path or postgresql://user@host/db")
    return parsed.set(drivername=f"{backend}+{driver}")


def is_memory(url: URL) -> bool:
    """An in-memory SQLite database (one per connection, so it needs a single connection)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def shown(url: URL) -> str:
    """The URL as it may appear in a log line."""
    return url.render_as_string(hide_password=True)
