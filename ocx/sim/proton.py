"""A simulated Proton server (OpenStack Gluon) serving the L3VPN API, ``net-l3vpn`` v1.0.

Proton is Gluon's API server: each networking service is a YAML model from which Gluon
generates a pecan/WSME REST API. This one serves the ``net-l3vpn`` model as Gluon's generated
code does (``gluon/api/baseObject.py``, ``gluon/managers/manager_base.py``):

- ``GET|POST {base}/proton/net-l3vpn/v1.0/{collection}``, ``GET|PUT|DELETE .../{collection}/{key}``
  for ``ports``, ``interfaces``, ``vpns``, ``vpnbindings`` (key: ``interface_id``) and
  ``vpnafconfigs`` (key: ``vrf_rt_value``).
- A list is ``{"<collection>": [...]}``; show, create (201) and update (200) answer the bare
  object; delete answers 200 with an empty body. Absent attributes are ``null``.
- Errors are WSME's: ``{"faultcode": "Client", "faultstring": ..., "debuginfo": null}`` (404 for
  a missing key, 400 for a bad body: unknown attribute, wrong type, bad enum/uuid/mac/ipv4/JSON,
  a required attribute missing on create).
- Creating a port also creates its default interface (same id, segmentation ``none``) and
  registers the port in etcd under ``<prefix><port id>`` → ``{"tenant_id", "service", "url"}``;
  deleting it removes both (and the port's service bindings) and deregisters it.
- ``PUT`` on a port with ``host_id`` and ``device_id`` both non-empty binds it: ``vif_type`` and
  ``vif_details`` (a JSON string) are set by the server, as Gluon sets what its SDN controller
  reports; with them present but empty it unbinds (``vif_type`` null, ``vif_details`` ``"{}"``).
  Bind and unbind leave ``status`` as the creator set it, as Gluon does.

No token is asked for: Gluon's backend drivers call Proton without one.

Settings (``CloudSpec.settings``): ``proton.etcd`` (``http://127.0.0.1:2379``),
``proton.etcd_prefix`` (``/gluon/port/``), ``proton.vif_type`` (``ovs``).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import re
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .auth import public
from .errors import SimError
from .service import SimService
from .wire import json_response

log = logging.getLogger(__name__)

API_NAME = "net-l3vpn"
API_VERSION = "1.0"
DEFAULT_ETCD = "http://127.0.0.1:2379"
DEFAULT_PREFIX = "/gluon/port/"
ETCD_TIMEOUT = 5


# -- errors as WSME puts them on the wire --------------------------------------------------

def render_wsme(err: SimError, request: web.Request | None = None) -> web.Response:
    """WSME's fault body; ``faultcode`` is ``Client`` for a 4xx, ``Server`` otherwise."""
    code = "Client" if 400 <= err.status < 500 else "Server"
    return json_response({"faultcode": code, "faultstring": err.message, "debuginfo": None},
                         status=err.status, headers=err.headers)


def invalid(name: str, value: Any, why: str) -> SimError:
    """wsme.exc.InvalidInput."""
    return SimError(400, f"Invalid input for field/attribute {name}. Value: '{value}'. {why}")


# -- the model: attributes as the net-l3vpn YAML declares them --------------------------------

@dataclass(frozen=True)
class Attr:
    type: str                      # uuid, string, integer, boolean, enum
    required: bool = False
    length: int = 255
    values: tuple[str, ...] = ()
    format: str | None = None      # json, ipv4, mac
    min: int | None = None
    max: int | None = None


_PORT = {
    "id": Attr("uuid"), "name": Attr("string", length=64),
    "tenant_id": Attr("uuid", required=True),
    "mac_address": Attr("string", required=True, length=17, format="mac"),
    "admin_state_up": Attr("boolean", required=True),
    "status": Attr("enum", required=True, values=("ACTIVE", "DOWN")),
    "vnic_type": Attr("enum", required=True,
                      values=("normal", "virtual", "direct", "macvtap", "sriov", "whole-dev")),
    "mtu": Attr("integer", required=True), "vlan_transparency": Attr("boolean", required=True),
    "profile": Attr("string", length=128, format="json"), "device_id": Attr("uuid"),
    "device_owner": Attr("string", length=128), "host_id": Attr("string", length=32),
    "vif_details": Attr("string", length=128, format="json"), "vif_type": Attr("string", length=32),
    "alarms": Attr("string"),
}
_INTERFACE = {
    "id": Attr("uuid"), "port_id": Attr("uuid", required=True), "name": Attr("string", length=64),
    "segmentation_type": Attr("enum", required=True,
                              values=("none", "vlan", "tunnel_vxlan", "tunnel_gre", "mpls")),
    "segmentation_id": Attr("integer", required=True),
}
_VPN = {
    "id": Attr("uuid"), "name": Attr("string", length=64), "description": Attr("string", length=256),
    "ipv4_family": Attr("string"), "ipv6_family": Attr("string"),
    "route_distinguishers": Attr("string", length=32),
}
_VPNBINDING = {
    "interface_id": Attr("uuid", required=True), "service_id": Attr("uuid", required=True),
    "ipaddress": Attr("string", length=23, format="ipv4"),
    "subnet_prefix": Attr("integer", min=1, max=31),
    "gateway": Attr("string", length=32, format="ipv4"),
}
_VPNAFCONFIG = {
    "vrf_rt_value": Attr("string", required=True, length=32),
    "vrf_rt_type": Attr("enum", required=True,
                        values=("export_extcommunity", "import_extcommunity", "both")),
    "import_route_policy": Attr("string", length=32),
    "export_route_policy": Attr("string", length=32),
}


@dataclass(frozen=True)
class Collection:
    plural: str
    object_name: str               # as Gluon names it in its messages
    key: str
    attrs: dict[str, Attr]


COLLECTIONS = {c.plural: c for c in (
    Collection("ports", "Port", "id", _PORT),
    Collection("interfaces", "Interface", "id", _INTERFACE),
    Collection("vpns", "VpnService", "id", _VPN),
    Collection("vpnbindings", "VpnBinding", "interface_id", _VPNBINDING),
    Collection("vpnafconfigs", "VpnAfConfig", "vrf_rt_value", _VPNAFCONFIG),
)}
READ_ONLY = ("created_at", "updated_at")

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")


def check_value(name: str, attr: Attr, value: Any) -> Any:
    """One attribute's value as WSME and Gluon's types check it; the value to store. Pure."""
    if value is None:
        return None
    if attr.type == "boolean":
        if not isinstance(value, bool):
            raise invalid(name, value, "Wrong type. Expected 'bool', got "
                                       f"'{type(value).__name__}'")
        return value
    if attr.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, value, "Wrong type. Expected 'int', got "
                                       f"'{type(value).__name__}'")
        if attr.min is not None and value < attr.min:
            raise invalid(name, value, f"Value should be greater or equal to {attr.min}")
        if attr.max is not None and value > attr.max:
            raise invalid(name, value, f"Value should be lower or equal to {attr.max}")
        return value
    if not isinstance(value, str):
        raise invalid(name, value, f"Wrong type. Expected 'str', got '{type(value).__name__}'")
    if attr.type == "uuid":
        # Gluon's drivers send '' to clear a uuid (unbind); anything else must be a UUID.
        if value:
            try:
                uuid.UUID(value)
            except ValueError:
                raise invalid(name, value, "Expected a uuid") from None
        return value
    if attr.type == "enum":
        if value not in attr.values:
            raise invalid(name, value, f"Value should be one of: {', '.join(attr.values)}")
        return value
    if len(value) > attr.length:
        raise invalid(name, value, f"Value should have a maximum character requirement of "
                                   f"{attr.length}")
    if value and attr.format == "json":
        try:
            json.loads(value)
        except ValueError:
            raise invalid(name, value, "Invalid JSON string") from None
    elif value and attr.format == "ipv4":
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise invalid(name, value, "Invalid IPv4 address") from None
    elif value and attr.format == "mac" and not _MAC.match(value):
        raise invalid(name, value, "Invalid MAC address")
    return value


def check_body(coll: Collection, body: Any, *, create: bool) -> dict[str, Any]:
    """The attributes a create or update sets, checked; SimError 400 on the first fault. Pure."""
    if not isinstance(body, dict):
        raise SimError(400, "Invalid input for field/attribute body. Value: "
                            f"'{body}'. Expected a JSON object")
    unknown = sorted(set(body) - set(coll.attrs) - set(READ_ONLY))
    if unknown:
        raise SimError(400, f"Unknown attribute for argument body: {', '.join(unknown)}")
    values = {name: check_value(name, coll.attrs[name], v)
              for name, v in body.items() if name in coll.attrs}
    if create:
        for name, attr in coll.attrs.items():
            if attr.required and values.get(name) is None:
                raise invalid(name, None, "Mandatory field missing.")
    return values


def bind_change(values: dict[str, Any], vif_type: str) -> dict[str, Any] | None:
    """What a port update does to the binding (``manager_base.update_ports``). Pure.

    Bind: ``host_id`` and ``device_id`` both given and non-empty. Unbind: both given, one empty.
    Neither: no change to ``vif_type``/``vif_details``.
    """
    host, device = values.get("host_id"), values.get("device_id")
    if host is None or device is None:
        return None
    if host and device:
        return {"vif_type": vif_type, "vif_details": json.dumps({"port_filter": True})}
    return {"vif_type": None, "vif_details": json.dumps({})}


def gluon_time(t: dt.datetime) -> str:
    """WSME's datetime: ISO 8601 without a zone."""
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()


def etcd_address(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url if "//" in url else f"http://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379


# -- the service ------------------------------------------------------------------------------

class ProtonService(SimService):
    name = "proton"
    service_type = "proton"
    catalog_path = ""
    render_error = render_wsme
    keystone_401 = False

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in COLLECTIONS}
        self._etcd = None
        self._lock = asyncio.Lock()

    @property
    def etcd_prefix(self) -> str:
        return self.cloud.setting("proton.etcd_prefix", DEFAULT_PREFIX)

    @property
    def api_root(self) -> str:
        return f"/proton/{API_NAME}/v{API_VERSION}"

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        root = self.api_root
        return [
            web.get(root + "/{coll}", self.list_objects),
            web.post(root + "/{coll}", self.create_object),
            web.get(root + "/{coll}/{key}", self.show_object),
            web.put(root + "/{coll}/{key}", self.update_object),
            web.delete(root + "/{coll}/{key}", self.delete_object),
        ]

    async def on_start(self) -> None:
        import aetcd  # only a cloud that runs a Proton server needs etcd

        host, port = etcd_address(self.cloud.setting("proton.etcd", DEFAULT_ETCD))
        self._etcd = aetcd.Client(host=host, port=port, timeout=ETCD_TIMEOUT)

    async def on_stop(self) -> None:
        if self._etcd is not None:
            await self._etcd.close()
            self._etcd = None

    # -- etcd registration (Gluon's sync thread writes these) --------------------------------

    async def _register(self, port: dict[str, Any]) -> None:
        value = orjson.dumps({"tenant_id": port["tenant_id"], "service": API_NAME,
                              "url": self.base_url})
        try:
            await self._etcd.put((self.etcd_prefix + port["id"]).encode(), value)
        except Exception as exc:  # noqa: BLE001 - Gluon logs and keeps the port
            log.warning("proton %s: could not register port %s in etcd: %s",
                        self.cloud.name, port["id"], exc)

    async def _deregister(self, port_id: str) -> None:
        try:
            await self._etcd.delete((self.etcd_prefix + port_id).encode())
        except Exception as exc:  # noqa: BLE001
            log.warning("proton %s: could not deregister port %s in etcd: %s",
                        self.cloud.name, port_id, exc)

    # -- handlers ---------------------------------------------------------------------------

    def _collection(self, request: web.Request) -> Collection:
        coll = COLLECTIONS.get(request.match_info["coll"])
        if coll is None:
            raise SimError(404, "The resource could not be found.")
        return coll

    def _get(self, coll: Collection, key: str) -> dict[str, Any]:
        obj = self.objects[coll.plural].get(key)
        if obj is None:
            raise SimError(404, f"Object of {coll.object_name} with Primay Key {key} not found.")
        return obj

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise SimError(400, "Invalid input for field/attribute body. Value: "
                                f"'{raw[:64].decode(errors='replace')}'. Invalid JSON") from None

    def _full(self, coll: Collection, values: dict[str, Any]) -> dict[str, Any]:
        now = gluon_time(dt.datetime.now(dt.timezone.utc))
        obj = {name: None for name in coll.attrs}
        obj.update(values)
        obj["created_at"] = obj["updated_at"] = now
        return obj

    @public
    async def list_objects(self, request: web.Request) -> web.Response:
        coll = self._collection(request)
        return json_response({coll.plural: list(self.objects[coll.plural].values())})

    @public
    async def show_object(self, request: web.Request) -> web.Response:
        coll = self._collection(request)
        return json_response(self._get(coll, request.match_info["key"]))

    @public
    async def create_object(self, request: web.Request) -> web.Response:
        coll = self._collection(request)
        values = check_body(coll, await self._body(request), create=True)
        if coll.key == "id" and not values.get("id"):
            values["id"] = str(uuid.uuid4())  # Gluon generates a missing UUID key
        async with self._lock:
            table = self.objects[coll.plural]
            key = values[coll.key]
            if key in table:
                raise SimError(409, f"Object of {coll.object_name} with {coll.key} "
                                    f"\"{key}\" already exists.")
            self._check_pointers(coll, values)
            obj = table[key] = self._full(coll, values)
            if coll.plural == "ports":
                # The default (untagged) interface shares the port's id.
                name = f"{values['name']}_default" if values.get("name") else "default"
                self.objects["interfaces"][key] = self._full(COLLECTIONS["interfaces"], {
                    "id": key, "port_id": key, "name": name, "segmentation_type": "none",
                    "segmentation_id": 0})
                await self._register(obj)
        return json_response(obj, status=201)

    def _check_pointers(self, coll: Collection, values: dict[str, Any]) -> None:
        """A pointer attribute names an existing object (Gluon's foreign keys)."""
        pointers = {"interfaces": {"port_id": "ports"},
                    "vpnbindings": {"interface_id": "interfaces", "service_id": "vpns"}}
        for name, target in pointers.get(coll.plural, {}).items():
            value = values.get(name)
            if value and value not in self.objects[target]:
                raise self._not_found(COLLECTIONS[target], value)

    @staticmethod
    def _not_found(coll: Collection, key: str) -> SimError:
        return SimError(404, f"Object of {coll.object_name} with Primay Key {key} not found.")

    @public
    async def update_object(self, request: web.Request) -> web.Response:
        coll = self._collection(request)
        key = request.match_info["key"]
        self._get(coll, key)
        values = check_body(coll, await self._body(request), create=False)
        values.pop(coll.key, None)  # the key is the path's
        async with self._lock:
            obj = self._get(coll, key)
            self._check_pointers(coll, values)
            obj.update(values)
            if coll.plural == "ports":
                change = bind_change(values, self.cloud.setting("proton.vif_type", "ovs"))
                if change is not None:
                    obj.update(change)
            obj["updated_at"] = gluon_time(dt.datetime.now(dt.timezone.utc))
        return json_response(obj)

    @public
    async def delete_object(self, request: web.Request) -> web.Response:
        coll = self._collection(request)
        key = request.match_info["key"]
        async with self._lock:
            self._get(coll, key)
            del self.objects[coll.plural][key]
            if coll.plural == "ports":
                await self._deregister(key)
                for iid in [i for i, o in self.objects["interfaces"].items() if o["port_id"] == key]:
                    del self.objects["interfaces"][iid]
                    self.objects["vpnbindings"].pop(iid, None)
        return web.Response(status=200)
