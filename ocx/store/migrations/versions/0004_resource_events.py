"""The last notification applied to each resource, deletes kept as tombstones (issue 8).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_events",
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("remote_project", sa.String(255), nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id"),
    )
    op.create_index("ix_resource_events_event_at", "resource_events", ["event_at"])


def downgrade() -> None:
    op.drop_index("ix_resource_events_event_at", table_name="resource_events")
    op.drop_table("resource_events")
