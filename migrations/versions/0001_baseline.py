"""baseline: sale, sale_item, stock_move (seed 001's sample schema)

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
breaking = False  # the app needs maintenance mode while it runs
destructive = True  # its downgrade loses data
intended = set()  # risky DDL (stack/ddl.py) this revision means to do


def upgrade():
    op.create_table(
        "sale",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        mysql_engine="InnoDB", mysql_charset="utf8mb4",
    )
    op.create_table(
        "sale_item",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("sale_id", sa.BigInteger, sa.ForeignKey("sale.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        mysql_engine="InnoDB", mysql_charset="utf8mb4",
    )
    op.create_table(
        "stock_move",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("sku", sa.String(64), nullable=False, index=True),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
        mysql_engine="InnoDB", mysql_charset="utf8mb4",
    )


def downgrade():
    op.drop_table("stock_move")
    op.drop_table("sale_item")
    op.drop_table("sale")
