"""intake: idempotency of joined sightings, parcel change counter for GIS cache invalidation

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A retried event that joined an open alert must never add a second sighting.
    with op.batch_alter_table("alert_occurrences", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_alert_occurrences_source"), ["source", "source_event_id"])
    # Bumped on every update so a process can tell its cached spatial index is stale.
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(batch_op.f("ix_parcels_revision"), ["revision"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parcels_revision"))
        batch_op.drop_column("revision")
    with op.batch_alter_table("alert_occurrences", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_alert_occurrences_source"), type_="unique")
