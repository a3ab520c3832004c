"""Assembling the gateway from its configuration, once, at start-up.

Everything the pipeline uses is built here and handed to :class:`~ocx.api.app.Stages`; after
that nothing is added or changed (the application is frozen when it starts).
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import signal
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from oslo_config import cfg

from .. import config, logs
from ..backends.controller import ControllerAuthFailed, ControllerClient, ControllerNetworking
from ..backends.openstack import OpenStackProvider
from ..extensions.base import load as load_extensions
from ..identity.heal import HealingMapper
from ..identity.k2k import K2KExchanger
from ..identity.tokens import TokenMapper
from ..identity.usage import ProjectUsage, RecordingMapper
from ..identity.validate import TokenValidator, service_auth
from ..identity.vouch import ServiceVoucher
from ..learn import listener as notification_listener
from ..learn.peers import PeerClient
from ..policy import api as policy_api
from ..routing.execute import Executor
from ..routing.plan import learnable_types
from ..store import MappingStore
from ..store.location import store_keys, store_url
from .admin_api import ProjectsApi
from .app import Stages, make_app, marker_key
from .drain import InFlight, drain
from .fanout import ListingSettings
from .health_api import Health
from .limits import Limits, Runner
from .peering import PATH as PEER_PATH
from .metrics_api import MetricsApi
from .providers_api import LiveProviders
from .tls import ClientContexts, server_context
from .status_page import StatusPage
from .peering import PeerInjections

HOME = "home"
BACKLOG = 1024
CUT_SECONDS = 1.0   # for calls still running after the grace to end once cancelled
log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def gateway(conf: cfg.ConfigOpts, *,
                  notifications: bool = True) -> AsyncIterator[web.Application]:
    """The gateway application with everything it needs open; closed on exit.
    ``notifications``: this process may run the notification listener (one worker does)."""
    if not conf.keystone.auth_url:
        raise ValueError("[keystone] auth_url is required")
    # TLS of the calls OCX makes (api.tls): a file that cannot be used stops it here.
    tls = ClientContexts(conf, list(conf.providers))
    store = await MappingStore.open(store_url(conf), store_keys(conf),
                                    cache_size=conf.store.cache_size, migrate=True,
                                    timeout=conf.store.timeout)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=conf.max_connections_per_provider,
                                     ttl_dns_cache=300, ssl=tls.default)
    session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                    skip_auto_headers=("User-Agent",))
    try:
        via = secrets.token_hex(8)
        remotes = {p.name: p for p in config.providers(conf)}
        providers = {HOME: OpenStackProvider(HOME, interface=conf.keystone.home_interface,
                                             region=conf.keystone.region_name, via=via,
                                             home=True)}
        for p in remotes.values():
            providers[p.name] = OpenStackProvider(p.name, interface=p.interface,
                                                  region=conf.keystone.region_name,
                                                  sp_id=p.sp_id, via=via,
                                                  ssl=tls.for_provider(p.name))
        # Landlords whose networking is SDN controllers: OCX serves their Neutron itself.
        local = {settings.name: controller_provider(settings, store, session,
                                                    tls.for_provider(settings.name))
                 for settings in config.controllers(conf)}
        providers.update(local)
        peers = {p.name: p for p in config.peers(conf, list(providers))}
        # Providers a peer injects mappings for that this OCX has no K2K relation with: their
        # endpoints come with the injected token mapping's catalog.
        reachable = {name: OpenStackProvider(name, region=None, via=via)
                     for peer in peers.values() for name in peer.accept_providers
                     if name not in providers}
        timeouts = dict(connect_timeout=conf.connect_timeout, call_timeout=conf.call_timeout)
        validator = TokenValidator(conf.keystone.auth_url, service_auth(conf), session,
                                   token_cache_seconds=conf.keystone.token_cache_seconds,
                                   refusal_cache_seconds=conf.keystone.refusal_cache_seconds,
                                   tls=config.client_tls(conf))
        exchanger = K2KExchanger(conf.keystone.auth_url, timeout=conf.call_timeout,
                                 tls=config.client_tls(conf),
                                 provider_tls={p.sp_id: config.client_tls(conf, p.name)
                                               for p in remotes.values()})
        # The providers of now (configured and discovered), read on every call; their health.
        live = LiveProviders(conf, providers, home=HOME, via=via, reachable=reachable,
                             validator=validator, http=session, local=local,
                             ssl_for=tls.for_provider)
        token_mapper = TokenMapper(store, exchanger, home=HOME, remotes=live.registry.remotes,
                                   local=local)
        # A token OCX made at a provider that refuses it is made anew (identity.heal).
        token_mapper = HealingMapper(token_mapper, store)
        # Every credit of a caller's project records where the project has a remote project.
        configured = config.project_providers(conf)
        usage = ProjectUsage(store.projects, configured=configured, recheck=dt.timedelta(
            seconds=conf.project_recheck_interval))
        mapper = RecordingMapper(token_mapper, usage)
        executor = Executor(session, live.registry.objects, **timeouts, health=live.health,
                            healer=token_mapper)
        peer_client = PeerClient(session, peers.values(), me=conf.peer_name,
                                 timeout=conf.call_timeout,
                                 service_token=validator.service_token)
        listing = ListingSettings(conf.listing_timeout, conf.listing_partial,
                                  marker_key(store_keys(conf)))
        stages = Stages(
            validator=validator, mapper=mapper, store=store, executor=executor,
            extensions=load_extensions(conf.extensions, store=store, executor=executor,
                                       mapper=mapper, peers=peer_client,
                                       providers=live.registry,
                                       network_extensions_union=conf.network_extensions_union,
                                       vni_ranges=tuple(conf.spanning.vni_ranges),
                                       gluon=config.gluon(conf)),
            providers=live.registry,
            defaults=config.default_providers(conf, list(providers)),
            public_url=config.public_url(conf),
            via=via,
            listing=listing,
            reachable=tuple(reachable),
            voucher=ServiceVoucher(validator, token_mapper, home=HOME,
                                   service_roles=frozenset(conf.keystone.service_token_roles)),
            usage=usage,
            max_body=conf.max_request_body_size)
        projects_api = ProjectsApi(validator=validator, store=store, usage=usage, mapper=mapper,
                                   executor=executor, providers=live.registry,
                                   configured=configured, timeout=conf.listing_timeout)
        injections = PeerInjections(peers, validator=validator, store=store,
                                    types=learnable_types())
        for provider in local.values():
            try:
                await provider.client.check_credentials()
            except ControllerAuthFailed as exc:
                raise ValueError(f"[provider:{exc.provider}]: {exc.reason}") from None
        async with contextlib.AsyncExitStack() as running:
            await live.start()
            running.push_async_callback(live.stop)
            # Extensions with a life of their own (the Gluon registry's etcd watch).
            for ext in stages.extensions:
                await ext.start()
                running.push_async_callback(ext.stop)
            purging = asyncio.create_task(purge_forever(store, conf.store.purge_interval))
            running.callback(purging.cancel)
            listening = notification_listener.start(conf, store, HOME) if notifications \
                else None
            running.push_async_callback(notification_listener.stop, listening)
            health = Health(store=store, http=session, keystone_url=conf.keystone.auth_url,
                            timeout=conf.readiness_timeout)
            # Group-Based Policy (issue 11) under /policy, rendered through this OCX's Neutron.
            policy = policy_api.build(conf, store.engine, validator, session, HOME).routes() \
                if conf.policy.enabled else []
            # Issue 13: /metrics, and the status page at /ocx/.
            observe = [*(MetricsApi(validator=validator,
                                    require_admin=conf.metrics.require_admin).routes()
                         if conf.metrics.enabled else ()),
                       *StatusPage(live=live, validator=validator, store=store,
                                   peers=list(peers.values()), http=session,
                                   auth_url=conf.keystone.auth_url,
                                   secure=config.public_url(conf).startswith("https:"),
                                   timeout=conf.call_timeout).routes()]
            yield make_app(stages, routes=[*observe, web.post(PEER_PATH, injections.handle),
                                           *projects_api.routes(), *live.routes(),
                                           *health.routes(), *policy])
    finally:
        await session.close()
        await store.close()


def controller_provider(settings, store: MappingStore, session: aiohttp.ClientSession,
                        ssl=True):
    """A controller provider over OCX's store (``store.controller``) and the HTTP pool."""
    # Imported here: neutron-lib (its Neutron rules) takes seconds to import, and only a
    # deployment with a controller landlord needs it.
    from ..backends.controller_provider import ControllerProvider

    return ControllerProvider(ControllerNetworking(ControllerClient(settings, store.controller,
                                                                    session, ssl=ssl)))


async def purge_forever(store: MappingStore, interval: float) -> None:
    """Expired token mappings are never used; this keeps them from piling up."""
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await store.purge_expired()
        except Exception:  # noqa: BLE001 - a failed purge is retried next time
            log.exception("purging expired token mappings failed")
        else:
            if removed:
                log.info("purged %d expired token mappings", removed)


async def serve(conf: cfg.ConfigOpts, ready=None, *, reuse_port: bool = False,
                notifications: bool = True, stop: asyncio.Event | None = None) -> None:
    """Run the gateway until ``stop`` is set (or until cancelled); ``ready(url)`` is called
    once it listens.

    Stopping with ``stop`` is graceful (``drain``): the listening socket is closed first (new
    connections are refused), and the calls in flight, streams included, have
    ``shutdown_grace_seconds`` to finish before they are cancelled; then the gateway closes
    (mappings still waiting for the store are written). Cancelled, it stops at once.
    ``reuse_port``: several worker processes listen on the same port (``ocx serve
    --workers``).
    """
    listening = server_context(conf)   # [ssl]: HTTPS, and client certificates if ca_file
    async with gateway(conf, notifications=notifications) as app:
        in_flight = InFlight()
        app.middlewares.append(in_flight.middleware)
        # The runner's own wait (twice this: answer, then cancel) is for what drain left.
        runner = Runner(app, Limits.from_conf(conf), access_log=None,
                        shutdown_timeout=CUT_SECONDS)
        await runner.setup()
        # A burst of new clients (1,000 users at once) overflows the default backlog of 128.
        site = web.TCPSite(runner, conf.bind_host, conf.bind_port, reuse_address=True,
                           reuse_port=reuse_port or None, backlog=BACKLOG,
                           ssl_context=listening)
        await site.start()
        try:
            if ready is not None:
                ready(config.public_url(conf))
            await (stop or asyncio.Event()).wait()
            await drain(runner, in_flight, conf.shutdown_grace_seconds)
        finally:
            await runner.cleanup()


def run(conf: cfg.ConfigOpts, *, reuse_port: bool = False, ready=None,
        notifications: bool = True) -> None:
    """Serve until SIGTERM or Ctrl-C: a graceful stop (see :func:`serve`); a second SIGTERM
    stops at once."""
    async def main() -> None:
        task, stop = asyncio.current_task(), asyncio.Event()

        def on_sigterm() -> None:
            if stop.is_set():
                task.cancel()
            stop.set()

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(conf, ready, reuse_port=reuse_port, notifications=notifications,
                        stop=stop)

    logs.configure(conf.use_json)   # a spawned worker has no handler yet: oslo-style lines
    with asyncio.Runner(loop_factory=_loop_factory(conf.event_loop)) as runner:
        with contextlib.suppress(KeyboardInterrupt):
            runner.run(main())


def _loop_factory(name: str):
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def prepare_store(conf: cfg.ConfigOpts) -> None:
    """Create or migrate the mapping store once, before several workers open it at once."""
    async def migrate() -> None:
        store = await MappingStore.open(store_url(conf), store_keys(conf), cache_size=0,
                                        migrate=True)
        await store.close()

    asyncio.run(migrate())
