"""The providers OCX sends calls to, as they are now: the home cloud, the configured (pinned)
K2K service providers and those discovered at the home Keystone, and the providers OCX serves
itself (controller providers: configured, never K2K).

:class:`Providers` is read on every call (it is the sequence of current names, home first),
and changed only by :meth:`Providers.update` with what the home Keystone lists. Which
providers that makes is decided by :func:`merge`, which is pure.

A provider that is disabled or removed at the home Keystone leaves the names (no new call goes
to it) but its object is kept, so that a call already under way finishes and a mapping that
names it is left as it is.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .base import Provider

log = logging.getLogger(__name__)

HOME, CONFIGURED, DISCOVERED = "home", "configured", "discovered"


@dataclass(frozen=True)
class ProviderEntry:
    """What OCX knows of one provider; ``sp_id`` and ``project_map`` are what the token
    mapper needs to reach a K2K one (``sp_id`` None: the home cloud)."""

    name: str
    sp_id: str | None
    source: str                                # HOME | CONFIGURED | DISCOVERED
    interface: str = "public"
    project_map: Mapping[str, str] = field(default_factory=dict)
    auth_url: str | None = None                # the SP's, as the home Keystone lists it
    kind: str = "openstack"                    # the provider object's kind


def merge(configured: Sequence[ProviderEntry], listed: Mapping[str, dict],
          excluded: Collection[str], reserved: Collection[str] = ()
          ) -> tuple[ProviderEntry, ...]:
    """The K2K providers to use: every configured one (pinned: whatever the home Keystone
    says), in its order, then each service provider ``listed`` at the home Keystone (by id)
    that is enabled, not configured, not ``excluded`` and whose id names no other provider
    (``reserved``: the home cloud, providers reached through peers), in id order."""
    pinned_ids = {p.sp_id for p in configured}
    taken = {p.name for p in configured} | set(reserved)
    result = [ProviderEntry(p.name, p.sp_id, CONFIGURED, p.interface, p.project_map,
                            (listed.get(p.sp_id) or {}).get("auth_url") or p.auth_url)
              for p in configured]
    for sp_id in sorted(listed):
        sp = listed[sp_id]
        if (sp_id in pinned_ids or sp_id in taken or sp_id in excluded
                or not sp.get("enabled", True)):
            continue
        result.append(ProviderEntry(sp_id, sp_id, DISCOVERED, auth_url=sp.get("auth_url")))
    return tuple(result)


@dataclass(frozen=True)
class Change:
    added: tuple[str, ...]
    removed: tuple[str, ...]


class Providers(Sequence[str]):
    """The current providers' names, home first; ``get(name)`` their objects.

    ``make(entry)`` builds a K2K provider's object; ``extra`` are providers reached only with
    a peer's injected mappings (never among the names: never listed or searched); ``local``
    are providers OCX serves itself (after the K2K ones, never changed by discovery).
    """

    def __init__(self, home: ProviderEntry, home_provider: Provider,
                 configured: Sequence[ProviderEntry], make: Callable[[ProviderEntry], Provider],
                 *, excluded: Collection[str] = (), extra: Mapping[str, Provider] = {},
                 local: Mapping[str, Provider] = {}) -> None:
        overlap = sorted(set(excluded) & ({p.name for p in configured}
                                          | {p.sp_id for p in configured}))
        if overlap:
            raise ValueError(f"exclude_providers names configured providers: "
                             f"{', '.join(overlap)}")
        self.home = home
        self._configured = tuple(configured)
        self._excluded = frozenset(excluded)
        self._make = make
        self._objects: dict[str, Provider] = {home.name: home_provider, **extra, **local}
        self._extra = frozenset(extra)
        self._local = tuple(ProviderEntry(name, None, CONFIGURED, kind=p.kind)
                            for name, p in local.items())
        self._apply(merge(self._configured, {}, self._excluded, self._reserved()))

    # -- reading (every call) ------------------------------------------------------------------

    def __getitem__(self, index):
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._current

    def __repr__(self) -> str:
        return f"Providers({', '.join(self._names)})"

    def get(self, name: str) -> Provider | None:
        """The object of a current provider (or of one reached through a peer)."""
        return self._objects.get(name) if name in self._current or name in self._extra \
            else None

    def entry(self, name: str) -> ProviderEntry | None:
        return self._current.get(name)

    def entries(self) -> tuple[ProviderEntry, ...]:
        return tuple(self._current.values())

    @property
    def objects(self) -> Mapping[str, Provider]:
        """Every provider object ever used, by name (for the executor: a call already
        planned to a provider that has just gone still finds it)."""
        return self._objects

    @property
    def remotes(self) -> Mapping[str, ProviderEntry]:
        """The current K2K providers by name (``sp_id``, ``project_map``): the token mapper's
        view, live."""
        return _Remotes(self)

    # -- changing (the discovery task) -------------------------------------------------------

    def update(self, listed: Mapping[str, dict]) -> Change:
        """Apply what the home Keystone lists now (service provider id → its entry)."""
        before = set(self._names)
        self._apply(merge(self._configured, listed, self._excluded, self._reserved()))
        change = Change(tuple(n for n in self._names if n not in before),
                        tuple(sorted(before - set(self._names))))
        if change.added or change.removed:
            log.info("providers now %s (added: %s; no longer used: %s)",
                     ", ".join(self._names), ", ".join(change.added) or "none",
                     ", ".join(change.removed) or "none")
        return change

    def _reserved(self) -> set[str]:
        return {self.home.name} | set(self._extra) | {e.name for e in self._local}

    def _apply(self, remotes: tuple[ProviderEntry, ...]) -> None:
        current = {self.home.name: self.home}
        for entry in remotes:
            current[entry.name] = entry
            known = self._objects.get(entry.name)
            if known is None or getattr(known, "sp_id", entry.sp_id) != entry.sp_id:
                self._objects[entry.name] = self._make(entry)
        current.update((entry.name, entry) for entry in self._local)
        # Swapped whole, never changed in place: a reader never sees half an update.
        self._current = current
        self._names = tuple(current)


class _Remotes(Mapping[str, ProviderEntry]):
    def __init__(self, providers: Providers) -> None:
        self._providers = providers

    def __getitem__(self, name: str) -> ProviderEntry:
        entry = self._providers.entry(name)
        if entry is None or entry.sp_id is None:
            raise KeyError(name)
        return entry

    def __iter__(self) -> Iterator[str]:
        return (e.name for e in self._providers.entries() if e.sp_id is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
