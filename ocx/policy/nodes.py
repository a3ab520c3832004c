"""Node drivers: what each service of a chain needs from the network (``get_plumbing_info``),
as GBP's node composition plugin asks its node drivers (pure).

A driver answers with the plumbing type and the service targets it wants on each side:

- ``endpoint``: a service reached directly (a load balancer's VIP): targets on the provider
  side only; no stitching;
- ``gateway``: a service that routes (a firewall, a VPN): the plumber puts an L3 proxy in
  front of the provider; the service's provider-side target takes the provider group's default
  gateway address, its consumer-side target is the proxy's gateway;
- ``transparent``: a bump in the wire (IDS, transparent firewall): an L2 proxy sharing the
  provider's CIDR; targets on both sides;

and ``management`` targets when the service must be reachable for management.

:class:`ConfigNodeDriver` reads this from the node's ``config`` (a JSON object):
``{"plumbing_type": "gateway", "provider_targets": 1, "consumer_targets": 1,
"management_targets": 0}``; without ``plumbing_type`` it goes by the node's ``service_type``
as GBP's NFP driver does (FIREWALL and VPN route, LOADBALANCER(V2) is an endpoint) and knows
the transparent kinds too (IDS, IPS, TRANSPARENT_FIREWALL, TAP).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .errors import PolicyError

ENDPOINT, GATEWAY, TRANSPARENT = "endpoint", "gateway", "transparent"
PLUMBING_TYPES = (ENDPOINT, GATEWAY, TRANSPARENT)
BY_SERVICE_TYPE = {"FIREWALL": GATEWAY, "VPN": GATEWAY, "LOADBALANCER": ENDPOINT,
                   "LOADBALANCERV2": ENDPOINT, "IDS": TRANSPARENT, "IPS": TRANSPARENT,
                   "TRANSPARENT_FIREWALL": TRANSPARENT, "TAP": TRANSPARENT}
# targets per side by plumbing type: (provider, consumer)
DEFAULT_TARGETS = {ENDPOINT: (1, 0), GATEWAY: (1, 1), TRANSPARENT: (1, 1)}
MAX_TARGETS = 16


@dataclass(frozen=True)
class PlumbingInfo:
    plumbing_type: str
    provider: tuple[dict, ...]
    consumer: tuple[dict, ...]
    management: tuple[dict, ...] = ()


def _refused(node: dict, reason: str) -> PolicyError:
    name = node.get("id") or node.get("name")
    return PolicyError(400, "NoDriverAvailableForAction",
                       f"No node driver available for node {name!r}: {reason}")


def _count(node: dict, config: dict, key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TARGETS:
        raise _refused(node, f"{key} must be an integer from 0 to {MAX_TARGETS}, "
                             f"not {value!r}")
    return value


class ConfigNodeDriver:
    name = "config"

    def get_plumbing_info(self, node: dict) -> PlumbingInfo:
        """The node's needs; raises the 400 ``NoDriverAvailableForAction`` when its config
        says nothing this driver can plumb."""
        try:
            config: Any = orjson.loads(node.get("config") or "{}")
        except orjson.JSONDecodeError:
            raise _refused(node, "its config is not a JSON object") from None
        if not isinstance(config, dict):
            raise _refused(node, "its config is not a JSON object")
        kind = config.get("plumbing_type")
        if kind is None:
            service_type = (node.get("service_type") or "").upper()
            kind = BY_SERVICE_TYPE.get(service_type)
            if kind is None:
                raise _refused(node, f"its config names no plumbing_type and its service_type "
                                     f"{node.get('service_type')!r} is none of "
                                     f"{', '.join(sorted(BY_SERVICE_TYPE))}")
        if kind not in PLUMBING_TYPES:
            raise _refused(node, f"plumbing_type {kind!r} is none of "
                                 f"{', '.join(PLUMBING_TYPES)}")
        provider, consumer = DEFAULT_TARGETS[kind]
        provider = _count(node, config, "provider_targets", provider)
        consumer = _count(node, config, "consumer_targets", consumer)
        management = _count(node, config, "management_targets", 0)
        if kind != ENDPOINT and not (provider and consumer):
            raise _refused(node, f"a {kind} service needs a target on each side")
        if kind == ENDPOINT and consumer:
            raise _refused(node, "an endpoint service has no consumer-side targets")
        return PlumbingInfo(kind, tuple({} for _ in range(provider)),
                            tuple({} for _ in range(consumer)),
                            tuple({} for _ in range(management)))


DRIVERS = {ConfigNodeDriver.name: ConfigNodeDriver}


def load(names: list[str]) -> list:
    unknown = [n for n in names if n not in DRIVERS]
    if unknown:
        raise ValueError(f"[policy] node_drivers: unknown driver(s) {', '.join(unknown)}; "
                         f"known: {', '.join(DRIVERS)}")
    return [DRIVERS[n]() for n in names]


def plumbing_info(drivers: list, node: dict) -> PlumbingInfo:
    """The first driver's answer that can plumb the node (the node composition plugin picks
    the first driver that accepts a node)."""
    refusal: PolicyError | None = None
    for driver in drivers:
        try:
            return driver.get_plumbing_info(node)
        except PolicyError as exc:
            refusal = exc
    raise refusal or _refused(node, "no node driver is configured")
