"""The status page at ``GET /ocx/`` (issue 13): the exchange at a glance, for an admin.

One HTML page drawn here, with its charts as inline SVG: no script, nothing fetched by the
browser. It shows each provider's state (the health book, a controller provider's servers),
its latency and error rate over the last minutes (``ocx.recent``, this worker's calls), the
mappings OCX holds per type and provider, the recent searches and K2K exchanges, and the peers.

Admin role required. A browser sends no ``X-Auth-Token``, so the page also takes the token
from the ``ocx_token`` cookie, set by its own login form (``POST /ocx/login``: user name,
password and project, sent by OCX to the home Keystone, which makes the token). The cookie is
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure when
OCX's public URL is https, limited to ``/ocx/`` and to the token's life. A token in the query
string is not taken: it would land in access logs and browser history.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import time
from collections.abc import Sequence

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from ..identity.errors import IdentityUnavailable, Unauthenticated
from ..recent import RECENT, SLOT_SECONDS, Recent, Slot
from ..store.schema import resource_mappings

PATH = "/ocx/"
LOGIN = "/ocx/login"
LOGOUT = "/ocx/logout"
COOKIE = "ocx_token"
ADMIN_ROLE = "admin"
log = logging.getLogger(__name__)


class StatusPage:
    def __init__(self, *, live, validator, store, peers: Sequence, http: aiohttp.ClientSession,
                 auth_url: str, secure: bool, timeout: float, recent: Recent = RECENT) -> None:
        self.live = live                # api.providers_api.LiveProviders
        self.validator = validator
        self.store = store
        self.peers = peers              # config.PeerConfig of each peer
        self.http = http
        self.auth_url = auth_url.rstrip("/")
        self.secure = secure
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.recent = recent

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.page), web.post(LOGIN, self.login),
                web.post(LOGOUT, self.logout)]

    async def page(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Auth-Token") or request.cookies.get(COOKIE)
        if not token:
            return _html(login_form(None), 401)
        try:
            caller = await self.validator.identify(token)
        except Unauthenticated:
            return _html(login_form("The token is not valid (any more): log in again."), 401)
        except IdentityUnavailable as exc:
            return _html(login_form(f"The token cannot be validated now: {exc.reason}."), 503)
        if ADMIN_ROLE not in caller.roles:
            return _html(login_form("Only an admin may see the status page."), 403)
        view = {"providers": self.live.records(), "mappings": await self._mapping_counts(),
                "peers": [(p.name, p.url or "", ", ".join(p.fronts)) for p in self.peers],
                "recent": self.recent, "now": time.time()}
        return _html(render(view), 200)

    async def _mapping_counts(self) -> list[tuple[str, str, int]] | str:
        """Resource mappings per type and provider, or why they cannot be counted now."""
        query = sa.select(resource_mappings.c.resource_type, resource_mappings.c.provider,
                          sa.func.count()).group_by(resource_mappings.c.resource_type,
                                                    resource_mappings.c.provider)
        try:
            async with self.store.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except Exception as exc:  # noqa: BLE001 - the page shows the rest
            return f"the store could not be read ({type(exc).__name__})"
        return sorted((str(t), str(p), int(n)) for t, p, n in rows)

    async def login(self, request: web.Request) -> web.Response:
        """The form's user name, password and project → a token of the home Keystone."""
        form = await request.post()
        user, password = form.get("username", ""), form.get("password", "")
        project = form.get("project", "")
        domain = form.get("domain", "") or "Default"
        if not all(isinstance(v, str) and v for v in (user, password, project)):
            return _html(login_form("User name, password and project are needed."), 400)
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": domain}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": domain}}}}}
        try:
            async with self.http.post(f"{self.auth_url}/auth/tokens", json=body,
                                      timeout=self.timeout) as resp:
                if resp.status != 201:
                    return _html(login_form("The home Keystone refused the log-in "
                                            f"(HTTP {resp.status})."), 401)
                token = resp.headers.get("X-Subject-Token", "")
                expires = (await resp.json())["token"]["expires_at"]
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            return _html(login_form(f"The home Keystone could not be asked "
                                    f"({type(exc).__name__})."), 503)
        answer = web.HTTPSeeOther(PATH)
        left = dt.datetime.fromisoformat(expires.replace("Z", "+00:00")) - \
            dt.datetime.now(dt.timezone.utc)
        answer.set_cookie(COOKIE, token, path=PATH, httponly=True, samesite="Strict",
                          secure=self.secure or None,
                          max_age=max(0, int(left.total_seconds())))
        raise answer

    async def logout(self, request: web.Request) -> web.Response:
        answer = web.HTTPSeeOther(PATH)
        answer.del_cookie(COOKIE, path=PATH)
        raise answer


def _html(text: str, status: int) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'none'; "
                                 "style-src 'unsafe-inline'; form-action 'self'"})


# -- drawing (pure) ------------------------------------------------------------------------------

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;
margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;
vertical-align:middle}th{background:#f3f3f3}.up{color:#0a0}.degraded{color:#c80}
.down{color:#c00}.small{color:#666;font-size:.85em}"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def login_form(message: str | None) -> str:
    note = f"<p class=down>{html.escape(message)}</p>" if message else ""
    fields = "".join(
        f"<p><label>{label} <input name={name} type={kind}{extra}></label></p>"
        for label, name, kind, extra in (("User", "username", "text", " required"),
                                         ("Password", "password", "password", " required"),
                                         ("Project", "project", "text", " required"),
                                         ("Domain", "domain", "text", " value=Default")))
    return _page("OCX: log in", f"<h1>OCX status</h1>{note}<p>Log in as an admin of the home "
                 f"cloud.</p><form method=post action={LOGIN}>{fields}"
                 "<p><button type=submit>Log in</button></p></form>")


def sparkline(values: Sequence[float | None], *, top: float, color: str, unit: str,
              width: int = 180, height: int = 36) -> str:
    """An SVG polyline of ``values`` (None: no call in that slot, no point), 0 at the
    bottom, ``top`` at the top; the last value written beside it."""
    step = width / max(1, len(values) - 1)
    points, segments = [], []
    for i, value in enumerate(values):
        if value is None:
            if points:
                segments.append(points)
            points = []
            continue
        y = height - 2 - (height - 4) * min(value, top) / top if top else height - 2
        points.append(f"{i * step:.1f},{y:.1f}")
    if points:
        segments.append(points)
    lines = "".join(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                    f'points="{" ".join(p)}"/>' if len(p) > 1 else
                    f'<circle cx="{p[0].split(",")[0]}" cy="{p[0].split(",")[1]}" r="1.5" '
                    f'fill="{color}"/>' for p in segments)
    last = next((v for v in reversed(values) if v is not None), None)
    label = "no calls" if last is None else f"{last:.1f} {unit}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="{html.escape(label)}"><rect width="{width}" '
            f'height="{height}" fill="#fafafa" stroke="#ddd"/>{lines}</svg> '
            f"<span class=small>{html.escape(label)}</span>")


def provider_row(record: dict, series: Sequence[Slot]) -> str:
    name, state = record["name"], record.get("state", "up")
    latency = [s.latency_ms for s in series]
    errors = [None if s.error_rate is None else s.error_rate * 100 for s in series]
    top = max((v for v in latency if v is not None), default=0.0) * 1.2 or 1.0
    detail = record.get("last_error") or ""
    if record.get("since"):
        detail = f"since {record['since']}; {detail}"
    return (f"<tr data-provider=\"{html.escape(name)}\"><td>{html.escape(name)}</td>"
            f"<td>{html.escape(str(record.get('kind', '')))} / "
            f"{html.escape(str(record.get('source', '')))}</td>"
            f"<td class=\"state {html.escape(state)}\">{html.escape(state)}</td>"
            f"<td>{sparkline(latency, top=top, color='#36c', unit='ms')}</td>"
            f"<td>{sparkline(errors, top=100.0, color='#c33', unit='% errors')}</td>"
            f"<td class=small>{html.escape(detail)}</td></tr>")


def _events(events, *, search: bool, now: float) -> str:
    rows = "".join(
        f"<tr><td>{int(now - e.at)} s ago</td><td>{html.escape(e.what)}</td>"
        f"<td>{html.escape(e.outcome)}</td>"
        + (f"<td>{html.escape(e.provider or '-')}</td>" if search else "")
        + f"<td>{e.seconds * 1000:.1f} ms</td></tr>" for e in reversed(events))
    head = ("<tr><th>when</th><th>collection</th><th>outcome</th><th>found at</th>"
            "<th>took</th></tr>" if search else
            "<tr><th>when</th><th>provider</th><th>result</th><th>took</th></tr>")
    return f"<table>{head}{rows}</table>" if rows else "<p class=small>none yet</p>"


def render(view: dict) -> str:
    """The page from ``view``: providers (records), mappings, peers, recent, now."""
    recent: Recent = view["recent"]
    providers = "".join(provider_row(r, recent.series(r["name"])) for r in view["providers"])
    mappings = view["mappings"]
    if isinstance(mappings, str):
        counts = f"<p class=down>{html.escape(mappings)}</p>"
    elif mappings:
        counts = "<table><tr><th>type</th><th>provider</th><th>mappings</th></tr>" + "".join(
            f"<tr><td>{html.escape(t)}</td><td>{html.escape(p)}</td><td>{n}</td></tr>"
            for t, p, n in mappings) + "</table>"
    else:
        counts = "<p class=small>none yet</p>"
    peers = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(u)}</td>"
                    f"<td>{html.escape(f)}</td></tr>" for n, u, f in view["peers"])
    peers = (f"<table><tr><th>peer</th><th>URL</th><th>fronts</th></tr>{peers}</table>"
             if peers else "<p class=small>no peer configured</p>")
    minutes = SLOT_SECONDS * len(recent.series("")) // 60
    body = (
        f"<h1>OCX status</h1><form method=post action={LOGOUT}><button>Log out</button></form>"
        f"<h2>Providers</h2><p class=small>Latency and error rate of this worker's calls over "
        f"the last {minutes} minutes, per {SLOT_SECONDS} s.</p><table id=providers><tr>"
        "<th>provider</th><th>kind / source</th><th>state</th><th>latency</th>"
        f"<th>error rate</th><th>last error</th></tr>{providers}</table>"
        f"<h2>Mappings</h2>{counts}"
        f"<h2>Recent searches</h2>{_events(recent.searches, search=True, now=view['now'])}"
        "<h2>Recent K2K exchanges</h2>"
        f"{_events(recent.exchanges, search=False, now=view['now'])}"
        f"<h2>Peers</h2>{peers}")
    return _page("OCX status", body)
