"""unit contacts: the person and phone the duty office calls about a unit's orders

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("units") as batch:
        batch.add_column(sa.Column("contact_name", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("units") as batch:
        batch.drop_column("contact_phone")
        batch.drop_column("contact_name")
