"""Spanning networks (issue 7): VNIs handed out, each cloud's twin, subnets and their pools.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spanning_networks",
        sa.Column("vni", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("network_id", sa.String(64), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("template", sa.JSON, nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("vni"),
        sa.UniqueConstraint("network_id", name="uq_spanning_networks_network_id"),
    )
    op.create_index("ix_spanning_networks_project_id", "spanning_networks", ["project_id"])
    op.create_table(
        "spanning_twins",
        sa.Column("network_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("twin_id", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("network_id", "provider"),
        sa.UniqueConstraint("twin_id", name="uq_spanning_twins_twin_id"),
    )
    op.create_table(
        "spanning_subnets",
        sa.Column("subnet_id", sa.String(64), nullable=False),
        sa.Column("network_id", sa.String(64), nullable=False),
        sa.Column("template", sa.JSON, nullable=False),
        sa.Column("pools", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("subnet_id"),
    )
    op.create_index("ix_spanning_subnets_network_id", "spanning_subnets", ["network_id"])
    op.create_table(
        "spanning_subnet_twins",
        sa.Column("subnet_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("twin_subnet_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("subnet_id", "provider"),
        sa.UniqueConstraint("twin_subnet_id", name="uq_spanning_subnet_twins_twin_subnet_id"),
    )


def downgrade() -> None:
    op.drop_table("spanning_subnet_twins")
    op.drop_table("spanning_subnets")
    op.drop_table("spanning_twins")
    op.drop_index("ix_spanning_networks_project_id", "spanning_networks")
    op.drop_table("spanning_networks")
