"""Group-Based Policy (issue 11): L3/L2 policies, groups, targets, the PROXY_GROUP tables of
seed 001, service chain nodes, specs and instances, and what the plumber made for them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def _named() -> list[sa.Column]:
    return [sa.Column("id", sa.String(36), nullable=False),
            sa.Column("tenant_id", sa.String(255), nullable=False),
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("description", sa.String(255), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "gp_l3_policies", *_named(),
        sa.Column("ip_version", sa.Integer, nullable=False),
        sa.Column("ip_pool", sa.String(64), nullable=False),
        sa.Column("subnet_prefix_length", sa.Integer, nullable=False),
        sa.Column("routers", sa.JSON, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("implicit", sa.Boolean, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gp_l3_policies_tenant_id", "gp_l3_policies", ["tenant_id"])
    op.create_table(
        "gp_proxy_ip_pool_mapping",
        sa.Column("l3_policy_id", sa.String(36), nullable=False),
        sa.Column("proxy_ip_pool", sa.String(64), nullable=False),
        sa.Column("proxy_subnet_prefix_length", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("l3_policy_id"),
    )
    op.create_table(
        "gp_l2_policies", *_named(),
        sa.Column("l3_policy_id", sa.String(36), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=True),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("implicit", sa.Boolean, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gp_l2_policies_tenant_id", "gp_l2_policies", ["tenant_id"])
    op.create_index("ix_gp_l2_policies_l3_policy_id", "gp_l2_policies", ["l3_policy_id"])
    op.create_table(
        "gp_policy_target_groups", *_named(),
        sa.Column("l2_policy_id", sa.String(36), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("service_management", sa.Boolean, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gp_policy_target_groups_tenant_id", "gp_policy_target_groups",
                    ["tenant_id"])
    op.create_index("ix_gp_policy_target_groups_l2_policy_id", "gp_policy_target_groups",
                    ["l2_policy_id"])
    op.create_table(
        "gp_group_proxy_mappings",
        sa.Column("policy_target_group_id", sa.String(36), nullable=False),
        sa.Column("proxied_group_id", sa.String(36), nullable=True),
        sa.Column("proxy_group_id", sa.String(36), nullable=True),
        sa.Column("proxy_type", sa.String(2), nullable=True),
        sa.PrimaryKeyConstraint("policy_target_group_id"),
        sa.UniqueConstraint("proxied_group_id", name="uq_gp_group_proxy_mappings_proxied"),
        sa.UniqueConstraint("proxy_group_id", name="uq_gp_group_proxy_mappings_proxy"),
    )
    op.create_table(
        "gp_ptg_subnets",
        sa.Column("subnet_id", sa.String(36), nullable=False),
        sa.Column("policy_target_group_id", sa.String(36), nullable=False),
        sa.Column("l3_policy_id", sa.String(36), nullable=False),
        sa.Column("cidr", sa.String(64), nullable=False),
        sa.Column("allocated", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("subnet_id"),
    )
    op.create_index("ix_gp_ptg_subnets_group", "gp_ptg_subnets", ["policy_target_group_id"])
    op.create_index("ix_gp_ptg_subnets_l3_policy", "gp_ptg_subnets", ["l3_policy_id"])
    op.create_table(
        "gp_policy_targets", *_named(),
        sa.Column("policy_target_group_id", sa.String(36), nullable=False),
        sa.Column("port_id", sa.String(36), nullable=True),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gp_policy_targets_tenant_id", "gp_policy_targets", ["tenant_id"])
    op.create_index("ix_gp_policy_targets_group", "gp_policy_targets",
                    ["policy_target_group_id"])
    op.create_table(
        "gp_proxy_gateway_mappings",
        sa.Column("policy_target_id", sa.String(36), nullable=False),
        sa.Column("proxy_gateway", sa.Boolean, nullable=False),
        sa.Column("group_default_gateway", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("policy_target_id"),
    )
    op.create_table(
        "gp_owned_resources",
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id"),
    )
    op.create_table(
        "sc_nodes", *_named(),
        sa.Column("service_type", sa.String(255), nullable=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sc_nodes_tenant_id", "sc_nodes", ["tenant_id"])
    op.create_table(
        "sc_specs", *_named(),
        sa.Column("nodes", sa.JSON, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sc_specs_tenant_id", "sc_specs", ["tenant_id"])
    op.create_table(
        "sc_instances", *_named(),
        sa.Column("servicechain_specs", sa.JSON, nullable=False),
        sa.Column("provider_ptg_id", sa.String(36), nullable=True),
        sa.Column("consumer_ptg_id", sa.String(255), nullable=True),
        sa.Column("management_ptg_id", sa.String(36), nullable=True),
        sa.Column("classifier_id", sa.String(36), nullable=True),
        sa.Column("config_param_values", sa.Text, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sc_instances_tenant_id", "sc_instances", ["tenant_id"])
    op.create_table(
        "sc_service_targets",
        sa.Column("policy_target_id", sa.String(36), nullable=False),
        sa.Column("servicechain_instance_id", sa.String(36), nullable=False),
        sa.Column("servicechain_node_id", sa.String(36), nullable=False),
        sa.Column("relationship", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("policy_target_id"),
    )
    op.create_index("ix_sc_service_targets_instance", "sc_service_targets",
                    ["servicechain_instance_id"])
    op.create_table(
        "sc_plumbed_groups",
        sa.Column("policy_target_group_id", sa.String(36), nullable=False),
        sa.Column("servicechain_instance_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("policy_target_group_id"),
    )
    op.create_index("ix_sc_plumbed_groups_instance", "sc_plumbed_groups",
                    ["servicechain_instance_id"])


def downgrade() -> None:
    for index, table in (("ix_sc_plumbed_groups_instance", "sc_plumbed_groups"),
                         ("ix_sc_service_targets_instance", "sc_service_targets"),
                         ("ix_sc_instances_tenant_id", "sc_instances"),
                         ("ix_sc_specs_tenant_id", "sc_specs"),
                         ("ix_sc_nodes_tenant_id", "sc_nodes")):
        op.drop_index(index, table_name=table)
        op.drop_table(table)
    op.drop_table("gp_owned_resources")
    op.drop_table("gp_proxy_gateway_mappings")
    op.drop_index("ix_gp_policy_targets_group", table_name="gp_policy_targets")
    op.drop_index("ix_gp_policy_targets_tenant_id", table_name="gp_policy_targets")
    op.drop_table("gp_policy_targets")
    op.drop_index("ix_gp_ptg_subnets_l3_policy", table_name="gp_ptg_subnets")
    op.drop_index("ix_gp_ptg_subnets_group", table_name="gp_ptg_subnets")
    op.drop_table("gp_ptg_subnets")
    op.drop_table("gp_group_proxy_mappings")
    op.drop_index("ix_gp_policy_target_groups_l2_policy_id", table_name="gp_policy_target_groups")
    op.drop_index("ix_gp_policy_target_groups_tenant_id", table_name="gp_policy_target_groups")
    op.drop_table("gp_policy_target_groups")
    op.drop_index("ix_gp_l2_policies_l3_policy_id", table_name="gp_l2_policies")
    op.drop_index("ix_gp_l2_policies_tenant_id", table_name="gp_l2_policies")
    op.drop_table("gp_l2_policies")
    op.drop_table("gp_proxy_ip_pool_mapping")
    op.drop_index("ix_gp_l3_policies_tenant_id", table_name="gp_l3_policies")
    op.drop_table("gp_l3_policies")
