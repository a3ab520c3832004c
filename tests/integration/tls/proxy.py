"""A TLS-terminating reverse proxy in front of one simulated service (the simulated clouds
speak plain HTTP), as a real deployment puts HAProxy or Apache in front of its APIs.

Every request is passed on as it came (method, path, query, headers, body, cookies), and
every answer back as it came (a signed SAML assertion must arrive untouched).
"""
from __future__ import annotations

import ssl

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length",
              "content-encoding", "upgrade", "te", "trailer", "proxy-authorization"}


def server_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """A server's context; with ``client_ca``, a client certificate it signed is required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class TlsProxy:
    def __init__(self, upstream: str, context: ssl.SSLContext) -> None:
        upstream_url = URL(upstream)
        self.upstream = str(upstream_url.origin())
        self.context = context
        self.url = ""                # https://127.0.0.1:PORT once started
        self.served = 0              # requests that got through the TLS handshake
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        self._http = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._http.close()

    def public(self, url: str) -> str:
        """``url`` of the upstream as the proxy's."""
        return url.replace(self.upstream, self.url)

    async def _forward(self, request: web.Request) -> web.Response:
        self.served += 1
        headers = CIMultiDict((k, v) for k, v in request.headers.items()
                              if k.lower() not in HOP_BY_HOP)
        body = await request.read()
        async with self._http.request(request.method, self.upstream + request.raw_path,
                                      headers=headers, data=body or None,
                                      allow_redirects=False) as answer:
            data = await answer.read()
            out = CIMultiDict((k, v) for k, v in answer.headers.items()
                              if k.lower() not in HOP_BY_HOP or k.lower() == "content-encoding")
            return web.Response(status=answer.status, headers=out, body=data)
