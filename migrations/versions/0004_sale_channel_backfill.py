"""data: every sale made before sale.channel existed was made on the web

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
breaking = False  # rows only: the running release does not read the column
destructive = True  # the downgrade clears every channel, those written since too
intended = set()


def upgrade():
    op.execute("UPDATE sale SET channel = 'web' WHERE channel IS NULL")


def downgrade():
    op.execute("UPDATE sale SET channel = NULL")
