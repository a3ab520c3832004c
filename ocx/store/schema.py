"""The tables, as SQLAlchemy Core sees them. The migrations in ``migrations/versions`` make
them; a test checks that the two agree.

Keys are the look-ups: a token mapping by (local token hash, local project, provider), a
resource mapping by (resource type, resource id). The other indexes serve the operator's
listings and deletes by provider, and the purge of expired token mappings.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL keeps a ``timestamp with time zone``; SQLite has no time zones, so the value is
    stored as naive UTC (its text form then sorts and compares in time order).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


token_mappings = sa.Table(
    "token_mappings", metadata,
    sa.Column("local_token_hash", sa.String(64), primary_key=True),
    sa.Column("local_project", sa.String(255), primary_key=True),
    sa.Column("provider", sa.String(255), primary_key=True),
    # Fernet ciphertext (url-safe base64) of the remote token; never the clear token.
    sa.Column("remote_token_enc", sa.Text, nullable=False),
    sa.Column("remote_project", sa.String(255), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("catalog", sa.JSON, nullable=False),
    sa.Index("ix_token_mappings_provider", "provider"),
    sa.Index("ix_token_mappings_expires_at", "expires_at"),
)

resource_mappings = sa.Table(
    "resource_mappings", metadata,
    sa.Column("resource_type", sa.String(64), primary_key=True),
    sa.Column("resource_id", sa.String(255), primary_key=True),
    sa.Column("provider", sa.String(255), nullable=False),
    sa.Column("remote_project", sa.String(255), nullable=True),
    sa.Column("endpoint", sa.Text, nullable=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_resource_mappings_provider", "provider"),
)

# -- spanning networks (issue 7): one network in several clouds ---------------------------------

# One row per VNI ever handed out. The row stays after its network is deleted (``deleted_at``),
# so that the VNI is never handed out again; only a create the cloud refused gives it back.
spanning_networks = sa.Table(
    "spanning_networks", metadata,
    sa.Column("vni", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("network_id", sa.String(64), nullable=True),   # set once the cloud made it
    sa.Column("project_id", sa.String(255), nullable=False),  # the caller's (home) project
    sa.Column("origin", sa.String(255), nullable=False),     # the provider it was made in
    sa.Column("template", sa.JSON, nullable=False),          # what its twins copy
    sa.Column("allocated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("network_id", name="uq_spanning_networks_network_id"),
    sa.Index("ix_spanning_networks_project_id", "project_id"),
)

# The network of a spanning network in each provider (the origin's is the spanning network
# itself). A row without ``twin_id`` is a claim: the twin is being made (by ``claimed_at``).
spanning_twins = sa.Table(
    "spanning_twins", metadata,
    sa.Column("network_id", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("twin_id", sa.String(64), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("twin_id", name="uq_spanning_twins_twin_id"),
)

# A subnet of a spanning network (its id is the origin's subnet's) and each provider's pools.
spanning_subnets = sa.Table(
    "spanning_subnets", metadata,
    sa.Column("subnet_id", sa.String(64), primary_key=True),
    sa.Column("network_id", sa.String(64), nullable=False),
    sa.Column("template", sa.JSON, nullable=False),   # what its twins copy (CIDR, gateway...)
    sa.Column("pools", sa.JSON, nullable=False),      # provider → its allocation pools
    sa.Index("ix_spanning_subnets_network_id", "network_id"),
)

# The twin of a spanning subnet in each provider other than the origin.
spanning_subnet_twins = sa.Table(
    "spanning_subnet_twins", metadata,
    sa.Column("subnet_id", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("twin_subnet_id", sa.String(64), nullable=False),
    sa.UniqueConstraint("twin_subnet_id", name="uq_spanning_subnet_twins_twin_subnet_id"),
)

# -- the providers each local project uses (issue 8) --------------------------------------------

# One row per (local project, provider) OCX has credited the project at: the remote project
# there (null: the provider holds nothing of the project) and when that was last seen.
project_providers = sa.Table(
    "project_providers", metadata,
    sa.Column("local_project", sa.String(255), primary_key=True),
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("remote_project", sa.String(255), nullable=True),
    sa.Column("local_project_name", sa.String(255), nullable=True),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

# -- the last notification heard about each resource (issue 8) ---------------------------------

# A notification changes a mapping only when it is newer (its own timestamp; a delete wins a
# tie) than the last one applied to that resource (ocx/store/notified.py); a delete leaves its
# row as a tombstone, so that a create delivered after it changes nothing. Rows older than the
# retention are purged.
resource_events = sa.Table(
    "resource_events", metadata,
    sa.Column("resource_type", sa.String(64), primary_key=True),
    sa.Column("resource_id", sa.String(255), primary_key=True),
    sa.Column("provider", sa.String(255), nullable=False),   # whose broker delivered it
    sa.Column("remote_project", sa.String(255), nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("event_at", UTCDateTime, nullable=False),      # the notification's timestamp
    sa.Index("ix_resource_events_event_at", "event_at"),
)

# -- a controller landlord's networking (issue 10) ---------------------------------------------

# What OCX has made on a controller provider's SDN controllers, kept so that reads are answered
# without them and a controller can be given the whole state again (ocx/store/controller.py).
# Every row is keyed by the provider first; ``body`` is the resource as OCX's Neutron API shows
# it, the other columns are what look-ups and uniqueness need.
controller_networks = sa.Table(
    "controller_networks", metadata,
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("network_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

controller_subnets = sa.Table(
    "controller_subnets", metadata,
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("subnet_id", sa.String(64), primary_key=True),
    sa.Column("network_id", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_controller_subnets_network", "provider", "network_id"),
)

# A port's MAC is unique on its network; ``attachment`` is the device plugged into it (Neutron's
# device_id: one device may have several ports).
controller_ports = sa.Table(
    "controller_ports", metadata,
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("port_id", sa.String(64), primary_key=True),
    sa.Column("network_id", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("mac_address", sa.String(32), nullable=False),
    sa.Column("attachment", sa.String(255), nullable=True),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("provider", "network_id", "mac_address",
                        name="uq_controller_ports_mac"),
    sa.Index("ix_controller_ports_network", "provider", "network_id"),
    sa.Index("ix_controller_ports_attachment", "provider", "attachment"),
)

controller_routers = sa.Table(
    "controller_routers", metadata,
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("router_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# A router has at most one interface on a subnet; a port is at most one router's interface.
controller_router_interfaces = sa.Table(
    "controller_router_interfaces", metadata,
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("router_id", sa.String(64), primary_key=True),
    sa.Column("subnet_id", sa.String(64), primary_key=True),
    sa.Column("port_id", sa.String(64), nullable=False),
    sa.UniqueConstraint("provider", "port_id", name="uq_controller_router_interfaces_port"),
    sa.Index("ix_controller_router_interfaces_subnet", "provider", "subnet_id"),
)

# The last consistency hash each controller gave (sent back with every call; a controller
# whose state no longer matches answers 409 and is synchronised).
controller_hashes = sa.Table(
    "controller_hashes", metadata,
    sa.Column("provider", sa.String(255), primary_key=True),
    sa.Column("server", sa.String(300), primary_key=True),
    sa.Column("hash", sa.String(255), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# -- Group-Based Policy (issue 11) ---------------------------------------------------------------

# GBP's resources as OCX's /policy API shows them (ocx/store/policy.py). Lists that are part
# of a resource (an L3 policy's routers, a spec's nodes in order) are JSON; relations that are
# looked up (a group's proxy, a group's subnets) are rows of their own.
gp_l3_policies = sa.Table(
    "gp_l3_policies", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("ip_version", sa.Integer, nullable=False),
    sa.Column("ip_pool", sa.String(64), nullable=False),
    sa.Column("subnet_prefix_length", sa.Integer, nullable=False),
    sa.Column("routers", sa.JSON, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("provider", sa.String(255), nullable=False),   # the OCX provider it renders on
    sa.Column("implicit", sa.Boolean, nullable=False),       # made by the implicit policy
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_gp_l3_policies_tenant_id", "tenant_id"),
)

# The seed's ProxyIPPoolMapping: where an L3 policy's L3 proxies take their subnets from.
gp_proxy_ip_pool_mapping = sa.Table(
    "gp_proxy_ip_pool_mapping", metadata,
    sa.Column("l3_policy_id", sa.String(36), primary_key=True),
    sa.Column("proxy_ip_pool", sa.String(64), nullable=False),
    sa.Column("proxy_subnet_prefix_length", sa.Integer, nullable=False),
)

gp_l2_policies = sa.Table(
    "gp_l2_policies", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("l3_policy_id", sa.String(36), nullable=False),
    sa.Column("network_id", sa.String(36), nullable=True),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("implicit", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_gp_l2_policies_tenant_id", "tenant_id"),
    sa.Index("ix_gp_l2_policies_l3_policy_id", "l3_policy_id"),
)

gp_policy_target_groups = sa.Table(
    "gp_policy_target_groups", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("l2_policy_id", sa.String(36), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("service_management", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_gp_policy_target_groups_tenant_id", "tenant_id"),
    sa.Index("ix_gp_policy_target_groups_l2_policy_id", "l2_policy_id"),
)

# The seed's GroupProxyMapping, one row per group. Both links are unique: a group has at most
# one proxy and a proxy proxies one group, so the database itself keeps the chain a list.
gp_group_proxy_mappings = sa.Table(
    "gp_group_proxy_mappings", metadata,
    sa.Column("policy_target_group_id", sa.String(36), primary_key=True),
    sa.Column("proxied_group_id", sa.String(36), nullable=True),
    sa.Column("proxy_group_id", sa.String(36), nullable=True),
    sa.Column("proxy_type", sa.String(2), nullable=True),     # l2 | l3
    sa.UniqueConstraint("proxied_group_id", name="uq_gp_group_proxy_mappings_proxied"),
    sa.UniqueConstraint("proxy_group_id", name="uq_gp_group_proxy_mappings_proxy"),
)

# A group's Neutron subnets, in order, with their CIDRs (what pool allocation looks at);
# ``allocated``: taken from the L3 policy's ip_pool or proxy_ip_pool.
gp_ptg_subnets = sa.Table(
    "gp_ptg_subnets", metadata,
    sa.Column("subnet_id", sa.String(36), primary_key=True),
    sa.Column("policy_target_group_id", sa.String(36), nullable=False),
    sa.Column("l3_policy_id", sa.String(36), nullable=False),
    sa.Column("cidr", sa.String(64), nullable=False),
    sa.Column("allocated", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Index("ix_gp_ptg_subnets_group", "policy_target_group_id"),
    sa.Index("ix_gp_ptg_subnets_l3_policy", "l3_policy_id"),
)

gp_policy_targets = sa.Table(
    "gp_policy_targets", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("policy_target_group_id", sa.String(36), nullable=False),
    sa.Column("port_id", sa.String(36), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_gp_policy_targets_tenant_id", "tenant_id"),
    sa.Index("ix_gp_policy_targets_group", "policy_target_group_id"),
)

# The seed's ProxyGatewayMapping.
gp_proxy_gateway_mappings = sa.Table(
    "gp_proxy_gateway_mappings", metadata,
    sa.Column("policy_target_id", sa.String(36), primary_key=True),
    sa.Column("proxy_gateway", sa.Boolean, nullable=False),
    sa.Column("group_default_gateway", sa.Boolean, nullable=False),
)

# Neutron resources OCX made for GBP (GBP's gpm_owned_*): only these are deleted with them.
gp_owned_resources = sa.Table(
    "gp_owned_resources", metadata,
    sa.Column("resource_type", sa.String(16), primary_key=True),   # router|network|subnet|port
    sa.Column("resource_id", sa.String(64), primary_key=True),
)

sc_nodes = sa.Table(
    "sc_nodes", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("service_type", sa.String(255), nullable=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_sc_nodes_tenant_id", "tenant_id"),
)

sc_specs = sa.Table(
    "sc_specs", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("nodes", sa.JSON, nullable=False),          # node ids, consumer side last
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_sc_specs_tenant_id", "tenant_id"),
)

sc_instances = sa.Table(
    "sc_instances", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("servicechain_specs", sa.JSON, nullable=False),
    sa.Column("provider_ptg_id", sa.String(36), nullable=True),
    sa.Column("consumer_ptg_id", sa.String(255), nullable=True),
    sa.Column("management_ptg_id", sa.String(36), nullable=True),
    sa.Column("classifier_id", sa.String(36), nullable=True),
    sa.Column("config_param_values", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_sc_instances_tenant_id", "tenant_id"),
)

# What the traffic stitching plumber made for an instance: the service targets (policy targets
# flagged for a node) and the groups (proxies and a management group), deleted with it.
sc_service_targets = sa.Table(
    "sc_service_targets", metadata,
    sa.Column("policy_target_id", sa.String(36), primary_key=True),
    sa.Column("servicechain_instance_id", sa.String(36), nullable=False),
    sa.Column("servicechain_node_id", sa.String(36), nullable=False),
    sa.Column("relationship", sa.String(16), nullable=False),   # provider|consumer|management
    sa.Column("position", sa.Integer, nullable=False),
    sa.Index("ix_sc_service_targets_instance", "servicechain_instance_id"),
)

sc_plumbed_groups = sa.Table(
    "sc_plumbed_groups", metadata,
    sa.Column("policy_target_group_id", sa.String(36), primary_key=True),
    sa.Column("servicechain_instance_id", sa.String(36), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),           # proxy | management
    sa.Column("sequence", sa.Integer, nullable=False),          # the order they were made in
    sa.Index("ix_sc_plumbed_groups_instance", "servicechain_instance_id"),
)
