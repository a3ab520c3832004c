"""An OpenStack cloud (the home cloud or a K2K service provider): calls are forwarded as they are.

Only the token, the project id in the path and the hop-by-hop headers change on the way in
(a service's ``X-Service-Token`` goes on to the home cloud only; a K2K provider gets OCX's
own token there instead when OCX vouches for the service, ``identity.vouch``); JSON answers
are read so that the shape stage can rewrite their URLs, anything else (image data) stays a
stream.
"""
from __future__ import annotations

import asyncio
import ssl as ssl_

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .. import logs
from ..call import SERVICES, ApiRequest
from .base import (Credentials, Provider, ProviderFailure, ProviderResponse, ProviderTimeout,
                   ProviderUnreachable, ServiceNotOffered)
from .catalog import find_endpoint, service_root

# RFC 9110 hop-by-hop headers, plus what OCX sets itself or must not pass on.
HOP_BY_HOP = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Accept-Encoding",
    "X-Auth-Token", "X-Subject-Token", "X-Service-Token", "X-OCX-Provider",
    "MM-SERVICE-PROVIDER", "MM-PROJECT-ID"))
RESPONSE_DROP = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Trailer", "Transfer-Encoding", "Upgrade",
    "Content-Length", "Content-Encoding", "Server", "Date"))

# JSON answers larger than this are refused rather than held in memory.
MAX_JSON_BODY = 64 << 20


def is_json(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json")


def outbound_headers(request: ApiRequest, token: str, streaming: bool,
                     via: str | None, *, home: bool,
                     service_token: str | None = None) -> CIMultiDict:
    """The headers a call leaves OCX with; ``home``: it goes to the home cloud;
    ``service_token``: the one a K2K provider gets for a home service's call."""
    headers = CIMultiDict((k, v) for k, v in request.headers.items()
                          if k.lower() not in HOP_BY_HOP)
    if token:  # none for a version document asked for without one
        headers["X-Auth-Token"] = token
    # A service's token (Nova's: Cinder deletes an attachment in use only when a service
    # asks) is valid at the home Keystone that made it. A K2K provider would refuse the whole
    # call for it (an invalid service token is a 401), and it is not its to see: it gets the
    # one OCX vouches with there, if any.
    passed_on = request.headers.get("X-Service-Token") if home else service_token
    if passed_on:
        headers["X-Service-Token"] = passed_on
    if streaming and "Content-Length" in request.headers:
        headers["Content-Length"] = request.headers["Content-Length"]
    if via:
        headers.add("X-OCX-Via", via)
    ids = logs.current()
    if ids is not None:  # the call's global request id (oslo.context's global_id)
        headers[logs.HEADER] = ids.global_id
    return headers


class OpenStackProvider(Provider):
    kind = "openstack"

    def __init__(self, name: str, *, interface: str = "public", region: str | None = None,
                 sp_id: str | None = None, via: str | None = None,
                 home: bool = False, ssl: ssl_.SSLContext | bool = True) -> None:
        super().__init__(name, interface=interface, region=region)
        self.sp_id = sp_id          # its K2K service provider id at the home Keystone
        self.via = via              # this OCX's id, added to X-OCX-Via (loop guard)
        self.home = home            # the caller's own cloud: home-only headers may go there
        self.ssl = ssl              # its TLS context ([provider:NAME]); True: the session's

    def root(self, service: str, credentials: Credentials) -> str | None:
        url = find_endpoint(credentials.catalog, SERVICES[service], self.interface, self.region)
        return service_root(url) if url else None

    async def send(self, session: aiohttp.ClientSession, request: ApiRequest,
                   credentials: Credentials, *, body, timeout: aiohttp.ClientTimeout,
                   method: str | None = None) -> ProviderResponse:
        root = self.root(request.service, credentials)
        if root is None:
            raise ServiceNotOffered(self.name, f"offers no {request.service} service")
        project = credentials.project_id if request.project_id else None
        url = URL(root + request.path_for(project), encoded=True)
        if request.query:
            url = url.with_query(request.query)
        streaming = body is not None and not isinstance(body, (bytes, bytearray))
        headers = outbound_headers(request, credentials.token, streaming, self.via,
                                   home=self.home, service_token=credentials.service_token)
        try:
            resp = await session.request(method or request.method, url, headers=headers,
                                         data=body, timeout=timeout, allow_redirects=False,
                                         ssl=self.ssl)
        except asyncio.TimeoutError:
            raise ProviderTimeout(self.name, "did not answer in time") from None
        except aiohttp.ClientConnectionError as exc:
            raise ProviderUnreachable(self.name, f"cannot be reached ({type(exc).__name__})") \
                from None
        except aiohttp.ClientError as exc:
            raise ProviderFailure(self.name, f"answered badly ({type(exc).__name__})") from None
        answer = ProviderResponse(
            provider=self.name, status=resp.status,
            headers=CIMultiDict((k, v) for k, v in resp.headers.items()
                                if k.lower() not in RESPONSE_DROP),
            root=root, remote_project=credentials.project_id)
        if (method or request.method) == "HEAD" or resp.status in (204, 304):
            resp.release()
            answer.body = b""
            return answer
        if not is_json(resp.headers.get("Content-Type", "")):
            answer.stream = resp
            if "Content-Encoding" not in resp.headers:  # else aiohttp decodes: length unknown
                answer.content_length = resp.content_length
            return answer
        try:
            if (resp.content_length or 0) > MAX_JSON_BODY:
                raise ProviderFailure(self.name, "sent a JSON answer too large to handle")
            answer.body = await resp.content.read(MAX_JSON_BODY + 1)
            if len(answer.body) > MAX_JSON_BODY:
                raise ProviderFailure(self.name, "sent a JSON answer too large to handle")
        except asyncio.TimeoutError:
            raise ProviderTimeout(self.name, "stopped answering") from None
        except aiohttp.ClientError as exc:
            raise ProviderFailure(self.name, f"broke off its answer ({type(exc).__name__})") \
                from None
        finally:
            resp.release()
        return answer
