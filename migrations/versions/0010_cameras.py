"""cameras: runtime (lease, controller, health), patrol tours/visits/frames, health events,
clips, checkpoint passages, preset reference image

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-29 19:06:46.627895
"""
from alembic import op
import sqlalchemy as sa

from webapp.models._common import UTCDateTime


revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('camera_runtime',
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('lease_holder', sa.String(length=120), nullable=True),
    sa.Column('lease_expires_at', UTCDateTime(), nullable=True),
    sa.Column('controller_id', sa.Integer(), nullable=True),
    sa.Column('control_since', UTCDateTime(), nullable=True),
    sa.Column('control_last_at', UTCDateTime(), nullable=True),
    sa.Column('tour_id', sa.Integer(), nullable=True),
    sa.Column('tour_index', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('last_frame_sha', sa.String(length=64), nullable=True),
    sa.Column('same_frame_count', sa.Integer(), nullable=False),
    sa.Column('preset_hashes', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_camera_runtime_camera_id_cameras'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['controller_id'], ['users.id'], name=op.f('fk_camera_runtime_controller_id_users')),
    sa.PrimaryKeyConstraint('camera_id', name=op.f('pk_camera_runtime'))
    )
    op.create_table('patrol_tours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('preset_numbers', sa.JSON(), nullable=False),
    sa.Column('dwell_seconds', sa.Integer(), nullable=True),
    sa.Column('settle_seconds', sa.Float(), nullable=False),
    sa.Column('start_local', sa.String(length=5), nullable=False),
    sa.Column('end_local', sa.String(length=5), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_patrol_tours_camera_id_cameras'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patrol_tours'))
    )
    with op.batch_alter_table('patrol_tours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patrol_tours_camera_id'), ['camera_id'], unique=False)

    op.create_table('patrol_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('tour_id', sa.Integer(), nullable=True),
    sa.Column('preset_number', sa.Integer(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('frames_at', UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('frame_count', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_patrol_visits_camera_id_cameras'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patrol_visits'))
    )
    with op.batch_alter_table('patrol_visits', schema=None) as batch_op:
        batch_op.create_index('ix_patrol_visits_camera_started', ['camera_id', 'started_at'], unique=False)

    op.create_table('camera_health_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_camera_health_events_camera_id_cameras'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_camera_health_events_order_id_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_camera_health_events'))
    )
    with op.batch_alter_table('camera_health_events', schema=None) as batch_op:
        batch_op.create_index('ix_camera_health_events_camera_at', ['camera_id', 'at'], unique=False)

    op.create_table('camera_clips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_camera_clips_camera_id_cameras'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence_files.id'], name=op.f('fk_camera_clips_evidence_id_evidence_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_camera_clips_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_camera_clips'))
    )
    with op.batch_alter_table('camera_clips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_camera_clips_evidence_id'), ['evidence_id'], unique=False)

    op.create_table('checkpoint_passages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('motion', sa.Float(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=True),
    sa.Column('plate', sa.String(length=20), nullable=True),
    sa.Column('vehicle_type', sa.String(length=40), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], name=op.f('fk_checkpoint_passages_camera_id_cameras'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence_files.id'], name=op.f('fk_checkpoint_passages_evidence_id_evidence_files'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkpoint_passages'))
    )
    with op.batch_alter_table('checkpoint_passages', schema=None) as batch_op:
        batch_op.create_index('ix_checkpoint_passages_at', ['at'], unique=False)
        batch_op.create_index('ix_checkpoint_passages_camera_at', ['camera_id', 'at'], unique=False)

    op.create_table('patrol_frames',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('captured_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence_files.id'], name=op.f('fk_patrol_frames_evidence_id_evidence_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['patrol_visits.id'], name=op.f('fk_patrol_frames_visit_id_patrol_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patrol_frames'))
    )
    with op.batch_alter_table('patrol_frames', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patrol_frames_evidence_id'), ['evidence_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patrol_frames_visit_id'), ['visit_id'], unique=False)

    with op.batch_alter_table('presets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference_sha256', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('presets', schema=None) as batch_op:
        batch_op.drop_column('reference_sha256')

    with op.batch_alter_table('patrol_frames', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patrol_frames_visit_id'))
        batch_op.drop_index(batch_op.f('ix_patrol_frames_evidence_id'))

    op.drop_table('patrol_frames')
    with op.batch_alter_table('checkpoint_passages', schema=None) as batch_op:
        batch_op.drop_index('ix_checkpoint_passages_camera_at')
        batch_op.drop_index('ix_checkpoint_passages_at')

    op.drop_table('checkpoint_passages')
    with op.batch_alter_table('camera_clips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_camera_clips_evidence_id'))

    op.drop_table('camera_clips')
    with op.batch_alter_table('camera_health_events', schema=None) as batch_op:
        batch_op.drop_index('ix_camera_health_events_camera_at')

    op.drop_table('camera_health_events')
    with op.batch_alter_table('patrol_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_patrol_visits_camera_started')

    op.drop_table('patrol_visits')
    with op.batch_alter_table('patrol_tours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patrol_tours_camera_id'))

    op.drop_table('patrol_tours')
    op.drop_table('camera_runtime')
