"""security: audit hash chain (back-filled), login throttle, server-side sessions

Revision ID: 0008
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=True),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    # Secrets at rest: encrypted tokens are longer than the old 200 characters.
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.alter_column("onvif_password", existing_type=sa.String(length=200), type_=sa.Text(),
                              existing_nullable=True)
    with op.batch_alter_table("notification_channels", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=200), type_=sa.Text(),
                              existing_nullable=True)
    _encrypt_existing_secrets()

    # Chain the rows written before this revision, in id order.
    from webapp.platform.auditchain import backfill
    backfill(op.get_bind())


def _encrypt_existing_secrets() -> None:
    """Encrypt plain values with the data directory's key. Run outside the app
    (no data directory known) the values stay plain and readable, and are
    encrypted by ``nrsc secrets rotate-key`` or when next written."""
    from flask import has_app_context
    if not has_app_context():
        return
    from cryptography.fernet import Fernet, MultiFernet

    from webapp.platform import secrets
    fernet = MultiFernet([Fernet(k) for k in secrets.load_keys()])
    secrets.reencrypt_all(op.get_bind(), fernet)


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
    op.drop_table("login_throttle")
    op.drop_table("audit_head")
    # Encrypted values stay encrypted (a downgrade must not write secrets out in plain text).
    with op.batch_alter_table("notification_channels", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=500),
                              existing_nullable=True)
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.alter_column("onvif_password", existing_type=sa.Text(), type_=sa.String(length=500),
                              existing_nullable=True)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
