"""OCX's configuration: an INI file in the OpenStack style, read with oslo.config.

Every option is defined here, once, with its help and default; ``list_opts`` lets
``oslo-config-generator`` write the commented sample in ``etc/``. Nothing is read at import
time and there is no global: ``load(path)`` returns a fresh ``ConfigOpts`` that the caller
passes down.

Providers besides the home cloud are named in ``[DEFAULT] providers``; each may have a
``[provider:NAME]`` section (see ``provider_opts``). Peer OCXs are named in ``[DEFAULT] peers``,
each with a ``[peer:NAME]`` section (see ``peer_opts``). A local project, by id or name, may
have a ``[project:ID_OR_NAME]`` section (see ``project_opts``).
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass

from oslo_config import cfg

AGGREGATORS = ("server-aggregator", "flavor-aggregator", "keypair-aggregator",
               "volume-aggregator", "snapshot-aggregator", "image-aggregator",
               "network-aggregator", "subnet-aggregator", "port-aggregator",
               "router-aggregator", "security-group-aggregator", "version-aggregator",
               "network-extension-aggregator", "limits-aggregator", "quota-aggregator")
# Resources of different clouds used together (ocx/extensions/mixmatch.py).
MIXMATCH = ("name-routing", "follow-parent", "attach-across-clouds", "boot-across-clouds")
# One network across several clouds (ocx/extensions/spanning.py), after follow-parent.
SPANNING = ("spanning-networks",)
# Gluon ports served by their Proton servers (ocx/extensions/gluon.py); off without [gluon].
GLUON = ("gluon-ports",)
# Volume create on boot (ocx/extensions/bootvolume.py): last, so that no extension after it
# can refuse a boot once its volumes are made.
BOOT_VOLUME = ("boot-volume",)

default_opts = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1",
                       help="Address the gateway listens on."),
    cfg.PortOpt("bind_port", default=8080, help="Port the gateway listens on."),
    cfg.URIOpt("public_url", schemes=["http", "https"],
               help="The URL clients reach OCX at (put in the catalog and in every link OCX "
                    "returns). Default: http://bind_host:bind_port."),
    cfg.ListOpt("providers", default=[],
                help="K2K service providers (their ids at the home Keystone) that OCX sends "
                     "calls to besides the home cloud. Each may have a [provider:NAME] section."),
    cfg.BoolOpt("listen_notifications", default=False,
                help="Run the notification listener (ocx listen) inside ocx serve, in one "
                     "worker: resource mappings follow the providers' notifications (see "
                     "[notifications] and each provider's notifications_url)."),
    cfg.BoolOpt("discover_providers", default=True,
                help="Also send calls to the K2K service providers registered at the home "
                     "Keystone (/v3/OS-FEDERATION/service_providers, read with OCX's service "
                     "user), refreshed while OCX runs: one added there is used, one disabled "
                     "or removed there is no longer called. Those named in providers are "
                     "always used."),
    cfg.IntOpt("discovery_interval", default=60, min=1,
               help="Seconds between two readings of the home Keystone's service providers."),
    cfg.ListOpt("exclude_providers", default=[],
                help="Service providers (ids at the home Keystone) never used even when the "
                     "home Keystone lists them."),
    cfg.FloatOpt("health_probe_interval", default=10.0, min=0.1,
                 help="Seconds between two probes of a provider's service that is not up (a "
                      "GET of its root); one that answers is called again."),
    cfg.IntOpt("health_down_after", default=3, min=1,
               help="Failed calls in a row (time-outs, 5xx answers) that take a provider's "
                    "service down: it is skipped at once until a probe finds it answering. A "
                    "refused connection takes it down at once."),
    cfg.IntOpt("project_recheck_interval", default=3600, min=0,
               help="Seconds a provider found to hold nothing of a project (the federated "
                    "user has no project there) is left out of that project's listings and "
                    "searches; then it is tried again, so that a project given a remote "
                    "project there since is found. Listings and searches go to the "
                    "project's home, the providers where it has a remote project, those "
                    "never tried for it, and those listed in its [project:ID_OR_NAME] "
                    "section."),
    cfg.DictOpt("default_providers", default={},
                help="Where creates and listings of a service go when the caller names no "
                     "provider, per OCX service (compute, volume, image, network), e.g. "
                     "volume:sp1. Default: the home cloud."),
    cfg.FloatOpt("connect_timeout", default=5.0, min=0.1,
                 help="Seconds to wait for a provider to accept a connection."),
    cfg.FloatOpt("call_timeout", default=60.0, min=0.1,
                 help="Seconds a provider may take to start answering a call."),
    cfg.IntOpt("workers", default=1, min=1,
               help="Gateway processes listening on the port; they share the mapping store. "
                    "About one per core."),
    cfg.StrOpt("event_loop", default="uvloop", choices=["uvloop", "asyncio"],
               help="The event loop: uvloop (libuv, faster) or Python's own."),
    cfg.IntOpt("max_connections_per_provider", default=100, min=1,
               help="Keep-alive connections kept open to each provider."),
    cfg.ListOpt("extensions", default=list(AGGREGATORS + MIXMATCH + SPANNING + GLUON + BOOT_VOLUME),
                help="Extensions to load (names of `ocx.extensions` entry points), in the "
                     "order their hooks run. The aggregators make one listing of every "
                     "cloud's resources; leave one out and that listing goes to one cloud."),
    cfg.FloatOpt("listing_timeout", default=10.0, min=0.1,
                 help="Seconds an aggregated listing waits for the providers; one that has "
                      "not answered by then is left out (see listing_partial)."),
    cfg.BoolOpt("listing_partial", default=True,
                help="Answer an aggregated listing without the providers that are down, "
                     "failed or too slow, naming them in X-OCX-Missing-Providers. False: "
                     "answer 503 instead."),
    cfg.BoolOpt("network_extensions_union", default=False,
                help="GET /network/v2.0/extensions shows the Neutron extensions any cloud has "
                     "(True) instead of those every cloud has (False: a client then never "
                     "relies on an extension some cloud lacks)."),
    cfg.StrOpt("peer_name", default="ocx",
               help="This OCX's name at its peers (the NAME of their [peer:NAME] section)."),
    cfg.ListOpt("peers", default=[],
                help="Peer OCXs (names of [peer:NAME] sections): the OCXs this one injects "
                     "mappings into, and those it accepts injected mappings from."),
    cfg.StrOpt("state_dir", default=".ocx",
               help="Folder for the SQLite store and the generated encryption key."),
    # What OCX takes in (issue 12), as the services' own front ends limit it: eventlet's
    # request line (8192), oslo.service's max_header_line (16384), oslo.middleware's
    # max_request_body_size (there 112 KiB; OCX also carries bulk creates).
    cfg.IntOpt("max_request_line", default=8192, min=1024,
               help="Longest request target (path and query) OCX reads, in bytes; a longer "
                    "one is answered 414."),
    cfg.IntOpt("max_header_line", default=16384, min=1024,
               help="Longest header (name and value) OCX reads, in bytes; a longer one is "
                    "answered 431. Keystone tokens are a few hundred bytes."),
    cfg.IntOpt("max_headers", default=128, min=16,
               help="Most headers one request may have; more are answered 431."),
    cfg.IntOpt("max_request_body_size", default=16 << 20, min=1024,
               help="Largest JSON body OCX reads, in bytes (a larger one is answered 413). "
                    "Other bodies (image data) stream through and are not limited here."),
    cfg.FloatOpt("readiness_timeout", default=2.0, min=0.1,
                 help="Seconds each check of GET /readyz (the store, the home Keystone) may "
                      "take before it counts as failed."),
    cfg.FloatOpt("shutdown_grace_seconds", default=30.0, min=0,
                 help="On SIGTERM, OCX stops accepting connections and lets the calls in "
                      "flight (image transfers included) finish for up to this many seconds "
                      "before it stops them and exits."),
    cfg.BoolOpt("use_json", default=False,
                help="Log one JSON object per line (oslo.log's option of that name) instead "
                     "of oslo.log's text lines; both carry each call's request ids."),
]

# Issue 13: what operators watch.
metrics_opts = [
    cfg.BoolOpt("enabled", default=True,
                help="Serve the Prometheus metrics at GET /metrics."),
    cfg.BoolOpt("require_admin", default=False,
                help="GET /metrics needs a token with the admin role. Off by default, as "
                     "Prometheus exporters of OpenStack services are scraped without a "
                     "token: no metric carries a token, a user, a project or a resource id; "
                     "keep /metrics off the public network, or turn this on."),
]

keystone_opts = [
    cfg.URIOpt("auth_url", schemes=["http", "https"],
               help="The home Keystone's v3 URL (the K2K identity provider)."),
    cfg.StrOpt("username", default="ocx", help="OCX's service user at the home Keystone."),
    cfg.StrOpt("password", secret=True, help="The service user's password."),
    cfg.StrOpt("project_name", default="service", help="The service user's project."),
    cfg.StrOpt("user_domain_name", default="Default", help="The service user's domain."),
    cfg.StrOpt("project_domain_name", default="Default",
               help="The domain of the service user's project."),
    cfg.StrOpt("region_name", default=None, help="Region of the endpoints OCX uses."),
    cfg.StrOpt("home_interface", default="internal", choices=["public", "internal", "admin"],
               help="Interface of the home catalog OCX forwards home calls to; the public "
                    "endpoints are OCX's own once `ocx catalog` has run."),
    cfg.IntOpt("token_cache_seconds", default=300, min=0,
               help="How long a validated token is trusted without asking Keystone again "
                    "(never beyond its expiry)."),
    cfg.IntOpt("refusal_cache_seconds", default=5, min=0,
               help="How long a token Keystone refused is refused without asking again."),
    cfg.ListOpt("service_token_roles", default=["service"],
                help="Roles that make an X-Service-Token a home service's (as "
                     "keystonemiddleware's option of that name): for such a token OCX sends a "
                     "K2K provider a service token of its own user there, since the home "
                     "service's token means nothing to that provider."),
    cfg.StrOpt("notifications_url", secret=True,
               help="The home cloud's oslo.messaging transport URL for notifications "
                    "(rabbit://user:password@host:5672/vhost, as its services' "
                    "[oslo_messaging_notifications] transport_url); empty: not listened to."),
]

store_opts = [
    cfg.StrOpt("url", default=None, secret=True,
               help="SQLAlchemy URL of the mapping store: sqlite:///path (default: "
                    "state_dir/ocx.sqlite) or postgresql://user@host/db."),
    cfg.ListOpt("encryption_keys", default=[], secret=True,
                help="Fernet keys that encrypt remote tokens at rest, newest first. Default: "
                     "a key generated once in state_dir/encryption.key."),
    cfg.IntOpt("purge_interval", default=300, min=10,
                help="Seconds between removals of expired token mappings from the store."),
    cfg.IntOpt("cache_size", default=100_000, min=0,
               help="Mappings kept in memory so that look-ups on the hot path skip the "
                    "database."),
    cfg.FloatOpt("timeout", default=10.0, min=0.1,
                 help="Seconds a PostgreSQL store has to accept a connection and to answer "
                      "each statement; past it the call is answered 503 rather than left "
                      "waiting on a server that does not answer."),
]

spanning_opts = [
    cfg.ListOpt("vni_ranges", default=["4096:8191"],
                help="VXLAN network identifiers OCX hands out to spanning networks (a network "
                     "created with \"ocx:spanning\": true gets the same VNI in every cloud "
                     "it reaches), as FIRST:LAST pairs like ML2's vni_ranges. Keep them apart "
                     "from the tenant ranges of every provider's ML2. A VNI is never handed "
                     "out twice, even after its network is deleted; when they are used up, "
                     "creating a spanning network is refused (503)."),
]

gluon_opts = [
    cfg.URIOpt("etcd_url", schemes=["http", "https"],
               help="The Gluon port registry's etcd (v3 API), e.g. http://127.0.0.1:2379. "
                    "Set, OCX serves the ports registered there (Gluon ports) on its Neutron "
                    "API from their Proton servers; empty: no Gluon ports."),
    cfg.StrOpt("key_prefix", default="/gluon/port/",
               help="The registry's keys: <key_prefix><port id>."),
    cfg.StrOpt("network_id",
               help="Id of the dummy network of Gluon ports in the home cloud's Neutron "
                    "(default: the network named network_name)."),
    cfg.StrOpt("network_name", default="GluonNetwork",
               help="Name of the dummy network (found, or made by `ocx gluon setup`)."),
    cfg.StrOpt("subnet_id", help="Id of the dummy subnet (default: the subnet named "
                                 "subnet_name on the dummy network)."),
    cfg.StrOpt("subnet_name", default="GluonSubnet",
               help="Name of the dummy subnet (found, or made by `ocx gluon setup`)."),
    cfg.StrOpt("subnet_cidr", default="0.0.0.0/1",
               help="CIDR `ocx gluon setup` gives the dummy subnet (no gateway, DHCP off; "
                    "no address of it is ever handed out)."),
]

# Group-Based Policy (issue 11; read by ocx/policy/api.py).
policy_opts = [
    cfg.BoolOpt("enabled", default=True,
                help="Serve the Group-Based Policy API under /policy (groups of endpoints, "
                     "proxy groups, service chains), rendered onto Neutron through OCX's own "
                     "network API."),
    cfg.StrOpt("provider",
               help="The provider L3 policies render onto unless the create names one "
                    "(X-OCX-Provider). Default: the home cloud."),
    cfg.StrOpt("default_ip_pool", default="10.0.0.0/8",
               help="ip_pool of the L3 policy OCX makes for a project that has none (GBP's "
                    "implicit policy)."),
    cfg.IntOpt("default_subnet_prefix_length", default=24, min=2, max=127,
               help="subnet_prefix_length of that implicit L3 policy."),
    cfg.StrOpt("default_proxy_ip_pool", default="192.168.0.0/16",
               help="Default proxy_ip_pool of L3 policies: where L3 proxy groups take their "
                    "subnets from."),
    cfg.IntOpt("default_proxy_subnet_prefix_length", default=29, min=2, max=127,
               help="Default proxy_subnet_prefix_length of L3 policies (2-30 for IPv4, 2-127 "
                    "for IPv6)."),
    cfg.ListOpt("node_drivers", default=["config"],
                help="Service chain node drivers, in the order they are asked whether they "
                     "can plumb a node (config: the plumbing a node's config declares)."),
]

notifications_opts = [
    cfg.StrOpt("queue", default="ocx-notifications",
               help="The durable queue OCX declares on each provider's broker, bound to the "
                    "services' exchanges. OCX processes sharing one store share the name, so "
                    "each notification is applied once; notifications sent while OCX is "
                    "stopped wait for it there."),
    cfg.ListOpt("exchanges", default=["nova", "cinder", "glance", "neutron", "openstack"],
                help="The services' notification exchanges (their control_exchange; Cinder "
                     "sets none: it sends on oslo.messaging's default, openstack)."),
    cfg.ListOpt("topics", default=["notifications", "versioned_notifications"],
                help="Notification topics the services send on (routing keys TOPIC.info)."),
    cfg.IntOpt("retention", default=86400, min=60,
               help="Seconds the last event of each resource (a deleted one's tombstone "
                    "included) is kept to order late, duplicated or reordered notifications."),
    cfg.FloatOpt("reconnect_max", default=60.0, min=1.0,
                 help="Longest wait, in seconds, between two tries at a broker that is down "
                      "(the wait doubles from one second)."),
]

provider_opts = [
    cfg.StrOpt("kind", default="openstack", choices=["openstack", "controller"],
               help="What the provider is: an OpenStack cloud reached by K2K (openstack), or "
                    "a landlord whose networking is a set of redundant SDN controllers, for "
                    "which OCX serves Neutron's API itself (controller: see servers)."),
    cfg.StrOpt("sp_id", help="Its service provider id at the home Keystone (default: the "
                             "provider's name)."),
    cfg.StrOpt("interface", default="public", choices=["public", "internal", "admin"],
               help="Interface of the provider's catalog to use."),
    cfg.DictOpt("project_map", default={},
                help="local project id or name → remote project id or name, when the remote "
                     "project is not the one of the same name."),
    cfg.StrOpt("notifications_url", secret=True,
               help="The provider's oslo.messaging transport URL for notifications "
                    "(rabbit://user:password@host:5672/vhost); a resource notified there is "
                    "mapped to this provider. Empty: not listened to."),
]

# A controller provider's options (issue 10; read by ocx/backends/controller_config.py),
# registered in every [provider:NAME] section and read where kind = controller.
controller_opts = [
    cfg.ListOpt("servers", default=[],
                help="Controller kind: the redundant SDN controllers, host:port,host:port,... "
                     "(an IPv6 address as [address]:port), the first the primary. A "
                     "malformed entry is refused at start-up."),
    cfg.StrOpt("serverauth", secret=True,
               help="Controller kind: user:password for the controllers' Basic "
                    "authentication."),
    cfg.BoolOpt("serverssl", default=False,
                help="Controller kind: reach the controllers over HTTPS."),
    cfg.FloatOpt("server_timeout", default=10.0, min=0.1,
                 help="Controller kind: seconds one controller may take to answer a call "
                      "before the next one is tried."),
    cfg.FloatOpt("sync_timeout", default=30.0, min=0.1,
                 help="Controller kind: seconds a controller may take to take the whole "
                      "state (PUT /topology)."),
    cfg.StrOpt("deployment_id",
               help="Controller kind: this deployment's id, sent with every call so that "
                    "controllers shared by several deployments tell them apart (default: "
                    "the provider's name)."),
    cfg.IntOpt("server_retries", default=3, min=0,
               help="Controller kind: times a call answered 503 (busy) is tried again on "
                    "the same controller, waiting longer each time."),
]

# [project:ID_OR_NAME]: a local project (by id or name) the operator says more about.
project_opts = [
    cfg.ListOpt("providers", default=[],
                help="Providers the project's listings and searches always go to, besides "
                     "those OCX has recorded for it (its home and where it has a remote "
                     "project)."),
]


peer_opts = [
    cfg.URIOpt("url", schemes=["http", "https"],
               help="Sending side: where the peer OCX listens. Empty: this OCX only accepts "
                    "injections from it."),
    cfg.ListOpt("fronts", default=[],
                help="Sending side: the providers (names of this OCX) whose own services call "
                     "their Cinder and Glance through the peer, so that it needs the mappings "
                     "of a call that joins a resource of another cloud to theirs."),
    cfg.StrOpt("secret", secret=True,
               help="A secret shared with the peer: injections both ways are signed with it "
                    "(HMAC-SHA256 over the time and the body)."),
    cfg.StrOpt("auth", default="secret", choices=["secret", "token"],
               help="Sending side: sign with the secret, or send this OCX's own service token "
                    "(the peer must share the home Keystone and accept its role)."),
    cfg.ListOpt("accept_providers", default=[],
                help="Receiving side: the providers the peer may inject mappings for. One "
                     "this OCX does not reach itself is reached only with injected mappings: "
                     "never searched, never listed, no K2K exchange made for it."),
    cfg.StrOpt("accept_role",
               help="Receiving side: also accept the peer's Keystone token (validated by the "
                    "home Keystone) when its user has this role in its project."),
]


# TLS (issue 12). The socket OCX listens on: oslo.service's [ssl] options, as the OpenStack API
# services read them.
ssl_opts = [
    cfg.StrOpt("cert_file",
               help="Certificate (PEM, its chain after it) OCX serves HTTPS with. Unset: OCX "
                    "serves plain HTTP (behind a TLS-terminating proxy, say)."),
    cfg.StrOpt("key_file", help="The certificate's private key (PEM). Default: in cert_file."),
    cfg.StrOpt("ca_file",
               help="CA certificates (PEM) of the client certificates OCX then requires: a "
                    "client without one signed by them is refused in the TLS handshake. "
                    "Unset: no client certificate is asked for."),
]


def _client_tls_opts(inherited: bool) -> list[cfg.Opt]:
    """The calls OCX makes, with keystoneauth's session options (keystonemiddleware's in
    [keystone_authtoken]): in [keystone] for the home cloud, in [provider:NAME] for one
    provider, each unset one there taken from [keystone]."""
    default = " Default: [keystone]'s." if inherited else ""
    return [
        cfg.StrOpt("cafile",
                   help="PEM CA bundle that verifies the HTTPS certificates of "
                        + ("this provider's Keystone and services" if inherited else
                           "the home Keystone and services (and every provider's unless "
                           "its [provider:NAME] names one)")
                        + ", instead of the system's." + default),
        cfg.StrOpt("certfile", help="PEM client certificate presented to them." + default),
        cfg.StrOpt("keyfile", help="PEM private key of certfile (default: in certfile)."),
        cfg.BoolOpt("insecure", default=None if inherited else False,
                    help="Do not verify their HTTPS certificates (tests only)." + default),
    ]


keystone_tls_opts = _client_tls_opts(inherited=False)
provider_tls_opts = _client_tls_opts(inherited=True)


def list_opts():
    """For oslo-config-generator (``ocx.config`` namespace)."""
    return [(None, default_opts), ("ssl", ssl_opts),
            ("keystone", keystone_opts + keystone_tls_opts), ("store", store_opts),
            ("spanning", spanning_opts), ("gluon", gluon_opts),
            ("notifications", notifications_opts), ("policy", policy_opts),
            ("metrics", metrics_opts),
            ("provider:name", provider_opts + controller_opts + provider_tls_opts),
            ("peer:name", peer_opts), ("project:name", project_opts)]


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str
    sp_id: str
    interface: str
    project_map: dict[str, str]


@dataclass(frozen=True)
class PeerConfig:
    name: str
    url: str | None
    fronts: tuple[str, ...]
    secret: str | None
    auth: str
    accept_providers: tuple[str, ...]
    accept_role: str | None


def load(path: str | None = None, args: list[str] | None = None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    conf.register_opts(default_opts)
    conf.register_opts(keystone_opts, group="keystone")
    conf.register_opts(keystone_tls_opts, group="keystone")
    conf.register_opts(ssl_opts, group="ssl")
    conf.register_opts(store_opts, group="store")
    conf.register_opts(spanning_opts, group="spanning")
    conf.register_opts(gluon_opts, group="gluon")
    conf.register_opts(notifications_opts, group="notifications")
    conf.register_opts(policy_opts, group="policy")
    conf.register_opts(metrics_opts, group="metrics")
    conf(args=args or [], project="ocx", default_config_files=[path] if path else [],
         default_config_dirs=[])
    for name in conf.providers:
        conf.register_opts(provider_opts, group=f"provider:{name}")
        conf.register_opts(controller_opts, group=f"provider:{name}")
        conf.register_opts(provider_tls_opts, group=f"provider:{name}")
    for name in conf.peers:
        conf.register_opts(peer_opts, group=f"peer:{name}")
    for section in conf.list_all_sections():
        if section.startswith("project:"):
            conf.register_opts(project_opts, group=section)
    _check(conf)
    return conf


def _check(conf: cfg.ConfigOpts) -> None:
    """Read every option once: oslo.config checks a value only when it is read, and a bad one
    must stop OCX before it opens anything, not in the middle of serving."""
    for opt in default_opts:
        getattr(conf, opt.dest)
    for group in conf.list_all_sections():
        if group in conf:
            for name in conf[group]:
                getattr(conf[group], name)
    for name in conf.providers:
        group = conf[f"provider:{name}"]
        if group.kind == "controller" or group.servers:   # a bad server list stops OCX here
            controller(conf, name)


def default_providers(conf: cfg.ConfigOpts, known: list[str]) -> dict[str, str]:
    """``[DEFAULT] default_providers`` checked against the services and providers OCX has."""
    result = {}
    for service, provider in conf.default_providers.items():
        if service not in ("compute", "volume", "image", "network"):
            raise ValueError(f"default_providers: unknown service {service!r}")
        if provider not in known:
            raise ValueError(f"default_providers: unknown provider {provider!r} for {service}")
        result[service] = provider
    return result


def public_url(conf: cfg.ConfigOpts) -> str:
    scheme = "https" if conf.ssl.cert_file else "http"
    return (conf.public_url or f"{scheme}://{conf.bind_host}:{conf.bind_port}").rstrip("/")


def providers(conf: cfg.ConfigOpts) -> list[ProviderConfig]:
    """The configured K2K providers (the home cloud is always there besides these)."""
    result = []
    for name in conf.providers:
        group = conf[f"provider:{name}"]
        if group.kind != "openstack":
            continue
        result.append(ProviderConfig(name=name, kind=group.kind, sp_id=group.sp_id or name,
                                     interface=group.interface,
                                     project_map=dict(group.project_map)))
    return result


def peers(conf: cfg.ConfigOpts, known: list[str]) -> list[PeerConfig]:
    """The configured peer OCXs, checked: each can authenticate one way or the other, and a
    provider it fronts is one this OCX knows."""
    result = []
    for name in conf.peers:
        group = conf[f"peer:{name}"]
        peer = PeerConfig(name=name, url=group.url, fronts=tuple(group.fronts),
                          secret=group.secret, auth=group.auth,
                          accept_providers=tuple(group.accept_providers),
                          accept_role=group.accept_role)
        if not peer.secret and not (peer.accept_role or peer.auth == "token"):
            raise ValueError(f"[peer:{name}]: a secret, or auth = token / accept_role, "
                             "is needed")
        if peer.auth == "secret" and peer.url and not peer.secret:
            raise ValueError(f"[peer:{name}]: auth = secret needs a secret")
        unknown = [p for p in peer.fronts if p not in known]
        if unknown:
            raise ValueError(f"[peer:{name}] fronts unknown providers: {', '.join(unknown)}")
        if peer.fronts and not peer.url:
            raise ValueError(f"[peer:{name}]: fronts needs the peer's url")
        result.append(peer)
    return result


def project_providers(conf: cfg.ConfigOpts) -> dict[str, tuple[str, ...]]:
    """``[project:ID_OR_NAME] providers``: local project id or name → providers listed."""
    return {section.removeprefix("project:"): tuple(conf[section].providers)
            for section in conf.list_all_sections()
            if section.startswith("project:") and section in conf}


def controllers(conf: cfg.ConfigOpts) -> list:
    """The configured controller providers' settings, checked (see :func:`controller`)."""
    return [controller(conf, name) for name in conf.providers
            if conf[f"provider:{name}"].kind == "controller"]


def controller(conf: cfg.ConfigOpts, name: str):
    """``[provider:NAME]``'s controller options, checked (``ControllerConfigError`` naming
    the section, the option and the bad entry)."""
    from .backends.controller_config import settings

    group = conf[f"provider:{name}"]
    return settings(name, servers=group.servers, serverauth=group.serverauth,
                    serverssl=group.serverssl, server_timeout=group.server_timeout,
                    sync_timeout=group.sync_timeout, deployment_id=group.deployment_id,
                    retries_503=group.server_retries)


def gluon(conf: cfg.ConfigOpts):
    """``[gluon]`` as the gluon-ports extension takes it; None when no etcd_url is set."""
    from .extensions.gluon import GluonSettings

    group = conf.gluon
    if not group.etcd_url:
        return None
    return GluonSettings(etcd_url=group.etcd_url, key_prefix=group.key_prefix,
                         network_id=group.network_id, network_name=group.network_name,
                         subnet_id=group.subnet_id, subnet_name=group.subnet_name,
                         timeout=conf.call_timeout)


@dataclass(frozen=True)
class ClientTLS:
    """How OCX's calls to one place check its certificate and prove who OCX is."""

    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False

    @property
    def verify(self) -> bool | str:
        """keystoneauth's (and requests') ``verify``."""
        return False if self.insecure else (self.cafile or True)

    @property
    def cert(self) -> str | tuple[str, str] | None:
        """keystoneauth's (and requests') ``cert``."""
        if not self.certfile:
            return None
        return (self.certfile, self.keyfile) if self.keyfile else self.certfile

    def ssl_context(self, where: str = "[keystone]") -> ssl.SSLContext:
        """The same for aiohttp: the CA bundle in place of the system's (as ``verify =
        cafile``), the client certificate. A file that cannot be used is a ``ValueError``
        naming the option (``where``: its section)."""
        context = _tls_loaded(f"{where} cafile",
                              lambda: ssl.create_default_context(cafile=self.cafile))
        if self.certfile:
            _tls_loaded(f"{where} certfile/keyfile",
                        lambda: context.load_cert_chain(self.certfile, self.keyfile))
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _tls_loaded(where: str, make):
    try:
        return make()
    except (OSError, ssl.SSLError) as exc:
        # The reason as OpenSSL or the OS gives it (never a key's content).
        raise ValueError(f"{where} cannot be used: {exc.strerror or exc}") from None


def client_tls(conf: cfg.ConfigOpts, provider: str | None = None) -> ClientTLS:
    """``[keystone]``'s TLS options (``provider`` None: the home cloud's), or a provider's,
    each unset one taken from ``[keystone]`` (the client certificate and its key together)."""
    home = conf.keystone
    tls = ClientTLS(home.cafile, home.certfile, home.keyfile, bool(home.insecure))
    where = "[keystone]"
    if provider is not None and f"provider:{provider}" in conf:
        group, where = conf[f"provider:{provider}"], f"[provider:{provider}]"
        tls = ClientTLS(group.cafile or tls.cafile,
                        group.certfile or tls.certfile,
                        group.keyfile if group.certfile else tls.keyfile,
                        tls.insecure if group.insecure is None else group.insecure)
        if group.keyfile and not group.certfile:
            raise ValueError(f"{where}: keyfile needs certfile")
    if tls.keyfile and not tls.certfile:
        raise ValueError(f"{where}: keyfile needs certfile")
    return tls


def server_tls(conf: cfg.ConfigOpts) -> tuple[str, str | None, str | None] | None:
    """``[ssl]``: (cert_file, key_file, ca_file), or None when OCX serves plain HTTP."""
    group = conf.ssl
    if not group.cert_file:
        if group.key_file or group.ca_file:
            raise ValueError("[ssl]: key_file and ca_file need cert_file")
        return None
    return group.cert_file, group.key_file, group.ca_file
