"""ops tables: deployment_record, backup_record, audit_log (seed 001)

Written by the ops flows (migrations, rollbacks, backups), read by people.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
breaking = False  # new tables: the running release never sees them
destructive = True  # the downgrade drops them, and their rows
intended = set()


def upgrade():
    op.create_table(
        "deployment_record",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),  # migrate | rollback | deploy
        sa.Column("release_id", sa.String(64), nullable=True),
        sa.Column("from_revision", sa.String(32), nullable=True),
        sa.Column("to_revision", sa.String(32), nullable=True),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("duration_s", sa.Numeric(10, 1), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        mysql_engine="InnoDB", mysql_charset="utf8mb4",
    )
    op.create_table(
        "backup_record",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("backup_id", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("s3_key", sa.String(512), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        mysql_engine="InnoDB", mysql_charset="utf8mb4",
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        mysql_engine="InnoDB", mysql_charset="utf8mb4",
    )


def downgrade():
    op.drop_table("audit_log")
    op.drop_table("backup_record")
    op.drop_table("deployment_record")
