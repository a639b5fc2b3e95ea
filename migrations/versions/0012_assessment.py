"""assessment: rules versions, closed periods, adjustments

Revision ID: 0012
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_assessment_rules_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_rules")),
        sa.UniqueConstraint("version", name=op.f("uq_assessment_rules_version")),
    )
    op.create_table(
        "assessment_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["closed_by_id"], ["users.id"], name=op.f("fk_assessment_periods_closed_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_periods")),
        sa.UniqueConstraint("period", name=op.f("uq_assessment_periods_period")),
    )
    op.create_table(
        "assessment_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_assessment_adjustments_unit_id_units")),
        sa.ForeignKeyConstraint(["order_id"], ["work_orders.id"], name=op.f("fk_assessment_adjustments_order_id_work_orders")),
        sa.ForeignKeyConstraint(["approved_by_id"], ["users.id"], name=op.f("fk_assessment_adjustments_approved_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_adjustments")),
    )
    op.create_index(op.f("ix_assessment_adjustments_period"), "assessment_adjustments", ["period"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assessment_adjustments_period"), table_name="assessment_adjustments")
    op.drop_table("assessment_adjustments")
    op.drop_table("assessment_periods")
    op.drop_table("assessment_rules")
