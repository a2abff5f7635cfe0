"""sale.channel: where a sale was made (expand: nullable, instant)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
breaking = False  # a nullable column: the running release neither reads nor writes it
destructive = True  # the downgrade drops the column and what it holds
intended = set()


def upgrade():
    # Instant in MariaDB 10.3+ and MySQL 8.0: no table copy, no lock on a big sales table.
    op.execute("ALTER TABLE sale ADD COLUMN channel VARCHAR(16) NULL, ALGORITHM=INSTANT, LOCK=NONE")


def downgrade():
    op.execute("ALTER TABLE sale DROP COLUMN channel, ALGORITHM=INSTANT, LOCK=NONE")
