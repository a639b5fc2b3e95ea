"""Configuration: DATABASE_URL checks, SQLite pragmas, data dir and secret key."""
import os
import stat

import pytest
from sqlalchemy import text

from webapp import ConfigError, create_app
from webapp.extensions import db


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "NRSC_DATA_DIR", "NRSC_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("url", ["::not a url::", "postgresql://user@host:notaport/db"])
def test_malformed_database_url_is_a_clear_config_error(clean_env, tmp_path, url):
    with pytest.raises(ConfigError) as info:
        create_app({"DATABASE_URL": url, "NRSC_DATA_DIR": str(tmp_path)}, load_entrypoints=False)
    assert "DATABASE_URL is malformed" in str(info.value)
    assert "postgresql://" in str(info.value)  # says what a good one looks like


def test_unsupported_database_scheme_is_refused(clean_env, tmp_path):
    with pytest.raises(ConfigError, match="'mysql'.*only sqlite and postgresql"):
        create_app({"DATABASE_URL": "mysql://u@127.0.0.1/nrsc", "NRSC_DATA_DIR": str(tmp_path)},
                   load_entrypoints=False)


def test_malformed_database_url_from_the_environment_stops_the_cli(clean_env, tmp_path):
    from click.testing import CliRunner

    from webapp.cli import main
    clean_env.setenv("DATABASE_URL", "oracle://x@y/z")
    clean_env.setenv("NRSC_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["db", "status"])
    assert result.exit_code == 2
    assert "only sqlite and postgresql" in result.output


def test_sqlite_runs_with_wal_and_foreign_keys(clean_env, tmp_path):
    app = create_app({"NRSC_DATA_DIR": str(tmp_path)}, load_entrypoints=False)
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()


def test_data_dir_from_environment_holds_database_and_secret(clean_env, tmp_path):
    data = tmp_path / "nrsc-data"
    clean_env.setenv("NRSC_DATA_DIR", str(data))
    app = create_app(load_entrypoints=False)
    assert app.config["NRSC_DATA_DIR"] == data
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{data / 'nrsc.sqlite3'}"
    assert (data / "instance" / "secret_key").read_text().strip() == app.config["SECRET_KEY"]


def test_secret_key_file_is_created_once_and_private(clean_env, tmp_path):
    first = create_app({"NRSC_DATA_DIR": str(tmp_path)}, load_entrypoints=False)
    path = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) >= 32
    second = create_app({"NRSC_DATA_DIR": str(tmp_path)}, load_entrypoints=False)
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    other = create_app({"NRSC_DATA_DIR": str(tmp_path / "elsewhere")}, load_entrypoints=False)
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]


def test_secret_key_from_environment_wins(clean_env, tmp_path):
    clean_env.setenv("NRSC_SECRET_KEY", "from-the-environment")
    app = create_app({"NRSC_DATA_DIR": str(tmp_path)}, load_entrypoints=False)
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "instance" / "secret_key").exists()
