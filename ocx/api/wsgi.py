"""The gateway under the operator's own server: gunicorn with aiohttp's worker class.

aiohttp speaks neither WSGI nor ASGI; gunicorn runs it through aiohttp's worker classes, which
await an application factory in each worker process::

    OCX_CONFIG=/etc/ocx/ocx.conf gunicorn ocx.api.wsgi:app_factory \\
        --worker-class aiohttp.GunicornUVLoopWebWorker --bind 0.0.0.0:8080 --workers 4

Each worker builds the whole gateway (:func:`~ocx.api.server.gateway`: store, connection
pool, validator, providers, background tasks) in its own event loop, and closes it when
gunicorn stops the worker (the application's cleanup). The factory hands gunicorn OCX's own
runner, so what OCX reads is limited exactly as under ``ocx serve`` (``max_request_line``,
``max_header_line``, ``max_headers``: 414, 431). Gunicorn owns the socket, the worker count
and the event loop (``--bind``, ``--workers``, the worker class): ``bind_host``, ``bind_port``,
``workers`` and ``event_loop`` are not read, and ``public_url`` should say where clients
reach gunicorn. No worker listens to notifications: run ``ocx listen`` beside it.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from .. import config
from .limits import Limits, Runner
from .server import gateway

# The environment variable naming the configuration file, and the file read without it.
CONFIG_ENV = "OCX_CONFIG"
DEFAULT_CONFIG = "/etc/ocx/ocx.conf"
log = logging.getLogger(__name__)


def config_path(environ: Mapping[str, str]) -> str:
    """The configuration file a worker reads (pure)."""
    return environ.get(CONFIG_ENV) or DEFAULT_CONFIG


async def app_factory() -> web.AppRunner:
    """gunicorn's entry point: the gateway of ``$OCX_CONFIG`` with everything it needs open,
    as a runner with OCX's limits on what it reads; closed when the worker stops."""
    conf = config.load(config_path(os.environ))
    if conf.listen_notifications:
        log.warning("listen_notifications is not run under gunicorn: run `ocx listen` "
                    "beside it")
    opened = contextlib.AsyncExitStack()
    app = await opened.enter_async_context(gateway(conf, notifications=False))

    async def close(_: web.Application) -> AsyncIterator[None]:
        yield
        await opened.aclose()

    app.cleanup_ctx.append(close)
    return Runner(app, Limits.from_conf(conf), access_log=None)
