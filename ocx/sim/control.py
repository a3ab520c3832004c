"""The simulator's own admin endpoint: see the clouds, change their faults while they run.

Served on a separate loopback port so that it keeps answering while a cloud's Keystone or any
other service is down.

- ``GET /sim``: every cloud's endpoints.
- ``GET|PATCH|DELETE /sim/clouds/{cloud}/faults``: read, change or clear faults. A PATCH body is
  ``{"latency_ms": {"*": 50}, "error_rate": {"nova": 0.5}, "down": {"keystone": true}}``.
- ``GET|DELETE /sim/clouds/{cloud}/calls``: calls received by service and method; reset.
- ``PATCH /sim/clouds/{cloud}/settings``: per-service options, such as ``nova.cinder_url``.
- ``POST /sim/clouds/{cloud}/keystone/restart``: its Keystone restarts and forgets every token
  (and federation session); the cloud's services then refuse every token issued before.
- ``/sim/clouds/{cloud}/controllers[/{i}[/stop|/start|/restart|/faults]]``: a cloud's simulated
  network controllers (``controller.py``): their state; stop, start, restart empty, faults.
"""
from __future__ import annotations

import math

import orjson
from aiohttp import web

from .controller import control_routes as controller_routes
from .errors import SimError, error_middleware, render_keystone
from .exchange import SimExchange
from .faults import ALL
from .wire import json_response


def _cloud(exchange: SimExchange, request: web.Request):
    name = request.match_info["cloud"]
    if name not in exchange.clouds:
        raise SimError(404, f"No simulated cloud named {name!r}.")
    return exchange.clouds[name]


async def _body(request: web.Request) -> dict:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise SimError(400, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SimError(400, "The body must be a JSON object.")
    return body


def _numbers(value, what: str, services: set[str], upper: float) -> dict[str, float]:
    if not isinstance(value, dict):
        raise SimError(400, f"{what} must be an object of service name to number.")
    result = {}
    for service, number in value.items():
        if service != ALL and service not in services:
            raise SimError(400, f"{what}: no service {service!r} in this cloud.")
        if (not isinstance(number, (int, float)) or isinstance(number, bool)
                or not math.isfinite(number) or not 0 <= number <= upper):
            raise SimError(400, f"{what}[{service}] must be a number from 0 to {upper}.")
        result[service] = float(number)
    return result


def make_control_app(exchange: SimExchange) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/sim")
    async def describe(request: web.Request) -> web.Response:
        return json_response({name: {"endpoints": cloud.endpoints(), "idp": cloud.spec.idp}
                              for name, cloud in exchange.clouds.items()})

    @routes.get("/sim/clouds/{cloud}/faults")
    async def get_faults(request: web.Request) -> web.Response:
        return json_response(_cloud(exchange, request).faults.describe())

    @routes.patch("/sim/clouds/{cloud}/faults")
    async def patch_faults(request: web.Request) -> web.Response:
        cloud = _cloud(exchange, request)
        body = await _body(request)
        services = set(cloud.services)
        unknown = set(body) - {"latency_ms", "error_rate", "down"}
        if unknown:
            raise SimError(400, f"Unknown fault kinds: {', '.join(sorted(unknown))}.")
        # Validate everything before changing anything.
        latency = _numbers(body.get("latency_ms", {}), "latency_ms", services, 600_000)
        errors = _numbers(body.get("error_rate", {}), "error_rate", services, 1)
        down = body.get("down", {})
        if not isinstance(down, dict) or not all(
                s in services and isinstance(v, bool) for s, v in down.items()):
            raise SimError(400, "down must map service names of this cloud to true or false.")
        cloud.faults.latency_ms.update(latency)
        cloud.faults.error_rate.update(errors)
        for service, is_down in down.items():
            await cloud.set_down(service, is_down)
        return json_response(cloud.faults.describe())

    @routes.delete("/sim/clouds/{cloud}/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        cloud = _cloud(exchange, request)
        cloud.faults.latency_ms.clear()
        cloud.faults.error_rate.clear()
        for service in list(cloud.faults.down):
            await cloud.set_down(service, False)
        return json_response(cloud.faults.describe())

    @routes.get("/sim/clouds/{cloud}/calls")
    async def get_calls(request: web.Request) -> web.Response:
        return json_response(_cloud(exchange, request).call_counts())

    @routes.delete("/sim/clouds/{cloud}/calls")
    async def reset_calls(request: web.Request) -> web.Response:
        cloud = _cloud(exchange, request)
        cloud.calls.clear()
        return json_response(cloud.call_counts())

    @routes.post("/sim/clouds/{cloud}/keystone/restart")
    async def restart_keystone(request: web.Request) -> web.Response:
        cloud = _cloud(exchange, request)
        return json_response({"tokens_forgotten": await cloud.keystone.restart()})

    @routes.patch("/sim/clouds/{cloud}/settings")
    async def patch_settings(request: web.Request) -> web.Response:
        cloud = _cloud(exchange, request)
        body = await _body(request)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in body.items()):
            raise SimError(400, "Settings map option names to strings.")
        cloud.settings.update(body)
        return json_response(cloud.settings)

    app = web.Application(middlewares=[error_middleware(render_keystone)])
    app.add_routes(routes)
    app.add_routes(controller_routes(
        lambda name: getattr(exchange.clouds.get(name), "controllers", None)))
    return app
