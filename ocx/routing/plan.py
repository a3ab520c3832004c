"""Plan: decide where a call goes. Pure: no I/O, everything it needs is passed in.

- A version document, a listing or a create goes to one provider: the one the caller names
  (``X-OCX-Provider``, or mixmatch's ``MM-SERVICE-PROVIDER``), else the service's default
  (the home cloud unless configured otherwise).
- A listing an aggregator extension is for (``aggregate``) goes to every provider at once, and
  the answers are merged into one, unless the caller names a provider.
- A call for a resource with a known mapping goes to its provider; if that provider no longer
  has it (404), the executor forgets the mapping and the call is searched. The mapping may name
  a provider reached only through a peer's injected mappings (``reachable``): such a provider is
  never searched or listed.
- A call for a resource with no mapping is searched: every provider is asked for the resource
  concurrently; the first success in provider order wins (the home cloud first, so that
  resources every cloud has, like flavors, resolve the same way every time).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..call import ApiRequest

TARGET_HEADERS = ("X-OCX-Provider", "MM-SERVICE-PROVIDER")

# Collections whose members live in one project of one cloud: their ids are worth
# remembering. Others (flavors, schemas, extensions, quotas...) exist in every cloud.
LEARNABLE: Mapping[str, frozenset[str]] = {
    "compute": frozenset({"servers"}),
    "volume": frozenset({"volumes", "snapshots", "backups", "attachments", "groups",
                         "group_snapshots"}),
    "image": frozenset({"images"}),
    "network": frozenset({"networks", "subnets", "ports", "routers", "security-groups",
                          "security-group-rules", "floatingips", "trunks", "subnetpools"}),
}


class PlanError(ValueError):
    """The call cannot be planned (for example it names a provider OCX does not know)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Kind(Enum):
    SINGLE = "single"      # one provider answers
    SEARCH = "search"      # find the provider that has the resource, then answer from it
    AGGREGATE = "aggregate"  # every provider answers; the answers are merged into one


@dataclass(frozen=True)
class Plan:
    kind: Kind
    targets: tuple[str, ...]      # provider names, in order of preference
    mapped: bool = False          # SINGLE from a resource mapping: re-search on a 404
    learn: bool = False           # remember where the resource lives once found or created
    merge: Any = None             # AGGREGATE: how answers merge (a ``listing.Listing``)

    @property
    def target(self) -> str:
        return self.targets[0]


def learnable_types() -> frozenset[str]:
    """Every resource type (collection) OCX keeps mappings of."""
    return frozenset().union(*LEARNABLE.values())


def learnable(request: ApiRequest) -> bool:
    return request.collection in LEARNABLE.get(request.service, frozenset())


def named_provider(request: ApiRequest) -> str | None:
    for header in TARGET_HEADERS:
        value = request.headers.get(header, "").strip()
        if value:
            return value
    return None


def plan(request: ApiRequest, *, providers: Sequence[str], default: str,
         mapped_provider: str | None, reachable: Collection[str] = ()) -> Plan:
    """Decide the targets of ``request``.

    ``providers``: every provider, home first; ``default``: where creates and listings go for
    this service; ``mapped_provider``: where the resource mapping says the resource lives;
    ``reachable``: providers reached only with injected mappings.
    """
    named = named_provider(request)
    if named is not None:
        if named not in providers:
            raise PlanError(400, f"Unknown provider {named!r}; known providers: "
                                 f"{', '.join(providers)}.")
        return Plan(Kind.SINGLE, (named,), learn=learnable(request))
    if request.is_version_document or request.resource_id is None:
        return Plan(Kind.SINGLE, (default,), learn=learnable(request))
    if mapped_provider is not None and (mapped_provider in providers
                                        or mapped_provider in reachable):
        return Plan(Kind.SINGLE, (mapped_provider,), mapped=True, learn=learnable(request))
    return Plan(Kind.SEARCH, tuple(providers), learn=learnable(request))


def after_stale(stale: Plan, providers: Sequence[str]) -> Plan:
    """The mapped provider no longer has the resource (it answered 404): search everywhere."""
    return Plan(Kind.SEARCH, tuple(providers), learn=stale.learn)


def aggregate(current: Plan, request: ApiRequest, merge: Any,
              providers: Sequence[str]) -> Plan:
    """Every provider's answer, merged by ``merge``; as planned if a provider is named."""
    if named_provider(request) is not None:
        return current
    return Plan(Kind.AGGREGATE, tuple(providers), learn=current.learn, merge=merge)
