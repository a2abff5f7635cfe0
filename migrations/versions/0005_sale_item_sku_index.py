"""sale_item: an index on sku (per-product reports), price widened to DECIMAL(14,2)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from online import alter

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
breaking = False  # the running release reads price as a decimal either way
destructive = True  # the downgrade narrows price back: a value past 12 digits would be clipped
intended = set()
# sale_item is the biggest table: both ways rebuild it, so both run online
# (pt-online-schema-change, throttled on the replica's lag; migrations/online.py).
online = True


def upgrade():
    alter("sale_item", "ADD INDEX ix_sale_item_sku (sku), MODIFY price DECIMAL(14, 2) NOT NULL")


def downgrade():
    alter("sale_item", "DROP INDEX ix_sale_item_sku, MODIFY price DECIMAL(12, 2) NOT NULL")
