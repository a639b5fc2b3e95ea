"""detection pipeline: per-visit detection outcome, per-preset detector
parameters, per-camera detection counters

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patrol_visits") as batch:
        batch.add_column(sa.Column("detection_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("detection_note", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("detections", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("presets") as batch:
        batch.add_column(sa.Column("detector_params", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("camera_runtime") as batch:
        batch.add_column(sa.Column("stops_detected", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("stops_dropped", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("stops_failed", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("camera_runtime") as batch:
        batch.drop_column("stops_failed")
        batch.drop_column("stops_dropped")
        batch.drop_column("stops_detected")
    with op.batch_alter_table("presets") as batch:
        batch.drop_column("detector_params")
    with op.batch_alter_table("patrol_visits") as batch:
        batch.drop_column("detections")
        batch.drop_column("detection_note")
        batch.drop_column("detection_status")
