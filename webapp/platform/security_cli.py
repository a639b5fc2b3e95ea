"""Security commands: ``nrsc user passwd|disable``, ``nrsc audit verify``."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select


def _user(login: str):
    from webapp.extensions import db
    from webapp.models import User
    user = db.session.scalar(select(User).where(User.login == login))
    if user is None:
        raise click.ClickException(f"no user {login!r}")
    return user


def attach(main: click.Group, user_group: click.Group) -> None:
    @user_group.command("passwd")
    @click.argument("login")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @with_appcontext
    def user_passwd(login: str, password: str) -> None:
        """Set a user's password; every session of the user ends."""
        from webapp.extensions import db
        from webapp.platform import audit, sessions
        from webapp.platform.security import hash_password
        user = _user(login)
        try:
            user.password_hash = hash_password(password)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        ended = sessions.revoke_all(user)
        audit.record("password_changed", "user", user.id, actor_label="cli", data={"sessions_ended": ended})
        db.session.commit()
        click.echo(f"password of {login} changed; {ended} session(s) ended")

    @user_group.command("disable")
    @click.argument("login")
    @with_appcontext
    def user_disable(login: str) -> None:
        """Disable a user; every session of the user ends, every API token is revoked."""
        from webapp.extensions import db
        from webapp.platform import audit
        from webapp.platform.security import disable_user
        user = _user(login)
        ended = disable_user(user)
        audit.record("user_disabled", "user", user.id, actor_label="cli", from_state="active",
                     to_state="disabled", data=ended)
        db.session.commit()
        click.echo(f"{login} disabled; {ended['sessions_ended']} session(s) ended, "
                   f"{ended['tokens_revoked']} API token(s) revoked")

    @main.group("audit")
    def audit_group() -> None:
        """The audit trail's hash chain."""

    @audit_group.command("verify")
    @with_appcontext
    def audit_verify() -> None:
        """Check every link of the chain; exit status 1 at the first broken one."""
        from webapp.extensions import db
        from webapp.platform import auditchain
        with db.engine.connect() as conn:
            result = auditchain.verify(conn)
        click.echo(result.message())
        if not result.ok:
            sys.exit(1)

    @main.group("secrets")
    def secrets_group() -> None:
        """Secrets at rest (camera passwords, webhook secrets)."""

    @secrets_group.command("rotate-key")
    @with_appcontext
    def secrets_rotate_key() -> None:
        """Make a new key, re-encrypt every stored secret with it, drop the old key."""
        from webapp.extensions import db
        from webapp.platform import audit, secrets
        n = secrets.rotate_key(db.engine)
        audit.record("secrets_key_rotated", "secrets", None, actor_label="cli", data={"values": n})
        db.session.commit()
        click.echo(f"key rotated; {n} stored secret(s) re-encrypted")
