"""the reason for a check-in made far from the event

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("order_participants") as batch:
        batch.add_column(sa.Column("arrive_far_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_participants") as batch:
        batch.drop_column("arrive_far_reason")
