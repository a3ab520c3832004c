"""The providers each local project uses (issue 8): its remote project at each, last seen.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_providers",
        sa.Column("local_project", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("remote_project", sa.String(255), nullable=True),
        sa.Column("local_project_name", sa.String(255), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("local_project", "provider"),
    )


def downgrade() -> None:
    op.drop_table("project_providers")
