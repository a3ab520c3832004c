"""The providers each local project uses: its home and foreign Keystones (issue 8, seed 004).

What OCX learns when it credits a project at a provider is recorded here, in the store's
``project_providers``: the remote project the caller's calls use there (at home, the local
project itself), or that the provider holds nothing of the project (the K2K exchange found no
project the federated user can use there: ``NoRemoteProject`` with no candidates). An exchange
that fails otherwise (the provider down, an ambiguous project) teaches nothing and records
nothing. ``ocx.routing.targets`` decides from these records where listings and searches go;
``GET /ocx/v1/projects`` and ``ocx projects`` show them.

Every credit passes through :class:`RecordingMapper`, but a finding is written only when it
changes or is older than ``refresh``: the hot path costs a dictionary look-up. Each worker
reads a project's records from the store at most every ``cache_seconds``, so that what
another worker learned is seen soon.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from ..store.models import ProjectProvider, utcnow
from .cache import TTLCache
from .errors import NoRemoteProject

log = logging.getLogger(__name__)

# How stale "last seen" may get before a credit that found the same thing writes it again.
SEEN_REFRESH = dt.timedelta(minutes=5)
# How long a worker trusts the records it read of a project.
CACHE_SECONDS = 30.0
CACHE_SIZE = 10_000


class ProjectUsage:
    """Records what each project has at each provider, and reads it back (cached)."""

    def __init__(self, store, *, configured: Mapping[str, Iterable[str]],
                 recheck: dt.timedelta, refresh: dt.timedelta = SEEN_REFRESH,
                 cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], dt.datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store                  # store.projects.ProjectStore
        self.configured = {k: tuple(v) for k, v in configured.items()}
        self.recheck = recheck
        self.refresh = refresh
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._recorded: TTLCache[dict[str, ProjectProvider]] = TTLCache(CACHE_SIZE, monotonic)
        self._written: dict[tuple[str, str], ProjectProvider] = {}

    def configured_for(self, project_id: str, project_name: str | None) -> tuple[str, ...]:
        """The providers the operator lists for a project (``[project:ID_OR_NAME]``)."""
        by_id = self.configured.get(project_id, ())
        by_name = self.configured.get(project_name, ()) if project_name else ()
        return tuple(dict.fromkeys((*by_id, *by_name)))

    async def recorded(self, project_id: str) -> dict[str, ProjectProvider]:
        """What is known of the project, by provider."""
        known = self._recorded.get(project_id)
        if known is None:
            known = {r.provider: r for r in await self.store.of_project(project_id)}
            self._recorded.put(project_id, known, self.cache_seconds)
        return known

    async def seen(self, caller, provider: str, remote_project: str | None) -> None:
        """The caller's project was credited at ``provider``: it has ``remote_project`` there
        (None: the provider holds nothing of it). Never fails the call that learned it."""
        now = self.clock()
        key = (caller.project_id, provider)
        last = self._written.get(key)
        if last is not None and last.remote_project == remote_project \
                and now - last.seen_at < self.refresh:
            return
        found = ProjectProvider(caller.project_id, provider, remote_project, now,
                                caller.project_name)
        try:
            await self.store.record([found])
        except Exception as exc:  # noqa: BLE001 - the call goes on; the next credit writes
            # One line, not a traceback a call: a store outage would fill the log otherwise.
            log.warning("recording project %s at provider %s failed (%s); the next credit "
                        "tries again", caller.project_id, provider, type(exc).__name__)
            return
        if last is None or last.remote_project != remote_project:
            log.info("project %s %s at provider %s", caller.project_id,
                     f"has project {remote_project}" if remote_project else "holds nothing",
                     provider)
        if len(self._written) >= CACHE_SIZE:
            self._written.clear()
        self._written[key] = found
        known = self._recorded.get(caller.project_id)
        if known is not None:
            known[provider] = found


class RecordingMapper:
    """The token mapper (``identity.tokens.TokenMapper``) with every credit recorded.

    Everything else is the wrapped mapper's.
    """

    def __init__(self, mapper, usage: ProjectUsage) -> None:
        self.mapper = mapper
        self.usage = usage

    async def credentials(self, caller, provider: str):
        try:
            credentials = await self.mapper.credentials(caller, provider)
        except NoRemoteProject as exc:
            if exc.candidates == 0:
                await self.usage.seen(caller, provider, None)
            raise
        await self.usage.seen(caller, provider, credentials.project_id)
        return credentials

    def __getattr__(self, name: str):
        return getattr(self.mapper, name)


# -- what an operator sees (GET /ocx/v1/projects, ocx projects) -----------------------------------

def project_records(rows: Iterable[ProjectProvider], *, home: str,
                    configured: Mapping[str, Iterable[str]] | None = None) -> list[dict]:
    """One record per local project: its home, its foreign providers with the remote project
    at each, the providers that hold nothing of it, those the operator lists, and when each
    was last seen. Pure; no token is in any row."""
    projects: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: (r.local_project, r.provider)):
        record = projects.setdefault(row.local_project, {
            "project_id": row.local_project, "project_name": row.local_project_name,
            "home": home, "home_last_seen": None, "foreign": [], "holds_nothing": [],
            "configured": []})
        record["project_name"] = record["project_name"] or row.local_project_name
        if row.provider == home:
            record["home_last_seen"] = _when(row.seen_at)
        elif row.holds_nothing:
            record["holds_nothing"].append({"provider": row.provider,
                                            "last_checked": _when(row.seen_at)})
        else:
            record["foreign"].append({"provider": row.provider,
                                      "remote_project": row.remote_project,
                                      "last_seen": _when(row.seen_at)})
    configured = dict(configured or {})
    matched = set()
    for record in projects.values():
        # By id or by name: a name may be held by projects of several domains.
        for key in (record["project_id"], record["project_name"]):
            if key in configured:
                matched.add(key)
                record["configured"] = list(dict.fromkeys((*record["configured"],
                                                           *configured[key])))
    # A project the operator lists providers for that OCX has not seen yet.
    for key, listed in sorted(configured.items()):
        if key in matched:
            continue
        projects[f"\0{key}"] = {"project_id": None, "project_name": None, "configured_as": key,
                                "home": home, "home_last_seen": None, "foreign": [],
                                "holds_nothing": [], "configured": list(listed)}
    return list(projects.values())


def _when(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")
