"""``ocx gluon setup``: the dummy network and subnet of Gluon ports (seed 002), made once.

Nova needs a network and a subnet behind every port it binds; Gluon ports are given a dummy
pair in the home cloud's Neutron: ``GluonNetwork``, a local shared network, and
``GluonSubnet`` on it, without gateway or DHCP (its CIDR does not matter: no address of it is
ever handed out). Each is found by its configured id, else by name, and made only when it is
missing, so the command can run at every turn-up. Made with OCX's service user (an admin:
shared and provider networks are an admin's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keystoneauth1 import exceptions as ks_exc

from .store import AdminError


@dataclass(frozen=True)
class Outcome:
    """What setup found or made: ``kind`` (network, subnet), its id, and whether it was made."""

    kind: str
    name: str
    id: str
    made: bool

    def line(self) -> str:
        verb = "created" if self.made else "found"
        return f"{self.kind} {self.name} {self.id}: {verb}"


def pick(kind: str, items: list[dict], name: str) -> dict | None:
    """The one resource of that name, None when there is none; several are the operator's to
    tell apart (by configuring the id), never guessed between."""
    if len(items) > 1:
        ids = ", ".join(sorted(str(i.get("id")) for i in items))
        raise AdminError(f"several {kind}s are named {name!r} ({ids}): set [gluon] {kind}_id")
    return items[0] if items else None


def network_body(name: str) -> dict:
    return {"network": {"name": name, "shared": True, "provider:network_type": "local",
                        "admin_state_up": True}}


def subnet_body(name: str, network_id: str, cidr: str) -> dict:
    return {"subnet": {"name": name, "network_id": network_id, "ip_version": 4, "cidr": cidr,
                       "gateway_ip": None, "enable_dhcp": False}}


class HomeNeutron:
    """The home cloud's Neutron, called with OCX's service user (keystoneauth1 session)."""

    def __init__(self, session, interface: str, region: str | None) -> None:
        self.session = session
        try:
            endpoint = session.get_endpoint(service_type="network", interface=interface,
                                            region_name=region)
        except ks_exc.ClientException as exc:
            raise AdminError(f"the home cloud's Neutron cannot be found: {exc}") from None
        if not endpoint:
            raise AdminError("the home cloud's catalog has no network endpoint")
        self.root = endpoint.rstrip("/").removesuffix("/v2.0")

    def call(self, method: str, path: str, body: dict | None = None,
             params: dict | None = None) -> tuple[int, Any]:
        try:
            answer = self.session.request(f"{self.root}/v2.0/{path}", method, json=body,
                                          params=params, raise_exc=False,
                                          headers={"Accept": "application/json"})
        except ks_exc.ClientException as exc:
            raise AdminError(f"the home cloud's Neutron cannot be reached: {exc}") from None
        try:
            document = answer.json() if answer.content else None
        except ValueError:
            document = None
        return answer.status_code, document

    def find(self, collection: str, resource_id: str | None, **query: str) -> dict | None:
        one = collection[:-1]
        if resource_id:
            status, document = self.call("GET", f"{collection}/{resource_id}")
            if status == 404:
                raise AdminError(f"[gluon] {one}_id {resource_id} is not in the home cloud's "
                                 f"Neutron")
            return self._item(status, document, one, "read")
        status, document = self.call("GET", collection, params=query)
        if status != 200 or not isinstance(document, dict):
            raise AdminError(f"listing {collection} failed: {status} {_message(document)}")
        return pick(one, [i for i in document.get(collection) or () if isinstance(i, dict)],
                    query.get("name", ""))

    def create(self, collection: str, body: dict) -> dict:
        one = collection[:-1]
        status, document = self.call("POST", collection, body=body)
        return self._item(status, document, one, "create", expected=201)

    @staticmethod
    def _item(status: int, document: Any, one: str, what: str, expected: int = 200) -> dict:
        item = document.get(one) if isinstance(document, dict) else None
        if status != expected or not isinstance(item, dict):
            raise AdminError(f"could not {what} the {one}: {status} {_message(document)}")
        return item


def _message(document: Any) -> str:
    if isinstance(document, dict):
        for value in document.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    return ""


def setup(neutron: HomeNeutron, settings) -> list[Outcome]:
    """Find or make the dummy network, then its subnet (``settings``: ``conf.gluon``)."""
    network = neutron.find("networks", settings.network_id, name=settings.network_name)
    made_network = network is None
    if network is None:
        network = neutron.create("networks", network_body(settings.network_name))
    subnet = neutron.find("subnets", settings.subnet_id, name=settings.subnet_name,
                          network_id=network["id"])
    made_subnet = subnet is None
    if subnet is None:
        subnet = neutron.create("subnets", subnet_body(settings.subnet_name, network["id"],
                                                       settings.subnet_cidr))
    return [Outcome("network", network.get("name", ""), network["id"], made_network),
            Outcome("subnet", subnet.get("name", ""), subnet["id"], made_subnet)]
