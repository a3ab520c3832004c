"""Documents that describe a service rather than list resources, combined over every cloud.
Pure: no I/O.

A client reads these to learn what it may ask. Over an exchange the honest answer is what every
cloud offers (a version range every cloud serves, the Neutron extensions every cloud has), and,
for limits and quotas, the exchange's total. Each :class:`Combine` says how one kind of document
is asked of each provider and how the answers become one; the answers it is given are already
rewritten to OCX's URLs and are in provider order, home first.
"""
from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import Any

from ..call import ApiRequest

Answers = Sequence[tuple[str, dict]]   # (provider, document), home first

_MICROVERSION = re.compile(r"^(\d+)\.(\d+)$")


class Combine(abc.ABC):
    """How one kind of document is combined; each kind says how in ``combine``."""

    def request_for(self, request: ApiRequest, remote_project: str | None,
                    local_project: str | None) -> ApiRequest:
        """The call one provider gets (by default the caller's)."""
        return request

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300

    @abc.abstractmethod
    def combine(self, request: ApiRequest, answers: Answers, local_project: str | None) -> dict:
        """The one document the caller gets."""


# -- version documents ----------------------------------------------------------------------

def _microversion(value: Any) -> tuple[int, int] | None:
    match = _MICROVERSION.match(value) if isinstance(value, str) else None
    return (int(match[1]), int(match[2])) if match else None


def _entries(document: dict) -> list[dict]:
    if isinstance(document.get("version"), dict):
        return [document["version"]]
    versions = document.get("versions")
    if isinstance(versions, dict):  # Keystone's {"versions": {"values": [...]}}
        versions = versions.get("values")
    return [v for v in versions if isinstance(v, dict) and "id" in v] \
        if isinstance(versions, list) else []


def _narrowed(entry: dict, others: list[dict]) -> dict:
    """``entry`` with the microversion range every cloud serves: the highest minimum and the
    lowest maximum. A cloud that gives no range (a service without microversions) narrows
    nothing."""
    entry = dict(entry)
    lows = [_microversion(e.get("min_version")) for e in [entry, *others]]
    highs = [_microversion(e.get("version")) for e in [entry, *others]]
    lows, highs = [v for v in lows if v], [v for v in highs if v]
    if lows and highs:
        entry["min_version"] = "%d.%d" % max(lows)
        entry["version"] = "%d.%d" % min(highs)
    return entry


class Versions(Combine):
    """The versions every cloud serves, each with the microversion range they all serve.

    Glance and Neutron list plain versions: those every cloud lists are kept, and when the
    ``CURRENT`` one is not among them the newest kept becomes ``CURRENT`` (a client picks the
    ``CURRENT`` one). Statuses are otherwise the home cloud's (Nova's ``v2.0`` stays
    ``DEPRECATED``).
    """

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300 or status == 300  # a service root answers 300 Multiple Choices

    def combine(self, request: ApiRequest, answers: Answers, local_project: str | None) -> dict:
        (_, first), rest = answers[0], [doc for _, doc in answers[1:]]
        if not isinstance(first.get("version"), dict) and "versions" not in first:
            return first  # not a version list (Neutron's /v2.0/ lists its resources)
        by_id = [{e["id"]: e for e in _entries(doc)} for doc in rest]
        kept = [_narrowed(e, [other[e["id"]] for other in by_id])
                for e in _entries(first) if all(e["id"] in other for other in by_id)]
        current = [e for e in kept if e.get("status") == "CURRENT"]
        dropped = any(e.get("status") == "CURRENT" for e in _entries(first))
        if kept and not current and dropped and not any(e.get("version") for e in kept):
            newest = max(kept, key=lambda e: _version_number(e["id"]))
            for entry in kept:
                entry["status"] = "CURRENT" if entry is newest else "SUPPORTED"
        if isinstance(first.get("version"), dict):
            return {**first, "version": kept[0]} if kept else {"versions": []}
        if isinstance(first.get("versions"), dict):
            return {**first, "versions": {**first["versions"], "values": kept}}
        return {**first, "versions": kept}


def _version_number(version_id: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version_id))


# -- Neutron extensions ------------------------------------------------------------------------

class NetworkExtensions(Combine):
    """``GET /v2.0/extensions``: the extensions every cloud has (or, ``union``, any cloud has).

    With the intersection a client never relies on an extension some cloud lacks; the union
    shows what the exchange offers somewhere (calls using it then need the provider named).
    """

    def __init__(self, union: bool = False) -> None:
        self.union = union

    def combine(self, request: ApiRequest, answers: Answers, local_project: str | None) -> dict:
        per_cloud = [{e["alias"]: e for e in doc.get("extensions", [])
                      if isinstance(e, dict) and "alias" in e} for _, doc in answers]
        if self.union:
            merged: dict[str, dict] = {}
            for extensions in per_cloud:
                for alias, extension in extensions.items():
                    merged.setdefault(alias, extension)
            return {"extensions": list(merged.values())}
        first, rest = per_cloud[0], per_cloud[1:]
        return {"extensions": [e for alias, e in first.items()
                               if all(alias in other for other in rest)]}


# -- limits and quotas: the exchange's totals --------------------------------------------------

def _total(values: list[Any]) -> Any:
    """Numbers add up, but one unlimited (-1) makes the total unlimited; dicts add key by key."""
    if all(isinstance(v, dict) for v in values):
        keys = dict.fromkeys(k for v in values for k in v)
        return {k: _total([v[k] for v in values if k in v]) for k in keys}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return -1 if -1 in values else sum(values)
    return values[0]


class Limits(Combine):
    """``GET .../limits`` (Nova, Cinder): absolute limits and usage summed over the clouds."""

    def combine(self, request: ApiRequest, answers: Answers, local_project: str | None) -> dict:
        documents = [doc for _, doc in answers if isinstance(doc.get("limits"), dict)]
        absolute = _total([d["limits"].get("absolute", {}) for d in documents])
        rate = [r for d in documents for r in d["limits"].get("rate", [])]
        return {"limits": {"rate": rate, "absolute": absolute}}


class QuotaSets(Combine):
    """``GET .../os-quota-sets/{project}[/detail]``: each cloud's quota of the caller's project
    there (the project id in the path becomes the remote one), summed; ``id`` stays local."""

    def request_for(self, request: ApiRequest, remote_project: str | None,
                    local_project: str | None) -> ApiRequest:
        if request.resource_id == local_project and remote_project is not None:
            return request.replace(resource_id=remote_project)
        return request

    def combine(self, request: ApiRequest, answers: Answers, local_project: str | None) -> dict:
        sets = [doc["quota_set"] for _, doc in answers if isinstance(doc.get("quota_set"), dict)]
        combined = _total([{k: v for k, v in s.items() if k != "id"} for s in sets])
        return {"quota_set": {"id": request.resource_id, **combined}}
