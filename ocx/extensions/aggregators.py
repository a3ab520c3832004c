"""Aggregators (seed 000's ``VolumeAggregator`` and its kin): one answer over every cloud.

Each is an extension for the listing paths of one collection. It turns the planned call into
an aggregate over every provider; the gateway then asks them all at once and merges their
answers with the one merge engine (``routing.listing`` for the service's format,
``routing.merge`` for the order and the pages). A caller that names a provider
(``X-OCX-Provider``) still gets that provider's own listing.

The documents that describe the services (versions, Neutron's extensions, limits, quotas) are
combined the same way, by the rules in ``routing.documents``.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from ..routing import plan as planning
from ..routing.documents import Combine, Limits, NetworkExtensions, QuotaSets, Versions
from ..routing.listing import Listing, find
from .base import Call, Extension


class Aggregator(Extension):
    """Base of the aggregators: ``listing`` names the collection, the paths follow from it."""

    methods = frozenset({"GET"})
    listing: ClassVar[Listing]

    def __init_subclass__(cls, service: str = "", collection: str = "", **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if service:
            cls.listing = find(service, collection)
            paths = [f"/{service}/{collection}"]
            if cls.listing.summary is not None:
                paths.append(f"/{service}/{collection}/detail")
            cls.paths = tuple(paths)
            cls.name = f"{collection.removeprefix('os-').rstrip('s')}-aggregator"

    def __init__(self, providers: Sequence[str]) -> None:
        self.providers = providers  # live: the gateway's providers change while it runs

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        call.plan = planning.aggregate(call.plan, call.request, self.listing, self.providers)


class ServerAggregator(Aggregator, service="compute", collection="servers"):
    """Servers of every cloud: ``GET /compute/v2.1/servers[/detail]``."""


class FlavorAggregator(Aggregator, service="compute", collection="flavors"):
    """Flavors of every cloud; one that several clouds hold alike is shown once."""


class KeypairAggregator(Aggregator, service="compute", collection="os-keypairs"):
    """The caller's key pairs in every cloud; one imported alike everywhere is shown once."""


class VolumeAggregator(Aggregator, service="volume", collection="volumes"):
    """Volumes of every cloud (seed 000's ``VolumeAggregator``)."""


class SnapshotAggregator(Aggregator, service="volume", collection="snapshots"):
    """Volume snapshots of every cloud."""


class ImageAggregator(Aggregator, service="image", collection="images"):
    """Images the caller can see in every cloud."""


class NetworkAggregator(Aggregator, service="network", collection="networks"):
    """Networks of every cloud."""


class SubnetAggregator(Aggregator, service="network", collection="subnets"):
    """Subnets of every cloud."""


class PortAggregator(Aggregator, service="network", collection="ports"):
    """Ports of every cloud."""


class RouterAggregator(Aggregator, service="network", collection="routers"):
    """Routers of every cloud."""


class SecurityGroupAggregator(Aggregator, service="network", collection="security-groups"):
    """Security groups of every cloud."""


# -- documents that describe the services, combined over every cloud --------------------------

class _Combining(Extension, abc.ABC):
    """An extension that has a document of every provider combined (``routing.documents``)."""

    methods = frozenset({"GET"})

    def __init__(self, providers: Sequence[str]) -> None:
        self.providers = providers  # live: the gateway's providers change while it runs

    @abc.abstractmethod
    def combiner(self) -> Combine:
        """How the documents combine."""

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        call.plan = planning.aggregate(call.plan, call.request, self.combiner(), self.providers)


class VersionAggregator(_Combining):
    """Version documents: the versions and microversions every cloud serves."""

    name = "version-aggregator"
    paths = ("/compute", "/volume", "/image", "/image/versions", "/network")

    def combiner(self) -> Combine:
        return Versions()


class NetworkExtensionAggregator(_Combining):
    """``GET /network/v2.0/extensions``: what every cloud's Neutron has (or, configured, any)."""

    name = "network-extension-aggregator"
    paths = ("/network/extensions",)

    def __init__(self, providers: Sequence[str], network_extensions_union: bool = False) -> None:
        super().__init__(providers)
        self.union = network_extensions_union

    def combiner(self) -> Combine:
        return NetworkExtensions(self.union)


class LimitsAggregator(_Combining):
    """Absolute limits and usage, Nova's and Cinder's, summed over the clouds."""

    name = "limits-aggregator"
    paths = ("/compute/limits", "/volume/limits")

    def combiner(self) -> Combine:
        return Limits()


class QuotaAggregator(_Combining):
    """The caller's project's quotas (and usage, ``/detail``, ``?usage=true``) over the clouds."""

    name = "quota-aggregator"
    paths = ("/compute/os-quota-sets/{project_id}", "/compute/os-quota-sets/{project_id}/detail",
             "/volume/os-quota-sets/{project_id}")

    def combiner(self) -> Combine:
        return QuotaSets()
