"""console: indexes that keep the duty console's queue fast with many alerts

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_alerts_created_at", ["created_at"]),
    ("ix_alerts_status_review_due", ["status", "review_due_at"]),
    ("ix_alerts_domain_created", ["domain", "created_at"]),
    ("ix_alerts_camera_created", ["camera_id", "created_at"]),
    ("ix_alerts_source_created", ["source", "created_at"]),
    # Counts per status under a filter are read from these alone.
    ("ix_alerts_domain_status", ["domain", "status", "created_at"]),
    ("ix_alerts_township_status", ["township_id", "status", "created_at"]),
    ("ix_alerts_camera_status", ["camera_id", "status", "created_at"]),
    ("ix_alerts_source_status", ["source", "status", "created_at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name, _columns in reversed(INDEXES):
            batch_op.drop_index(name)
