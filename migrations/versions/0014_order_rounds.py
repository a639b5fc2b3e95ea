"""per-participant rounds of work orders (rework, reopen, re-dispatch keep earlier rounds)

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

STAGE_COLUMNS = ("accept_due_at", "arrive_due_at", "feedback_due_at", "accepted_at", "accept_on_time",
                 "arrived_at", "arrive_on_time", "feedback_at", "feedback_on_time", "overdue")


def upgrade() -> None:
    op.create_table(
        "order_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accept_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrive_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accept_on_time", sa.Boolean(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrive_on_time", sa.Boolean(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback_on_time", sa.Boolean(), nullable=True),
        sa.Column("overdue", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["work_orders.id"], name=op.f("fk_order_rounds_order_id_work_orders"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["participant_id"], ["order_participants.id"],
                                name=op.f("fk_order_rounds_participant_id_order_participants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_rounds")),
    )
    with op.batch_alter_table("order_rounds") as batch:
        batch.create_index(batch.f("ix_order_rounds_order_id"), ["order_id"], unique=False)
        batch.create_index(batch.f("ix_order_rounds_started_at"), ["started_at"], unique=False)
        batch.create_index("ix_order_rounds_participant_number", ["participant_id", "number"], unique=True)
    with op.batch_alter_table("order_participants") as batch:
        batch.add_column(sa.Column("round_number", sa.Integer(), nullable=False, server_default="1"))
        batch.create_index(batch.f("ix_order_participants_assigned_at"), ["assigned_at"], unique=False)
    # Every existing participant record becomes its round 1, as it stands.
    columns = ", ".join(STAGE_COLUMNS)
    op.execute(
        "INSERT INTO order_rounds (order_id, participant_id, number, reason, started_at, " + columns + ") "
        "SELECT p.order_id, p.id, 1, CASE WHEN p.role = 'forwarded' THEN 'forward' ELSE 'dispatch' END, "
        "COALESCE(p.assigned_at, w.dispatched_at, w.created_at), "
        + ", ".join(f"p.{c}" for c in STAGE_COLUMNS) + " "
        "FROM order_participants p JOIN work_orders w ON w.id = p.order_id")


def downgrade() -> None:
    with op.batch_alter_table("order_participants") as batch:
        batch.drop_index(batch.f("ix_order_participants_assigned_at"))
        batch.drop_column("round_number")
    with op.batch_alter_table("order_rounds") as batch:
        batch.drop_index("ix_order_rounds_participant_number")
        batch.drop_index(batch.f("ix_order_rounds_started_at"))
        batch.drop_index(batch.f("ix_order_rounds_order_id"))
    op.drop_table("order_rounds")
