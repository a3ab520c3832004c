"""``ocx projects``: per local project, its home, its foreign providers, the remote project at
each and when it was last seen (issue 8), read from the store as the gateway recorded it
(``ocx.identity.usage``). No token is ever in it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..identity.usage import project_records
from .store import open_store

# The table: one row per project and provider; JSON gives the records whole.
COLUMNS = ("project_id", "project_name", "provider", "role", "remote_project", "last_seen")


async def list_projects(url: str, *, home: str,
                        configured: Mapping[str, Iterable[str]]) -> list[dict]:
    """One record per local project (see ``identity.usage.project_records``)."""
    async with open_store(url) as store:
        rows = await store.projects.all()
    return project_records(rows, home=home, configured=configured)


def project_rows(records: Iterable[dict]) -> list[dict]:
    """The records as table rows: the home, each foreign provider, each that holds nothing,
    and each provider only the operator lists. Pure."""
    rows = []
    for r in records:
        who = {"project_id": r["project_id"] or f"({r.get('configured_as')})",
               "project_name": r["project_name"]}
        named = set()
        if r["home_last_seen"] is not None:
            rows.append({**who, "provider": r["home"], "role": "home",
                         "remote_project": r["project_id"], "last_seen": r["home_last_seen"]})
        for f in r["foreign"]:
            named.add(f["provider"])
            rows.append({**who, "provider": f["provider"], "role": "foreign",
                         "remote_project": f["remote_project"], "last_seen": f["last_seen"]})
        for n in r["holds_nothing"]:
            named.add(n["provider"])
            rows.append({**who, "provider": n["provider"], "role": "holds nothing",
                         "remote_project": None, "last_seen": n["last_checked"]})
        for p in r["configured"]:
            if p not in named:
                rows.append({**who, "provider": p, "role": "configured",
                             "remote_project": None, "last_seen": None})
    return rows
