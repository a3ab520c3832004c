"""Token mappings and resource mappings (seed 000, primitives 1 and 2).

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_mappings",
        sa.Column("local_token_hash", sa.String(64), nullable=False),
        sa.Column("local_project", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("remote_token_enc", sa.Text, nullable=False),
        sa.Column("remote_project", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("catalog", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("local_token_hash", "local_project", "provider"),
    )
    op.create_index("ix_token_mappings_provider", "token_mappings", ["provider"])
    op.create_index("ix_token_mappings_expires_at", "token_mappings", ["expires_at"])
    op.create_table(
        "resource_mappings",
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("remote_project", sa.String(255), nullable=True),
        sa.Column("endpoint", sa.Text, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id"),
    )
    op.create_index("ix_resource_mappings_provider", "resource_mappings", ["provider"])


def downgrade() -> None:
    op.drop_table("resource_mappings")
    op.drop_table("token_mappings")
