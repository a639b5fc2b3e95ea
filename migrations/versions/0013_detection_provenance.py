"""detection provenance on alerts; per-preset detector thresholds

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("detector", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("visit_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("location_method", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("located_by", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("uncertainty", sa.JSON(), nullable=True))
        batch.create_foreign_key(op.f("fk_alerts_visit_id_patrol_visits"), "patrol_visits",
                                 ["visit_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_alerts_detector_status", "alerts", ["detector", "status", "created_at"])
    with op.batch_alter_table("presets") as batch:
        batch.add_column(sa.Column("thresholds", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("presets") as batch:
        batch.drop_column("thresholds")
    op.drop_index("ix_alerts_detector_status", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint(op.f("fk_alerts_visit_id_patrol_visits"), type_="foreignkey")
        batch.drop_column("uncertainty")
        batch.drop_column("located_by")
        batch.drop_column("location_method")
        batch.drop_column("visit_id")
        batch.drop_column("detector")
