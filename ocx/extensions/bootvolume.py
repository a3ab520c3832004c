"""Volume create on boot (seed 000): ``POST .../servers`` with ``ocx:volume_provider``.

Before the call goes on to the server's cloud, each new volume the body asks for
(:mod:`.newvolumes`) is made in the named provider with the caller's token there, from its
image, snapshot or volume, and waited for until ``available``; the peer OCX in front of the
server's cloud is given the mappings its Nova needs for them; the body then boots from the new
volume ids.

An image of another cloud than the volume's is read by that cloud's Cinder in one of two ways:

- a peer OCX fronts the volume's cloud (``[peer:NAME] fronts``): the peer is given the mapping
  of the image and the caller's token there, and Cinder reads it through the peer;
- none does: Cinder can only read its own Glance, so the image is copied there (streamed, never
  held), the volume made from the copy, and the copy deleted once the volume is ``available``.

A snapshot or volume is used only in its own cloud (Cinder clones within one cloud): naming
another provider for it is a 400.

Nothing is left behind: when a step fails, or the server's Nova refuses the boot, what was made
is deleted again; what cannot be is named in the answer and logged.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from ..backends.base import Credentials, ProviderFailure, ProviderResponse
from ..call import ApiRequest
from ..identity.errors import K2KFailed, NoRemoteProject
from ..store import ResourceMapping
from .base import Call, Extension, ExtensionError, Located
from .mixmatch import inject_for
from .newvolumes import BodyError, NewVolume, new_volumes, rewritten

log = logging.getLogger(__name__)

KEY = "boot-volume"
CHUNK = 256 << 10
# How long a volume may take to become available, as Nova's block_device_allocate_retries
# (60) × block_device_allocate_retries_interval (3 s) allow; also the bound of every other wait.
WAIT = 180.0
_CREATING = frozenset({"creating", "downloading"})
_SAVING = frozenset({"queued", "saving", "importing", "uploading"})
# Glance's own fields: those a copy takes over as they are; the rest are read-only.
_IMAGE_FIELDS = ("name", "disk_format", "container_format", "min_disk", "min_ram", "tags")
_GLANCE_CORE = frozenset({
    "id", "status", "visibility", "protected", "checksum", "owner", "size", "virtual_size",
    "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations",
    "os_hash_algo", "os_hash_value", "os_hidden", "stores", *_IMAGE_FIELDS})
# How Nova words a missing source of a mapping.
_MISSING = {"image": "Image {} could not be found.",
            "snapshot": "Block Device Mapping is Invalid: failed to get snapshot {}.",
            "volume": "Block Device Mapping is Invalid: failed to get volume {}."}


@dataclass
class Made:
    """What OCX made for one boot, to delete again if the boot does not happen."""

    volumes: dict[int, tuple[str, str]] = field(default_factory=dict)  # mapping → (provider, id)
    copies: list[tuple[str, str]] = field(default_factory=list)        # (provider, image id)

    def ids(self) -> dict[int, str]:
        return {index: volume_id for index, (_, volume_id) in self.volumes.items()}


def _message(answer: ProviderResponse) -> str:
    """The message of a service's error answer (Nova, Cinder, Glance forms), else its status."""
    try:
        body = orjson.loads(answer.body or b"")
    except orjson.JSONDecodeError:
        return f"HTTP {answer.status}"
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"].split("<br />")[0].strip()
        inner = next(iter(body.values()), None) if len(body) == 1 else None
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return f"HTTP {answer.status}"


def refusal_status(status: int) -> int:
    """What the caller gets when a cloud refuses a step: its own refusal where Nova has the
    same (bad request, forbidden, conflict, over quota), else 400 or, for its failures, 502."""
    if status in (400, 403, 409, 413):
        return status
    return 400 if status < 500 else 502


def _own(method: str, service: str, project: str, collection: str, resource_id: str | None,
         *subpath: str, headers: dict[str, str] | None = None) -> ApiRequest:
    request = ApiRequest.own(method, service, project, collection, resource_id, *subpath)
    if headers:
        request = request.replace(headers=CIMultiDictProxy(CIMultiDict(headers)))
    return request


class BootVolume(Extension):
    name = "boot-volume"
    methods = frozenset({"POST"})
    paths = ("/compute/servers",)

    def __init__(self, mapper, peers, executor, store, providers: Sequence[str]) -> None:
        self.mapper = mapper          # identity.tokens.TokenMapper
        self.peers = peers            # learn.peers.PeerClient
        self.executor = executor      # routing.execute.Executor
        self.store = store            # store.MappingStore
        self.providers = tuple(providers)
        self.wait = WAIT
        self._undoing: set[asyncio.Task] = set()

    # -- the hooks --------------------------------------------------------------------------

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        try:
            body = orjson.loads(call.request.body or b"")
            wanted = new_volumes(body, self.providers)
        except orjson.JSONDecodeError:
            return  # Nova answers a malformed body itself
        except BodyError as exc:
            raise ExtensionError(400, exc.message) from None
        if not wanted:
            return
        sources = await self._sources(call, wanted)          # nothing made before this
        credentials = await self._credentials(call, {v.provider for v in wanted}
                                              | {s.provider for s in sources.values()})
        made = Made()
        call.extras[KEY] = made
        try:
            refs = await self._reachable_images(call, wanted, sources, credentials, made)
            for volume in wanted:
                made.volumes[volume.index] = (volume.provider, await self._create(
                    call, volume, refs.get(volume.index, volume.source_id), credentials))
            await asyncio.gather(*(self._until_available(v, made, credentials)
                                   for v in wanted))
            await self._drop_copies(made, credentials)
            await self._inject_for_nova(call, made, credentials)
        except BaseException as exc:
            await self._fail(made, credentials, exc)
        call.request = call.request.replace(body=orjson.dumps(rewritten(body, made.ids())))

    async def on_response(self, call: Call, params: dict[str, str]) -> None:
        made: Made | None = call.extras.get(KEY)
        if made is None:
            return
        if call.response.status < 400:
            log.info("a server boots from volumes %s made by OCX",
                     ", ".join(f"{i} in {p}" for p, i in made.volumes.values()))
            return
        credentials = await self._credentials(call, {p for p, _ in made.volumes.values()})
        left = await self._undo(made, credentials)
        if left:
            nova = self._nova_message(call)
            raise ExtensionError(call.response.status,
                                 f"{nova} OCX could not delete what it made for the boot: "
                                 f"{'; '.join(left)}.")

    # -- before anything is made ------------------------------------------------------------

    async def _sources(self, call: Call, wanted: list[NewVolume]) -> dict[int, Located]:
        """Where each mapping's source lives; a 400 for one that is nowhere or that Cinder
        cannot use where the volume is to be made."""
        found: dict[int, Located] = {}
        for volume in wanted:
            if volume.source_id is None:
                continue
            service, collection = (("image", "images") if volume.source_type == "image"
                                   else ("volume", f"{volume.source_type}s"))
            located = await call.locate(service, collection, volume.source_id)
            if located is None:
                raise ExtensionError(400, _MISSING[volume.source_type].format(volume.source_id))
            if volume.source_type != "image" and located.provider != volume.provider:
                raise ExtensionError(400, (
                    f"The {volume.source_type} {volume.source_id} of block device mapping "
                    f"{volume.index} is in provider {located.provider}: Cinder makes a volume "
                    f"from a {volume.source_type} only in its own cloud; name "
                    f"{located.provider} in ocx:volume_provider."))
            found[volume.index] = located
        return found

    async def _credentials(self, call: Call, providers: set[str]) -> dict[str, Credentials]:
        try:
            return {p: await self.mapper.credentials(call.caller, p) for p in sorted(providers)}
        except K2KFailed as exc:
            raise ExtensionError(502, f"No token could be had at provider {exc.provider}: "
                                      f"{exc.reason}.") from None
        except NoRemoteProject as exc:
            raise ExtensionError(403, str(exc)) from None

    # -- making -----------------------------------------------------------------------------

    async def _reachable_images(self, call: Call, wanted: list[NewVolume],
                                sources: dict[int, Located], credentials, made: Made
                                ) -> dict[int, str]:
        """The image id each image mapping's Cinder is to use: the image itself where Cinder
        reads it (its own cloud, or through the peer in front of it), else a copy."""
        refs: dict[int, str] = {}
        done: dict[tuple[str, str], str] = {}
        for volume in wanted:
            owner = sources.get(volume.index)
            if volume.source_type != "image" or owner.provider == volume.provider:
                continue
            key = (volume.source_id, volume.provider)
            if key not in done:
                peer = self.peers.fronting(volume.provider)
                if peer is not None:
                    await inject_for(self.mapper, self.peers, peer, call, volume.provider,
                                     owner.provider, [("images", volume.source_id)])
                    done[key] = volume.source_id
                else:
                    done[key] = await self._copy_image(volume.source_id, owner.provider,
                                                       volume.provider, credentials, made)
            refs[volume.index] = done[key]
        return refs

    async def _copy_image(self, image_id: str, owner: str, to: str, credentials,
                          made: Made) -> str:
        """A private copy of the image in ``to``'s Glance, its data streamed across."""
        at_owner, at_to = credentials[owner], credentials[to]
        source = await self._json(owner, _own("GET", "image", "", "images", image_id), at_owner,
                                  f"Image {image_id} could not be read in {owner}")
        if source.get("status") != "active":
            raise ExtensionError(400, f"Image {image_id} is not active.")
        copy = {k: source[k] for k in _IMAGE_FIELDS if source.get(k) is not None}
        copy.update({k: v for k, v in source.items()
                     if k not in _GLANCE_CORE and isinstance(v, str)
                     and not k.startswith("os_glance")})
        copy.update(visibility="private", ocx_copy_of=image_id)
        created = await self._json(to, _own("POST", "image", "", "images", None, headers={
            "Content-Type": "application/json"}), at_to,
            f"{to} did not take a copy of image {image_id}", body=orjson.dumps(copy))
        made.copies.append((to, created["id"]))
        log.info("copying image %s of %s to %s as %s", image_id, owner, to, created["id"])
        data = await self.executor.send(owner, _own("GET", "image", "", "images", image_id,
                                                    "file"), at_owner)
        try:
            if not data.ok or data.stream is None:
                raise ExtensionError(refusal_status(data.status), f"The data of image "
                                     f"{image_id} could not be read in {owner}: "
                                     f"{_message(data)}.")
            headers = {"Content-Type": "application/octet-stream"}
            if data.content_length is not None:
                headers["Content-Length"] = str(data.content_length)
            put = await self.executor.send(
                to, _own("PUT", "image", "", "images", created["id"], "file", headers=headers),
                at_to, body=data.stream.content.iter_chunked(CHUNK))
        finally:
            data.release()
        put.release()
        if not put.ok:
            raise ExtensionError(refusal_status(put.status), f"{to} did not take the data of "
                                 f"image {image_id}: {_message(put)}.")
        await self._until(to, _own("GET", "image", "", "images", created["id"]), at_to,
                          lambda doc: doc.get("status"), "active", _SAVING,
                          f"the copy {created['id']} of image {image_id} in {to}")
        return created["id"]

    async def _create(self, call: Call, volume: NewVolume, source_ref: str | None,
                      credentials) -> str:
        body = volume.create_body()
        if volume.source_type == "image":
            body["volume"]["imageRef"] = source_ref
        at = credentials[volume.provider]
        created = await self._json(
            volume.provider, _own("POST", "volume", call.caller.project_id, "volumes", None,
                                  headers={"Content-Type": "application/json"}), at,
            f"{volume.provider} did not make {volume.describe()}", body=orjson.dumps(body))
        volume_id = created["volume"]["id"]
        log.info("made volume %s in %s for %s of a boot", volume_id, volume.provider,
                 volume.describe())
        await self.store.put_resource_mappings([ResourceMapping.learned(
            "volumes", volume_id, volume.provider, at.project_id, None, "create")])
        return volume_id

    async def _until_available(self, volume: NewVolume, made: Made, credentials) -> None:
        provider, volume_id = made.volumes[volume.index]
        await self._until(provider, _volume_request("GET", volume_id), credentials[provider],
                          lambda doc: doc["volume"].get("status"), "available", _CREATING,
                          f"volume {volume_id} in {provider}, {volume.describe()},")

    async def _drop_copies(self, made: Made, credentials) -> None:
        """The copies have served once their volumes are available."""
        left = [what for provider, image_id in made.copies
                if (what := await self._delete_image(provider, image_id, credentials))]
        made.copies.clear()
        if left:
            log.warning("image copies OCX made for a boot remain: %s", "; ".join(left))

    async def _inject_for_nova(self, call: Call, made: Made, credentials) -> None:
        """The peer in front of the server's cloud learns where the new volumes are."""
        target = call.plan.target
        peer = self.peers.fronting(target)
        elsewhere: dict[str, list[tuple[str, str]]] = {}
        for provider, volume_id in made.volumes.values():
            if provider != target:
                elsewhere.setdefault(provider, []).append(("volumes", volume_id))
        if peer is None or not elsewhere:
            return
        for owner, resources in elsewhere.items():
            await inject_for(self.mapper, self.peers, peer, call, target, owner, resources)

    # -- undoing ----------------------------------------------------------------------------

    async def _fail(self, made: Made, credentials, exc: BaseException) -> None:
        """Delete what was made, then answer with why (and with what could not be deleted)."""
        if not isinstance(exc, Exception):
            # Cancelled (the caller went away): the undoing must not be cancelled with it.
            task = asyncio.get_running_loop().create_task(self._undo(made, credentials))
            self._undoing.add(task)
            task.add_done_callback(self._undoing.discard)
            raise exc
        left = await self._undo(made, credentials)
        if isinstance(exc, ExtensionError):
            error = exc
        elif isinstance(exc, ProviderFailure):
            error = ExtensionError(exc.status, f"Provider {exc.provider} {exc.reason}.")
        else:
            log.exception("volume create on boot failed")
            error = ExtensionError(500, "OCX failed to make the volumes of the boot; the "
                                        "failure is logged.")
        if left:
            error = ExtensionError(error.status, f"{error.message} OCX could not delete what "
                                                 f"it made for the boot: {'; '.join(left)}.")
        raise error from None

    async def _undo(self, made: Made, credentials) -> list[str]:
        """Delete the volumes and copies made; what remains, described."""
        results = await asyncio.gather(*(self._delete_volume(p, v, credentials)
                                         for p, v in made.volumes.values()))
        results += [await self._delete_image(p, i, credentials) for p, i in made.copies]
        made.volumes.clear()
        made.copies.clear()
        left = [r for r in results if r]
        if left:
            log.warning("left behind after a failed boot: %s", "; ".join(left))
        return left

    async def _delete_volume(self, provider: str, volume_id: str, credentials) -> str | None:
        """None once the volume is gone; else what remains and why."""
        at = credentials[provider]
        what = f"volume {volume_id} in {provider}"
        try:
            # Cinder deletes a volume only once it is made (available or error).
            await self._until(provider, _volume_request("GET", volume_id), at,
                              lambda doc: doc["volume"].get("status"), None, _CREATING, what,
                              gone_ok=True)
            answer = await self.executor.send(provider, _volume_request("DELETE", volume_id),
                                              at)
            answer.release()
            if answer.status == 404:
                return None
            if not answer.ok:
                return f"{what} ({_message(answer)})"
            await self._until(provider, _volume_request("GET", volume_id), at,
                              lambda doc: doc["volume"].get("status"), None, {"deleting"},
                              what, gone_ok=True)
            return None
        except ExtensionError as exc:
            return f"{what} ({exc.message})"
        except ProviderFailure as exc:
            return f"{what} ({exc.reason})"

    async def _delete_image(self, provider: str, image_id: str, credentials) -> str | None:
        what = f"image copy {image_id} in {provider}"
        try:
            answer = await self.executor.send(provider, _own("DELETE", "image", "", "images",
                                                             image_id), credentials[provider])
        except ProviderFailure as exc:
            return f"{what} ({exc.reason})"
        answer.release()
        return None if answer.ok or answer.status == 404 else f"{what} ({_message(answer)})"

    # -- talking to the clouds ---------------------------------------------------------------

    async def _json(self, provider: str, request: ApiRequest, credentials: Credentials,
                    refused: str, body: bytes | None = None) -> dict:
        answer = await self.executor.send(provider, request, credentials, body)
        answer.release()
        if not answer.ok:
            raise ExtensionError(refusal_status(answer.status), f"{refused}: {_message(answer)}.")
        try:
            return orjson.loads(answer.body or b"")
        except orjson.JSONDecodeError:
            raise ExtensionError(502, f"{refused}: the answer was not JSON.") from None

    async def _until(self, provider: str, request: ApiRequest, credentials: Credentials,
                     status_of: Callable[[dict], str | None], wanted: str | None,
                     passing: frozenset[str] | set[str], what: str, *,
                     gone_ok: bool = False) -> None:
        """Poll until the resource leaves the ``passing`` states: for ``wanted`` (or any other
        state when ``wanted`` is None; for its disappearance with ``gone_ok``). Fails clearly on
        another state or once :attr:`wait` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        pause = 0.05
        while True:
            answer = await self.executor.send(provider, request, credentials)
            answer.release()
            if answer.status == 404 and gone_ok:
                return
            if not answer.ok:
                raise ExtensionError(refusal_status(answer.status),
                                     f"The state of {what} could not be read: "
                                     f"{_message(answer)}.")
            status = status_of(orjson.loads(answer.body or b"{}"))
            if status not in passing:
                if wanted is None or status == wanted:
                    return
                raise ExtensionError(502, f"{what} is {status}, not {wanted}.")
            if loop.time() + pause > deadline:
                raise ExtensionError(504, f"{what} is still {status} after {self.wait:g} s.")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 2.0)

    @staticmethod
    def _nova_message(call: Call) -> str:
        body = call.response.body
        answer = ProviderResponse("", call.response.status, CIMultiDict(), "", None, body=body)
        return _message(answer).rstrip(".") + "."


def _volume_request(method: str, volume_id: str) -> ApiRequest:
    # The project id in the path is the provider's, from the credentials.
    return _own(method, "volume", "-", "volumes", volume_id)

