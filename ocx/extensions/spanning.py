"""One network across several clouds (issue 7; seed 004: "in a project deploy one VM on NU, one
on BU, have sit on same network").

- ``POST /v2.0/networks`` with ``"ocx:spanning": true`` (removed before Neutron sees the body):
  OCX hands out a VXLAN VNI of ``[spanning] vni_ranges`` and the network is made in the planned
  cloud (its *origin*) as a ``vxlan`` network with that segmentation id. Its id is the spanning
  network's id.
- ``POST /v2.0/subnets`` on it: one CIDR; the addresses are cut into one slice per provider
  (``routing.pools``) and the origin's subnet gets the origin's slice.
- A port asked on it in another cloud (``POST /v2.0/ports`` sent there, or ``POST .../servers``
  with ``networks: [{"uuid": id}]`` booted there) first makes the network's *twin* there: the
  same name, VNI and CIDR, that cloud's own pools; the call then names the twin.
- Listings show it once (twins hidden, their ids shown as the spanning network's, their ports'
  ``network_id`` too); ``GET /v2.0/ports?network_id=<id>`` lists its ports in every cloud.
- ``DELETE`` deletes every twin, then the network (a subnet: its twins, then it); a port in
  use in any cloud refuses the whole delete first, as Neutron refuses a network with ports.

The segment is set with Neutron's ``provider:*`` attributes, which Neutron's default policy
lets only admins set: the caller's role in each cloud decides, and a refusal is Neutron's own.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from oslo_utils import strutils
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ..call import ApiRequest
from ..routing import plan as planning
from ..routing import pools as addressing
from ..routing import vni as vnis
from ..store import ResourceMapping, SpanningNetwork, SpanningSubnet, SpanningView, utcnow
from .base import Call, Extension, ExtensionError

log = logging.getLogger(__name__)

FLAG = "ocx:spanning"
PROVIDER_ATTRIBUTES = ("provider:network_type", "provider:segmentation_id",
                       "provider:physical_network", "segments")
# What a twin copies of the spanning network and of its subnets (as the origin made them).
NETWORK_COPIED = ("name", "description", "admin_state_up", "mtu", "port_security_enabled")
SUBNET_COPIED = ("name", "description", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
                 "dns_nameservers", "host_routes", "ipv6_ra_mode", "ipv6_address_mode")
# Ports Neutron deletes with their network (AUTO_DELETE_PORT_OWNERS): not "in use".
AUTO_DELETE_OWNERS = frozenset({"network:dhcp", "network:distributed",
                                "network:floatingip_agent_gateway"})
# Neutron's words when no segment is left (NoNetworkAvailable, a 503).
NO_NETWORK = "Unable to create the network. No tenant network is available for allocation."
TWIN_WAIT = 60.0    # seconds a call waits for a twin another worker is making
TWIN_STALE = 300.0  # an unfinished claim this old is taken over (its maker is presumed dead)

def as_boolean(value: object) -> bool:
    """The flag's value read as Neutron reads a boolean attribute (its convert_to_boolean is
    oslo's strict bool_from_string); refused as Neutron refuses."""
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise ExtensionError(400, f"Invalid input for operation: '{value}' cannot be "
                                  f"converted to boolean.") from None


def _loads(raw: bytes | None) -> dict | None:
    try:
        document = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _items(document: dict, one: str, many: str) -> list[dict]:
    """The resources of a body: ``{"port": {...}}`` or a bulk ``{"ports": [...]}``."""
    if isinstance(document.get(one), dict):
        return [document[one]]
    if isinstance(document.get(many), list):
        return [i for i in document[many] if isinstance(i, dict)]
    return []


def _with_body(call: Call, document: dict) -> None:
    call.request = call.request.replace(body=orjson.dumps(document))


def _error_text(body: bytes | None) -> str:
    """A provider's error message (Neutron's or Nova's shape), else its raw text."""
    document = _loads(body)
    if document:
        for value in document.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    return (body or b"").decode(errors="replace")[:500] or "no message"


def _error_kind(body: bytes | None) -> str | None:
    """The type of a Neutron error (``{"NeutronError": {"type": ...}}``), passed on as it is."""
    error = (_loads(body) or {}).get("NeutronError")
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


# -- how listings and answers show spanning networks (pure) ------------------------------------

def show_networks(items: list[dict], view: SpanningView) -> list[dict]:
    """Each spanning network once, under its own id: a twin is hidden where the spanning
    network is listed too, else shown as it (a listing of one cloud)."""
    listed = {i.get("id") for i in items}
    shown: list[dict] = []
    seen: set[str] = set()
    for item in items:
        spanning = view.networks.get(item.get("id"))
        if spanning is None:
            shown.append(item)
            continue
        if spanning in seen or (spanning != item["id"] and spanning in listed):
            continue
        seen.add(spanning)
        item = {**item, "id": spanning, FLAG: True}
        if isinstance(item.get("subnets"), list):
            item["subnets"] = [view.subnets.get(s, s) for s in item["subnets"]]
        shown.append(item)
    return shown


def show_subnets(items: list[dict], view: SpanningView) -> list[dict]:
    """A twin subnet is hidden where its spanning subnet is listed, else shown as it."""
    listed = {i.get("id") for i in items}
    shown: list[dict] = []
    for item in items:
        spanning = view.subnets.get(item.get("id"))
        if spanning is not None:
            if spanning in listed:
                continue
            listed.add(spanning)
            item = {**item, "id": spanning}
        if item.get("network_id") in view.networks:
            item = {**item, "network_id": view.networks[item["network_id"]]}
        shown.append(item)
    return shown


def show_port(item: dict, view: SpanningView) -> dict:
    """A port on a twin shows the spanning network's and subnets' ids."""
    network = view.networks.get(item.get("network_id"))
    if network is None:
        return item
    item = {**item, "network_id": network}
    if isinstance(item.get("fixed_ips"), list):
        item["fixed_ips"] = [
            {**ip, "subnet_id": view.subnets.get(ip.get("subnet_id"), ip.get("subnet_id"))}
            if isinstance(ip, dict) else ip for ip in item["fixed_ips"]]
    return item


def widened(pairs: Iterable[tuple[str, str]], view: SpanningView) -> list[tuple[str, str]]:
    """A listing query whose ``network_id`` filter names a spanning network also names its
    twins (Neutron ors the values of one filter)."""
    result: list[tuple[str, str]] = []
    for key, value in pairs:
        result.append((key, value))
        if key == "network_id":
            result.extend(("network_id", twin) for twin in view.twins_of.get(value, ())
                          if twin != value)
    return result


def narrowed_link(href: str, added: set[str]) -> str:
    """A ``next`` link without the twin ids :func:`widened` added (the caller never sees them)."""
    parts = urlsplit(href)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not (k == "network_id" and v in added)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- the extension --------------------------------------------------------------------------

class SpanningNetworks(Extension):
    name = "spanning-networks"
    methods = frozenset({"GET", "POST", "PUT", "DELETE"})
    paths = ("/network/networks", "/network/networks/{network_id}", "/network/subnets",
             "/network/subnets/{subnet_id}", "/network/ports", "/network/ports/{port_id}",
             "/compute/servers")

    def __init__(self, store, executor, mapper, providers: Sequence[str],
                 vni_ranges: Sequence[str] = ("4096:8191",)) -> None:
        self.store = store                 # store.MappingStore (its ``spanning`` rows)
        self.executor = executor           # routing.execute.Executor
        self.mapper = mapper               # identity.tokens.TokenMapper
        self.providers = tuple(providers)  # every provider, home first: one pool slice each
        self.ranges = vnis.parse_ranges(vni_ranges)   # a bad range stops OCX at start-up
        self._making: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = \
            weakref.WeakValueDictionary()

    # -- hooks --------------------------------------------------------------------------------

    async def on_request(self, call: Call, params: dict[str, str]) -> None:
        api = call.request
        if api.method == "GET" and api.listing and api.collection in ("ports", "subnets") \
                and "network_id" in api.query:
            view = await self._view(call)
            pairs = widened(api.query.items(), view)
            if len(pairs) != len(api.query):
                asked = set(api.query.getall("network_id"))
                call.extras["spanning_added"] = {v for k, v in pairs if k == "network_id"} - asked
                call.request = api.replace(query=MultiDictProxy(MultiDict(pairs)))

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        api = call.request
        if api.method == "POST" and api.is_create:
            if api.collection == "networks":
                await self._plan_network(call)
            elif api.collection == "subnets":
                await self._plan_subnet(call)
            elif api.collection == "ports":
                await self._plan_ports(call)
            elif api.collection == "servers":
                await self._plan_server(call)
        elif api.method == "DELETE" and "network_id" in params:
            await self._plan_delete(call, params["network_id"])
        elif api.method == "DELETE" and "subnet_id" in params:
            await self._plan_subnet_delete(call, params["subnet_id"])

    async def on_response(self, call: Call, params: dict[str, str]) -> None:
        api, response = call.request, call.response
        if "spanning_vni" in call.extras:
            await self._network_made(call)
        elif "spanning_subnet" in call.extras:
            await self._subnet_made(call)
        elif "spanning_delete" in call.extras:
            if response.status in (204, 404):
                await self.store.spanning.deleted(call.extras["spanning_delete"])
        elif "spanning_subnet_delete" in call.extras:
            if response.status in (204, 404):
                await self.store.spanning.subnet_deleted(call.extras["spanning_subnet_delete"])
        elif api.service == "network" and response.body and 200 <= response.status < 300 \
                and api.method in ("GET", "POST", "PUT"):
            await self._shown(call)

    # -- create a spanning network ----------------------------------------------------------

    async def _plan_network(self, call: Call) -> None:
        document = _loads(call.request.body)
        if document is None:
            return  # Neutron answers a body it cannot read itself
        if isinstance(document.get("networks"), list):
            if any(isinstance(i, dict) and FLAG in i for i in document["networks"]):
                raise ExtensionError(400, f"Bad networks request: {FLAG} is not supported in a "
                                          f"bulk create; create spanning networks one by one.")
            return
        item = document.get("network")
        if not isinstance(item, dict) or FLAG not in item:
            return
        wanted = as_boolean(item.pop(FLAG))
        if wanted:
            given = [a for a in PROVIDER_ATTRIBUTES if a in item]
            if given:
                raise ExtensionError(400, f"Invalid input for operation: {', '.join(given)} "
                                          f"cannot be given with {FLAG}: a spanning network's "
                                          f"segment is the VXLAN VNI OCX hands out.")
            vni = await self.store.spanning.reserve_vni(
                self.ranges, vnis.first_free, call.caller.project_id, call.plan.target)
            if vni is None:
                log.warning("spanning networks: every VNI of %s is handed out",
                            vnis.describe(self.ranges))
                raise ExtensionError(503, f"{NO_NETWORK} (Every VXLAN VNI of OCX's spanning "
                                          f"range {vnis.describe(self.ranges)} is taken.)")
            item["provider:network_type"] = "vxlan"
            item["provider:segmentation_id"] = vni
            call.extras["spanning_vni"] = vni
        _with_body(call, document)

    async def _network_made(self, call: Call) -> None:
        vni = call.extras["spanning_vni"]
        document = _loads(call.response.body) if call.response.status == 201 else None
        network = document.get("network") if document else None
        if not isinstance(network, dict) or not isinstance(network.get("id"), str):
            # The cloud refused (a caller who may not set a segment gets Neutron's 403): the
            # VNI never carried a packet, so it goes back.
            await self.store.spanning.release_vni(vni)
            return
        template = {k: network[k] for k in NETWORK_COPIED if k in network}
        await self.store.spanning.bind_vni(vni, network["id"], template)
        self._reply(call, {"network": {**network, FLAG: True}})

    # -- subnets: one CIDR, a pool slice per cloud --------------------------------------------

    async def _plan_subnet(self, call: Call) -> None:
        document = _loads(call.request.body)
        if document is None:
            return
        if isinstance(document.get("subnets"), list):
            for item in _items(document, "subnet", "subnets"):
                if await self._spanning(call, item.get("network_id")) is not None:
                    raise ExtensionError(400, "Bad subnets request: subnets of a spanning "
                                              "network are created one by one.")
            return
        item = document.get("subnet")
        network = await self._spanning(call, item.get("network_id")) \
            if isinstance(item, dict) else None
        if network is None:
            return
        cidr = item.get("cidr")
        if not isinstance(cidr, str):
            raise ExtensionError(400, "Bad subnets request: a subnet of a spanning network "
                                      "needs a cidr: OCX shares its addresses between the "
                                      "clouds.")
        try:
            subnet = addressing.spec(cidr, item.get("gateway_ip"), item.get("allocation_pools"),
                                     "gateway_ip" in item)
            slices = dict(zip(self.providers, addressing.split(subnet, len(self.providers))))
        except addressing.PoolError as exc:
            raise ExtensionError(exc.status, exc.message) from None
        if network.origin not in slices:
            raise ExtensionError(409, f"The network {network.network_id} lives in "
                                      f"{network.origin}, which is no longer a provider of "
                                      f"this OCX: its addresses cannot be shared out.")
        item["allocation_pools"] = slices[network.origin]
        # Subnets of a spanning network live in its origin, whichever cloud the caller named.
        if call.plan.target != network.origin:
            call.plan = planning.Plan(planning.Kind.SINGLE, (network.origin,),
                                      learn=call.plan.learn)
        call.extras["spanning_subnet"] = (network, slices)
        _with_body(call, document)

    async def _subnet_made(self, call: Call) -> None:
        network, slices = call.extras["spanning_subnet"]
        document = _loads(call.response.body) if call.response.status == 201 else None
        subnet = document.get("subnet") if document else None
        if not isinstance(subnet, dict) or not isinstance(subnet.get("id"), str):
            return
        template = {k: subnet[k] for k in SUBNET_COPIED if k in subnet}
        made: dict[str, str] = {}
        twins = [t for t in await self.store.spanning.twins(network.network_id)
                 if t.twin_id and t.provider != network.origin]
        try:
            for twin in twins:
                made[twin.provider] = await self._make_subnet(
                    call, twin.provider, twin.twin_id, template, slices[twin.provider])
        except ExtensionError as exc:
            # All or nothing: the twin subnets made so far and the subnet itself go again.
            for provider, subnet_id in made.items():
                await self._delete(call, provider, "subnets", subnet_id)
            await self._delete(call, network.origin, "subnets", subnet["id"])
            raise ExtensionError(exc.status, f"{exc.message} The subnet was not created.",
                                 exc.kind) from None
        await self.store.spanning.add_subnet(
            SpanningSubnet(subnet["id"], network.network_id, template, slices), made)

    async def _make_subnet(self, call: Call, provider: str, network_id: str, template: dict,
                           pools: list[dict]) -> str:
        answer = await self._send(call, provider, "POST", "subnets", body={"subnet": {
            **template, "network_id": network_id, "allocation_pools": pools}})
        made = (_loads(answer.body) or {}).get("subnet") if answer.status == 201 else None
        if not isinstance(made, dict) or not isinstance(made.get("id"), str):
            raise ExtensionError(answer.status if answer.status >= 400 else 502,
                                 f"Provider {provider} refused the subnet of twin network "
                                 f"{network_id}: {_error_text(answer.body)}.",
                                 _error_kind(answer.body))
        await self.store.put_resource_mappings([ResourceMapping.learned(
            "subnets", made["id"], provider, answer.remote_project, None, "create")])
        return made["id"]

    # -- ports and servers: the twin in the cloud the port is asked in ------------------------

    async def _plan_ports(self, call: Call) -> None:
        document = _loads(call.request.body)
        target = call.plan.target
        changed = False
        for item in _items(document or {}, "port", "ports"):
            network = await self._spanning(call, item.get("network_id"))
            if network is None or network.origin == target:
                continue
            item["network_id"] = await self._twin(call, network, target)
            subnets = await self.store.spanning.subnet_twins(network.network_id, target)
            for ip in item.get("fixed_ips") or ():
                if isinstance(ip, dict) and ip.get("subnet_id") in subnets:
                    ip["subnet_id"] = subnets[ip["subnet_id"]]
            changed = True
        if changed:
            _with_body(call, document)

    async def _plan_server(self, call: Call) -> None:
        document = _loads(call.request.body)
        server = document.get("server") if document else None
        networks = server.get("networks") if isinstance(server, dict) else None
        if not isinstance(networks, list):
            return
        target = call.plan.target
        changed = False
        for item in networks:
            if not isinstance(item, dict):
                continue
            network = await self._spanning(call, item.get("uuid"))
            if network is None or network.origin == target:
                continue
            # That cloud's Nova asks its own Neutron for the port: on the twin.
            item["uuid"] = await self._twin(call, network, target)
            changed = True
        if changed:
            _with_body(call, document)

    async def _twin(self, call: Call, network: SpanningNetwork, provider: str) -> str:
        """The id of the network's twin in ``provider``, made first if there is none: one
        twin per cloud, however many calls ask at once (a lock in this worker, a claim row in
        the store across workers)."""
        key = (network.network_id, provider)
        lock = self._making.get(key)
        if lock is None:
            lock = self._making[key] = asyncio.Lock()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TWIN_WAIT
        async with lock:
            while True:
                twin = await self.store.spanning.twin(*key)
                if twin is not None and twin.twin_id:
                    return twin.twin_id
                if twin is None:
                    mine = await self.store.spanning.claim_twin(*key)
                else:
                    age = (utcnow() - twin.claimed_at).total_seconds()
                    mine = age > TWIN_STALE and await self.store.spanning.claim_twin(
                        *key, stale=twin.claimed_at)
                if mine:
                    try:
                        return await self._make_twin(call, network, provider)
                    except BaseException:
                        await self.store.spanning.unclaim_twin(*key)
                        raise
                if loop.time() > deadline:
                    raise ExtensionError(503, f"The network {network.network_id} is still "
                                              f"being made in {provider} by another OCX "
                                              f"worker; try again.")
                await asyncio.sleep(0.1)

    async def _make_twin(self, call: Call, network: SpanningNetwork, provider: str) -> str:
        answer = await self._send(call, provider, "POST", "networks", body={"network": {
            **network.template, "provider:network_type": "vxlan",
            "provider:segmentation_id": network.vni}})
        made = (_loads(answer.body) or {}).get("network") if answer.status == 201 else None
        if not isinstance(made, dict) or not isinstance(made.get("id"), str):
            raise ExtensionError(answer.status if answer.status >= 400 else 502,
                                 f"The network {network.network_id} could not be extended "
                                 f"to {provider}: {_error_text(answer.body)}",
                                 _error_kind(answer.body))
        twin_id = made["id"]
        subnets: dict[str, str] = {}
        try:
            for subnet in await self.store.spanning.subnets(network.network_id):
                pools = subnet.pools.get(provider)
                if pools is None:
                    raise ExtensionError(409, f"The subnet {subnet.subnet_id} of network "
                                              f"{network.network_id} was shared out before "
                                              f"provider {provider} was configured: it has no "
                                              f"addresses there.")
                subnets[subnet.subnet_id] = await self._make_subnet(
                    call, provider, twin_id, subnet.template, pools)
        except BaseException:
            await self._delete(call, provider, "networks", twin_id)   # its subnets go with it
            raise
        await self.store.spanning.twin_made(network.network_id, provider, twin_id, subnets)
        await self.store.put_resource_mappings([ResourceMapping.learned(
            "networks", twin_id, provider, answer.remote_project, None, "create")])
        log.info("spanning network %s: twin %s made in %s (VNI %d)", network.network_id,
                 twin_id, provider, network.vni)
        return twin_id

    # -- delete: every twin, then the network ---------------------------------------------------

    async def _plan_delete(self, call: Call, network_id: str) -> None:
        network = await self._spanning(call, network_id)
        if network is None:
            return
        call.extras["spanning_delete"] = network_id
        if await self._ports_in_use(call, network.origin, network_id):
            return  # the origin's Neutron refuses the delete in its own words; nothing changes
        twins = [t for t in await self.store.spanning.twins(network_id)
                 if t.twin_id and t.provider != network.origin]
        in_use = await asyncio.gather(*(self._ports_in_use(call, t.provider, t.twin_id)
                                        for t in twins))
        busy = [port for ports in in_use for port in ports]
        if busy:
            raise ExtensionError(409, f"Unable to complete operation on network {network_id}. "
                                      f"There are one or more ports still in use on the "
                                      f"network, id for these ports is: {','.join(busy)}.")
        gone, failed = [], []
        for twin in twins:
            answer = await self._delete(call, twin.provider, "networks", twin.twin_id)
            if answer is not None and answer.status in (204, 404):
                gone.append(twin)
            else:
                failed.append((twin, answer))
        await self.store.spanning.twins_gone(network_id, [t.provider for t in gone])
        if failed:
            twin, answer = failed[0]
            done = ", ".join(f"{t.twin_id} in {t.provider}" for t in gone) or "none"
            log.warning("spanning network %s: twin %s in %s not deleted; deleted: %s",
                        network_id, twin.twin_id, twin.provider, done)
            why = _error_text(answer.body) if answer is not None else "it could not be reached"
            raise ExtensionError(answer.status if answer is not None else 502,
                                 f"The network {network_id} was not deleted: its twin "
                                 f"{twin.twin_id} in {twin.provider} could not be deleted "
                                 f"({why}). Twins deleted: {done}.")

    async def _plan_subnet_delete(self, call: Call, subnet_id: str) -> None:
        """A subnet of a spanning network goes from every cloud: the twins' first, unless a
        port anywhere still holds one of its addresses (then no cloud's is deleted)."""
        subnet = await self.store.spanning.subnet(subnet_id)
        network = await self._spanning(call, subnet.network_id) if subnet else None
        if network is None:
            return
        call.extras["spanning_subnet_delete"] = subnet_id
        on_origin = ("fixed_ips", f"subnet_id={subnet_id}")
        if await self._ports_in_use(call, network.origin, None, on_origin):
            return  # the origin's Neutron refuses in its own words; nothing changes
        twins = await self.store.spanning.twins_of_subnet(subnet_id)
        in_use = await asyncio.gather(*(
            self._ports_in_use(call, p, None, ("fixed_ips", f"subnet_id={t}"))
            for p, t in twins.items()))
        if any(in_use):
            raise ExtensionError(409, f"Unable to complete operation on subnet {subnet_id}: "
                                      f"One or more ports have an IP allocation from this "
                                      f"subnet.")
        gone = []
        for provider, twin_id in twins.items():
            answer = await self._delete(call, provider, "subnets", twin_id)
            if answer is None or answer.status not in (204, 404):
                await self.store.spanning.subnet_twins_gone(subnet_id, gone)
                why = _error_text(answer.body) if answer is not None else "unreachable"
                raise ExtensionError(answer.status if answer is not None else 502,
                                     f"The subnet {subnet_id} was not deleted: its twin "
                                     f"{twin_id} in {provider} could not be deleted ({why}). "
                                     f"Twins deleted in: {', '.join(gone) or 'none'}.")
            gone.append(provider)
        await self.store.spanning.subnet_twins_gone(subnet_id, gone)

    async def _ports_in_use(self, call: Call, provider: str, network_id: str | None,
                            *also: tuple[str, str]) -> list[str]:
        """Ports on the network (or matching ``also``) that Neutron would not delete with it."""
        where = [("network_id", network_id)] if network_id is not None else []
        answer = await self._send(call, provider, "GET", "ports", query=[
            *where, *also, ("fields", "id"), ("fields", "device_owner")])
        ports = (_loads(answer.body) or {}).get("ports") if answer.ok else None
        return [p["id"] for p in ports or () if isinstance(p, dict)
                and p.get("device_owner") not in AUTO_DELETE_OWNERS]

    # -- answers: one network, ports of every cloud ---------------------------------------------

    async def _shown(self, call: Call) -> None:
        api = call.request
        if api.collection not in ("networks", "subnets", "ports"):
            return
        view = await self._view(call)
        if not view:
            return
        document = _loads(call.response.body)
        if document is None:
            return
        key = api.collection
        one = key[:-1]
        if isinstance(document.get(key), list):
            items = [i for i in document[key] if isinstance(i, dict)]
            if key == "networks":
                document[key] = show_networks(items, view)
            elif key == "subnets":
                document[key] = show_subnets(items, view)
            else:
                document[key] = [show_port(i, view) for i in items]
            added = call.extras.get("spanning_added")
            if added and isinstance(document.get(f"{key}_links"), list):
                document[f"{key}_links"] = [
                    {**link, "href": narrowed_link(link["href"], added)}
                    if isinstance(link, dict) and isinstance(link.get("href"), str) else link
                    for link in document[f"{key}_links"]]
        elif isinstance(document.get(one), dict):
            item = document[one]
            if key == "networks":
                shown = show_networks([item], view)
                if not shown:
                    return
                document[one] = shown[0]
            elif key == "subnets":
                document[one] = (show_subnets([item], view) or [item])[0]
            else:
                document[one] = show_port(item, view)
        else:
            return
        self._reply(call, document)

    @staticmethod
    def _reply(call: Call, document: dict) -> None:
        call.response = dataclasses.replace(call.response, body=orjson.dumps(document))

    # -- helpers --------------------------------------------------------------------------------

    async def _view(self, call: Call) -> SpanningView:
        if "spanning_view" not in call.extras:
            call.extras["spanning_view"] = await self.store.spanning.view(
                call.caller.project_id)
        return call.extras["spanning_view"]

    async def _spanning(self, call: Call, network_id: object) -> SpanningNetwork | None:
        """The caller's project's live spanning network with this id, or None."""
        if not isinstance(network_id, str) or not network_id:
            return None
        network = await self.store.spanning.network(network_id)
        if network is None or network.project_id != call.caller.project_id:
            return None
        return network

    async def _send(self, call: Call, provider: str, method: str, collection: str,
                    resource_id: str | None = None, body: dict | None = None,
                    query: Sequence[tuple[str, str]] = ()):
        """A Neutron call OCX makes itself in ``provider``, with the caller's token there."""
        credentials = await self.mapper.credentials(call.caller, provider)
        data = orjson.dumps(body) if body is not None else None
        request = ApiRequest.own(method, "network", call.caller.project_id, collection,
                                 resource_id).replace(
            query=MultiDictProxy(MultiDict(query)), body=data,
            headers=CIMultiDictProxy(CIMultiDict({"Accept": "application/json",
                                                  "Content-Type": "application/json"})))
        answer = await self.executor.send(provider, request, credentials, data)
        answer.release()
        return answer

    async def _delete(self, call: Call, provider: str, collection: str, resource_id: str):
        """Delete what OCX made; a failure is logged and given back, never raised."""
        try:
            answer = await self._send(call, provider, "DELETE", collection, resource_id)
        except Exception as exc:  # noqa: BLE001 - undoing goes on; the caller hears of it
            log.warning("could not delete %s %s in %s: %s", collection, resource_id, provider,
                        exc)
            return None
        if answer.status not in (204, 404):
            log.warning("could not delete %s %s in %s: %s %s", collection, resource_id,
                        provider, answer.status, _error_text(answer.body))
        return answer
