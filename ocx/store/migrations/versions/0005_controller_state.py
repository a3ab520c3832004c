"""A controller landlord's networks, subnets, ports, routers and consistency hashes (issue 10).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "controller_networks",
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("network_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        _when(),
        sa.PrimaryKeyConstraint("provider", "network_id"),
    )
    op.create_table(
        "controller_subnets",
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("subnet_id", sa.String(64), nullable=False),
        sa.Column("network_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        _when(),
        sa.PrimaryKeyConstraint("provider", "subnet_id"),
    )
    op.create_index("ix_controller_subnets_network", "controller_subnets",
                    ["provider", "network_id"])
    op.create_table(
        "controller_ports",
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("port_id", sa.String(64), nullable=False),
        sa.Column("network_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("mac_address", sa.String(32), nullable=False),
        sa.Column("attachment", sa.String(255), nullable=True),
        sa.Column("body", sa.JSON, nullable=False),
        _when(),
        sa.PrimaryKeyConstraint("provider", "port_id"),
        sa.UniqueConstraint("provider", "network_id", "mac_address",
                            name="uq_controller_ports_mac"),
    )
    op.create_index("ix_controller_ports_network", "controller_ports",
                    ["provider", "network_id"])
    op.create_index("ix_controller_ports_attachment", "controller_ports",
                    ["provider", "attachment"])
    op.create_table(
        "controller_routers",
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("router_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        _when(),
        sa.PrimaryKeyConstraint("provider", "router_id"),
    )
    op.create_table(
        "controller_router_interfaces",
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("router_id", sa.String(64), nullable=False),
        sa.Column("subnet_id", sa.String(64), nullable=False),
        sa.Column("port_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("provider", "router_id", "subnet_id"),
        sa.UniqueConstraint("provider", "port_id", name="uq_controller_router_interfaces_port"),
    )
    op.create_index("ix_controller_router_interfaces_subnet", "controller_router_interfaces",
                    ["provider", "subnet_id"])
    op.create_table(
        "controller_hashes",
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("server", sa.String(300), nullable=False),
        sa.Column("hash", sa.String(255), nullable=False),
        _when(),
        sa.PrimaryKeyConstraint("provider", "server"),
    )


def downgrade() -> None:
    op.drop_table("controller_hashes")
    op.drop_index("ix_controller_router_interfaces_subnet",
                  table_name="controller_router_interfaces")
    op.drop_table("controller_router_interfaces")
    op.drop_table("controller_routers")
    op.drop_index("ix_controller_ports_attachment", table_name="controller_ports")
    op.drop_index("ix_controller_ports_network", table_name="controller_ports")
    op.drop_table("controller_ports")
    op.drop_index("ix_controller_subnets_network", table_name="controller_subnets")
    op.drop_table("controller_subnets")
    op.drop_table("controller_networks")
