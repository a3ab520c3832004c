"""Resources of different clouds used together (seed 000, "Use Cases Enabled"; seed 004).

- :class:`AttachAcrossClouds` (at the user's OCX): ``POST .../servers/VM1/os-volume_attachments``
  for a volume BS1 that lives in another cloud than VM1. Before the call goes to VM1's Nova, the
  OCX in front of that cloud's Cinder (its peer) is given what Nova's calls will need there:
  the token mapping (VM1's cloud token and project → BS1's cloud → its token and project) and
  the resource mapping (volume BS1 → BS1's cloud). The body is not changed.
- :class:`FollowParent` (at every OCX): a create that names the resource it belongs to (a
  Cinder attachment or snapshot of a volume, a Neutron port or subnet of a network) goes to the
  cloud where that resource lives, not to the default one. At the OCX in front of a cloud's
  Cinder this is what sends Nova's ``POST /attachments`` for an injected volume to its cloud.
"""
from __future__ import annotations

import logging

import orjson

from ..call import ApiRequest
from ..identity.errors import K2KFailed, NoRemoteProject
from ..learn.peers import PeerRefused
from ..routing import plan as planning
from ..store import ResourceMapping, TokenMapping
from ..store.models import token_hash
from .base import Call, Extension, ExtensionError

log = logging.getLogger(__name__)


def _json(call: Call) -> dict:
    try:
        body = orjson.loads(call.request.body or b"")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _member(body: dict, wrapper: str, key: str) -> str | None:
    inner = body.get(wrapper)
    value = inner.get(key) if isinstance(inner, dict) else None
    return value if isinstance(value, str) and value else None


class AttachAcrossClouds(Extension):
    """Injected mappings are for one token: every call that makes the server's Nova use its
    volumes (attach, detach, delete, actions) brings the caller's current token's mappings."""

    name = "attach-across-clouds"
    methods = frozenset({"POST", "PUT", "DELETE"})
    paths = ("/compute/servers/{server_id}/os-volume_attachments",
             "/compute/servers/{server_id}/os-volume_attachments/{volume_id}",
             "/compute/servers/{server_id}/action",
             "/compute/servers/{server_id}")

    def __init__(self, mapper, peers, executor) -> None:
        self.mapper = mapper          # identity.tokens.TokenMapper
        self.peers = peers            # learn.peers.PeerClient
        self.executor = executor      # routing.execute.Executor

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        api = call.request
        if api.method == "POST" and api.subpath == ("os-volume_attachments",):
            volume_id = _member(_json(call), "volumeAttachment", "volumeId")
            if volume_id is None:
                return  # Nova answers the malformed call itself
            volumes = [volume_id]
        elif "volume_id" in params:
            volumes = [params["volume_id"]]
        elif api.method == "PUT" or (api.method == "DELETE" and api.subpath):
            return
        else:
            volumes = None  # the server's own attachments, asked below
        server = await call.locate("compute", "servers", params["server_id"])
        peer = self.peers.fronting(server.provider) if server is not None else None
        if peer is None:
            # No OCX peer takes that cloud's Nova's calls: either this OCX does (it then finds
            # the volume itself, with the caller's token), or Nova answers that it has none.
            return
        if volumes is None:
            volumes = await self._attached(call, server.provider, params["server_id"])
        elsewhere: dict[str, list[tuple[str, str]]] = {}
        for volume_id in volumes:
            volume = await call.locate("volume", "volumes", volume_id)
            if volume is not None and volume.provider != server.provider:
                elsewhere.setdefault(volume.provider, []).append(("volumes", volume_id))
        if not elsewhere:
            return  # one cloud: the call goes on as it is
        # The server's cloud is known now: the call goes there, without a second search.
        call.plan = planning.Plan(planning.Kind.SINGLE, (server.provider,), mapped=True)
        for owner, resources in elsewhere.items():
            await inject_for(self.mapper, self.peers, peer, call, server.provider, owner,
                             resources)

    async def _attached(self, call: Call, provider: str, server_id: str) -> list[str]:
        """The volumes attached to the server, as its Nova lists them."""
        credentials = await self.mapper.credentials(call.caller, provider)
        request = ApiRequest.own("GET", "compute", call.caller.project_id, "servers",
                                 server_id, "os-volume_attachments")
        answer = await self.executor.send(provider, request, credentials)
        answer.release()
        if not answer.ok:
            return []
        try:
            found = orjson.loads(answer.body or b"")["volumeAttachments"]
            return [a["volumeId"] for a in found if isinstance(a.get("volumeId"), str)]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return []


async def inject_for(mapper, peers, peer, call: Call, consumer: str, owner: str,
                     resources: list[tuple[str, str]]) -> None:
    """Give ``peer``, in front of ``consumer``'s own services, the mappings that take calls
    made there with the caller's ``consumer`` token to ``resources`` in ``owner``."""
    try:
        at_consumer = await mapper.credentials(call.caller, consumer)
        at_owner = await mapper.credentials(call.caller, owner)
    except (K2KFailed, NoRemoteProject) as exc:
        raise ExtensionError(502, f"No token could be had to join {consumer} and {owner}: "
                                 f"{exc}.") from None
    expires = min(e for e in (at_consumer.expires_at, at_owner.expires_at) if e is not None)
    tokens = [TokenMapping(local_token_hash=token_hash(at_consumer.token),
                           local_project=at_consumer.project_id, provider=owner,
                           remote_token=at_owner.token, remote_project=at_owner.project_id,
                           expires_at=expires, catalog=list(at_owner.catalog))]
    mappings = [ResourceMapping.learned(rtype, rid, owner, at_owner.project_id, None, "peer")
                for rtype, rid in resources]
    try:
        await peers.inject(peer, tokens, mappings)
    except PeerRefused as exc:
        log.warning("injection into %s refused: %s", exc.peer, exc.reason)
        raise ExtensionError(502, f"The OCX in front of {consumer} did not take the mappings "
                                 f"the call needs: {exc.reason}.") from None


# Creates that belong to another resource: (service, collection) → (wrapper key, member key,
# the parent's service and collection).
PARENTS = {
    ("volume", "attachments"): ("attachment", "volume_uuid", "volume", "volumes"),
    ("volume", "snapshots"): ("snapshot", "volume_id", "volume", "volumes"),
    ("volume", "backups"): ("backup", "volume_id", "volume", "volumes"),
    ("network", "ports"): ("port", "network_id", "network", "networks"),
    ("network", "subnets"): ("subnet", "network_id", "network", "networks"),
}


class FollowParent(Extension):
    name = "follow-parent"
    methods = frozenset({"POST"})
    paths = tuple(f"/{service}/{collection}" for service, collection in PARENTS)

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        api = call.request
        if planning.named_provider(api) is not None:
            return  # the caller chose
        wrapper, key, service, collection = PARENTS[(api.service, api.collection)]
        parent_id = _member(_json(call), wrapper, key)
        if parent_id is None:
            return
        parent = await call.locate(service, collection, parent_id)
        if parent is not None and parent.provider != call.plan.target:
            call.plan = planning.Plan(planning.Kind.SINGLE, (parent.provider,),
                                      learn=call.plan.learn)


class BootAcrossClouds(Extension):
    """``POST .../servers`` in one cloud from an image or volumes of another (seed 004): the
    peer in front of the target cloud's services is given the mappings its Nova will need to
    read the image and attach the volumes. The body is not changed."""

    name = "boot-across-clouds"
    methods = frozenset({"POST"})
    paths = ("/compute/servers",)

    def __init__(self, mapper, peers) -> None:
        self.mapper = mapper
        self.peers = peers

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        target = call.plan.target
        peer = self.peers.fronting(target)
        server = _json(call).get("server")
        if peer is None or not isinstance(server, dict):
            return
        wanted = [("image", "images", server.get("imageRef"))]
        for bdm in server.get("block_device_mapping_v2") or ():
            if isinstance(bdm, dict) and bdm.get("source_type") in ("image", "volume"):
                kind = bdm["source_type"]
                wanted.append((kind, f"{kind}s", bdm.get("uuid")))
        elsewhere: dict[str, list[tuple[str, str]]] = {}
        for service, collection, resource_id in wanted:
            if not isinstance(resource_id, str) or not resource_id:
                continue
            found = await call.locate(service, collection, resource_id)
            if found is not None and found.provider != target:
                elsewhere.setdefault(found.provider, []).append((collection, resource_id))
        for owner, resources in elsewhere.items():
            await inject_for(self.mapper, self.peers, peer, call, target, owner, resources)
