"""Who is calling: the caller's home token, as the home Keystone described it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..store.models import token_hash


def parse_time(value: str) -> dt.datetime:
    """A Keystone timestamp (``2024-05-01T12:00:00.000000Z``) → an aware UTC datetime."""
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is None:  # Keystone's v3 format always says Z, but older ones did not
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Caller:
    """A validated, project-scoped home token and what it grants.

    The token itself is kept (the home cloud and the K2K exchange need it) but never shown in
    ``repr``; ``token_hash`` is what stores and logs use.
    """

    token: str = field(repr=False)
    token_hash: str
    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str
    project_name: str
    project_domain_id: str
    roles: frozenset[str]
    expires_at: dt.datetime
    catalog: list = field(default_factory=list, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def caller_from_token_body(token: str, body: Any) -> Caller:
    """The :class:`Caller` a Keystone v3 token document (``{"token": {...}}``) describes.

    Raises ``ValueError`` (without the token in it) when the document is not one of a
    project-scoped token.
    """
    try:
        doc = body["token"]
        user, project = doc["user"], doc.get("project")
        if not project:
            raise ValueError("the token is not scoped to a project")
        return Caller(
            token=token, token_hash=token_hash(token),
            user_id=str(user["id"]), user_name=str(user["name"]),
            user_domain_id=str(user["domain"]["id"]),
            project_id=str(project["id"]), project_name=str(project["name"]),
            project_domain_id=str(project["domain"]["id"]),
            roles=frozenset(str(r["name"]) for r in doc.get("roles") or ()),
            expires_at=parse_time(doc["expires_at"]),
            catalog=list(doc.get("catalog") or ()))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a Keystone v3 token document ({type(exc).__name__}: "
                         f"{exc})") from None
