"""Alembic glue: migrations are the only way the schema is made."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from webapp.extensions import db

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class SchemaError(RuntimeError):
    """The database is not at the schema this code expects."""


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", (url or current_app.config["SQLALCHEMY_DATABASE_URI"]).replace("%", "%%"))
    return cfg


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    command.downgrade(alembic_config(), revision)


def heads() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_status() -> dict[str, str | None]:
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    found = heads()
    return {"current": current, "head": found[0] if len(found) == 1 else ",".join(found)}


def require_current_schema() -> None:
    status = schema_status()
    if status["current"] != status["head"]:
        raise SchemaError(
            f"the database is at migration {status['current'] or '(none)'} but this code needs "
            f"{status['head']}: run `nrsc db upgrade` first")
