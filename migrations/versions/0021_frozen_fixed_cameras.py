"""frozen-frame detection on fixed cameras: when the run of identical frames
began, and the picture's pixel fingerprint

Revision ID: 0021
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

from webapp.models._common import UTCDateTime

revision = "0021"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("camera_runtime") as batch:
        batch.add_column(sa.Column("same_frame_since", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_pixel_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("camera_runtime") as batch:
        batch.drop_column("last_pixel_digest")
        batch.drop_column("same_frame_since")
