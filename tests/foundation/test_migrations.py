"""Migrations: one head, a full round trip, and what the app and CLI do on a
database that is not upgraded."""
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from webapp import create_app
from webapp.cli import main
from webapp.extensions import db
from webapp.platform import dbtools


def _app(url, tmp_path):
    return create_app({"DATABASE_URL": url, "NRSC_DATA_DIR": str(tmp_path / "data"), "TESTING": True,
                       "SECRET_KEY": "test"}, load_entrypoints=False)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_exactly_one_alembic_head():
    heads = ScriptDirectory.from_config(dbtools.alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads


def test_every_revision_chains_to_base():
    script = ScriptDirectory.from_config(dbtools.alembic_config("sqlite://"))
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert len({r.revision for r in revisions}) == len(revisions)


def test_upgrade_downgrade_upgrade_round_trip(db_url, tmp_path):
    from webapp.models import Unit  # noqa: F401 - the metadata lists every table
    app = _app(db_url, tmp_path)
    with app.app_context():
        expected = set(db.metadata.tables)
        assert _tables() == expected
        db.engine.dispose()
        dbtools.downgrade("base")
        assert _tables() == set()
        assert dbtools.schema_status()["current"] is None
        client = app.test_client()
        resp = client.get("/healthz")
        assert resp.status_code == 503
        assert resp.json["status"] == "migrations_pending"
        result = app.test_cli_runner().invoke(main, ["demo", "load"])
        assert result.exit_code != 0
        assert "nrsc db upgrade" in result.output
        db.engine.dispose()
        dbtools.upgrade()
        assert _tables() == expected
        status = dbtools.schema_status()
        assert status["current"] == status["head"]
        assert client.get("/healthz").status_code == 200
        db.session.remove()
        db.engine.dispose()


def test_fresh_database_reports_pending_migrations_and_cli_refuses(tmp_path):
    app = _app(f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path)
    with app.app_context():
        resp = app.test_client().get("/healthz")
        assert resp.status_code == 503
        assert resp.json == {"status": "migrations_pending",
                             "schema": {"current": None, "head": dbtools.heads()[0]}}
        runner = app.test_cli_runner()
        for args in (["demo", "load"], ["token", "create", "--source", "box"]):
            result = runner.invoke(main, args)
            assert result.exit_code == 1, result.output
            assert "run `nrsc db upgrade` first" in result.output
        result = runner.invoke(main, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"database at {dbtools.heads()[0]}" in result.output
        assert app.test_client().get("/healthz").status_code == 200
        db.engine.dispose()
