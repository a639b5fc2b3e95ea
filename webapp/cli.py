"""The ``nrsc`` command: a Flask CLI group."""
from __future__ import annotations

import socket
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from webapp import ConfigError, PluginError, create_app
from webapp.cameras import demo_sim
from webapp.demo.data import DemoDataError, demo_logins_text, load_demo
from webapp.extensions import db as sa
from webapp.gis import context as gis
from webapp.models import ApiToken, Unit, User
from webapp.platform import audit, clock, dbtools, services
from webapp.platform.security import UNIT_ROLES, create_api_token, hash_password


def _factory():
    try:
        return create_app()
    except (ConfigError, PluginError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_factory, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main() -> None:
    """NRSC — 自然资源综合监管指挥平台."""


# -- database -----------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    dbtools.upgrade(revision)
    click.echo(f"database at {dbtools.schema_status()['current']}")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (e.g. base)."""
    dbtools.downgrade(revision)
    click.echo(f"database at {dbtools.schema_status()['current']}")


@db.command("status")
@with_appcontext
def db_status() -> None:
    s = dbtools.schema_status()
    click.echo(f"current {s['current']}  head {s['head']}")


def _require_schema() -> None:
    try:
        dbtools.require_current_schema()
    except dbtools.SchemaError as exc:
        raise click.ClickException(str(exc)) from None


# -- demo ---------------------------------------------------------------------
@main.group()
def demo() -> None:
    """Synthetic demonstration data."""


@demo.command("load")
@click.option("--no-history", is_flag=True, help="skip the three months of synthetic alerts and orders")
@with_appcontext
def demo_load(no_history: bool) -> None:
    """Load (or update) the synthetic demo organisation, cameras, parcels and history."""
    _require_schema()
    try:
        summary = load_demo(history=not no_history)
    except DemoDataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("合成演示数据 (synthetic demo data) loaded: " +
               ", ".join(f"{k} {v}" for k, v in summary.items()))
    click.echo(demo_logins_text())


# -- users and tokens -----------------------------------------------------------
@main.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("login")
@click.option("--name", "display_name", help="display name (default: the login)")
@click.option("--role", required=True, type=click.Choice(
    ["duty_officer", "duty_lead", "unit_handler", "unit_leader", "office_staff", "leader_viewer", "admin"]))
@click.option("--unit", "unit_code", help="unit code the user belongs to")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def user_create(login: str, display_name: str | None, role: str, unit_code: str | None, password: str) -> None:
    """Create a user with a hashed password."""
    _require_schema()

    if sa.session.scalar(select(User).where(User.login == login)):
        raise click.ClickException(f"user {login!r} already exists")
    unit = None
    if unit_code:
        unit = sa.session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise click.ClickException(f"no unit with code {unit_code!r}")
    if role in UNIT_ROLES and unit is None:
        raise click.ClickException(f"role {role} needs --unit")
    try:
        pw = hash_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    u = User(login=login, display_name=display_name or login, role=role, unit=unit, password_hash=pw)
    sa.session.add(u)
    sa.session.flush()
    audit.record("user_created", "user", u.id, actor_label="cli", data={"role": role})
    sa.session.commit()
    click.echo(f"created user {login} ({role})")


@main.group()
def token() -> None:
    """API tokens (stored hashed; shown once)."""


@token.command("create")
@click.option("--source", help="bind to an intake source name (AI box, NVR…)")
@click.option("--user", "login", help="bind to a user; the token acts with that user's role and unit")
@click.option("--label", default="")
@with_appcontext
def token_create(source: str | None, login: str | None, label: str) -> None:
    """Create an API token and print it once."""
    _require_schema()

    if bool(source) == bool(login):
        raise click.UsageError("give exactly one of --source NAME or --user LOGIN")
    bound_user = None
    if login:
        bound_user = sa.session.scalar(select(User).where(User.login == login))
        if bound_user is None:
            raise click.ClickException(f"no user {login!r}")
    row, plain = create_api_token(source=source, user=bound_user, label=label)
    sa.session.flush()
    audit.record("token_created", "api_token", row.id, actor_label="cli",
                 data={"source": source, "user": login, "prefix": row.prefix})
    sa.session.commit()
    click.echo(plain)


@token.command("revoke")
@click.argument("prefix")
@with_appcontext
def token_revoke(prefix: str) -> None:
    """Revoke the token whose printed value starts with PREFIX (12 characters)."""

    row = sa.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix[:12]))
    if row is None:
        raise click.ClickException(f"no token starting with {prefix[:12]!r}")
    row.revoked_at = clock.now()
    audit.record("token_revoked", "api_token", row.id, actor_label="cli")
    sa.session.commit()
    click.echo(f"revoked {row.prefix}…")


# -- running --------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, help="0 picks a free port")
@click.option("--simulator/--no-simulator", default=None,
              help="start the camera simulator too (default: when the cameras point at its loopback ports)")
@with_appcontext
def run(host: str, port: int, simulator: bool | None) -> None:
    """Run the platform on one machine: the web server (gunicorn) and the
    background worker (camera patrol included) as two child processes, and for
    the demo the camera simulator; Ctrl-C or SIGTERM stops them all."""
    _require_schema()
    app = current_app._get_current_object()
    port = port or free_port(host)
    if not _port_free(host, port):
        raise click.ClickException(f"cannot listen on {host}:{port} (address in use)")
    if simulator is None:  # auto: when the cameras point at the simulator's ports
        simulator = demo_sim.wanted(app, click.echo)
    sim = demo_sim.start(app, click.echo) if simulator else None
    sa.engine.dispose()  # nothing of this parent's pool is needed once the children run
    try:
        status = services.run_all(
            host, port, graceful_s=current_app.config["NRSC_WEB_GRACEFUL_S"],
            on_ready=lambda url: click.echo(f"NRSC listening on {url}  (login page {url}login)"),
            echo=lambda line: click.echo(line, err=True),
            # A simulated camera's first frame takes seconds on shared cores.
            settings=demo_sim.CHILD_SETTINGS if sim is not None else None)
    finally:
        if sim is not None:
            sim.stop()
    sys.exit(status)


@main.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@with_appcontext
def web(host: str, port: int) -> None:
    """Serve HTTP with gunicorn (NRSC_WEB_WORKERS processes x NRSC_WEB_THREADS
    threads); no background work runs here."""
    _require_schema()
    from webapp.platform import (
        web as web_server,  # imports gunicorn: only for this command
    )
    config = dict(current_app.config)
    sa.engine.dispose()  # the workers fork from this process; no connection may cross
    web_server.serve(config, host, port)


@main.command("worker")
@with_appcontext
def worker() -> None:
    """Run the background work: recurring jobs (SLA sweep, escalation, outbox)
    and the MQTT subscriber. Run exactly one per installation."""
    _require_schema()
    from webapp import worker as background
    background.run(current_app._get_current_object(),
                   on_ready=lambda line: click.echo(f"NRSC worker running: {line}"))


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@click.command("simulator")
@click.option("--cameras", type=click.IntRange(1, 38), default=38, show_default=True,
              help="serve demo cameras 1..N (T-01…T-31, K-01…K-07)")
@click.option("--base-port", type=int, default=18000, show_default=True,
              help="control API on P, camera k on P+k")
@click.option("--user", default=None, help="ONVIF/HTTP user (default: the demo's)")
@click.option("--password", default=None, help="ONVIF/HTTP password (default: the demo's)")
@click.option("--seed", type=int, default=1, show_default=True, help="seeds villages, roads, fields")
@click.option("--size", default="1920x1080", show_default=True, help="frame size WxH")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), default=None,
              help="events file (JSON, or YAML with PyYAML)")
def simulator_command(cameras: int, base_port: int, user: str | None, password: str | None, seed: int,
                      size: str, scenario: str | None) -> None:
    """Run the geo-referenced ONVIF camera simulator (docs/simulator.md)."""
    from simulator.cli import run as run_simulator
    from webapp.config import load_config
    from webapp.demo.data import ONVIF_PASSWORD, ONVIF_USER
    try:
        run_simulator(cameras, base_port, user or ONVIF_USER, password or ONVIF_PASSWORD, seed, size, scenario,
                      load_config()["NRSC_DEM_PATH"], echo=click.echo)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


main.add_command(simulator_command)


# -- GIS layers (intake) ----------------------------------------------------------
@main.group()
def parcels() -> None:
    """Parcels and zones (GIS layers used for alert context)."""


@parcels.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--layer", required=True, help="layer code, one the installed plugins declare (register_gis_layers)")
@click.option("--code-field", default="code", show_default=True, help="property holding the parcel code")
@click.option("--name-field", default="name", show_default=True)
@click.option("--strict", is_flag=True, help="write nothing if any feature is rejected")
@with_appcontext
def parcels_import(path: str, layer: str, code_field: str, name_field: str, strict: bool) -> None:
    """Load a GeoJSON FeatureCollection into LAYER, upserting by (layer, code)."""
    _require_schema()
    import os

    from tqdm import tqdm


    try:
        features = gis.read_feature_collection(path)
        with tqdm(total=len(features), unit="feature", desc=f"{layer}", file=sys.stderr,
                  disable=None) as bar:
            report = gis.import_parcels(features, layer, source=os.path.basename(path),
                                        code_field=code_field, name_field=name_field, progress=bar)
        for index, code, reason in report.rejected:
            click.echo(f"rejected feature #{index}{f' ({code})' if code else ''}: {reason}", err=True)
        if strict and report.rejected:
            raise gis.ImportFatal(f"{len(report.rejected)} feature(s) rejected and --strict given")
        audit.record("parcels_imported", "parcel_layer", None, actor_label="cli", note=layer,
                     data={"file": os.path.basename(path), "created": report.created,
                           "updated": report.updated, "rejected": len(report.rejected)})
        sa.session.commit()
    except gis.ImportFatal as exc:
        sa.session.rollback()
        raise click.ClickException(f"{exc}; nothing was imported") from None
    except BaseException:
        sa.session.rollback()
        raise
    click.echo(f"layer {layer}: {report.created} created, {report.updated} updated, "
               f"{len(report.rejected)} rejected")


# -- assessment (nrsc score PERIOD --out DIR) ----------------------------------
@main.command("score")
@click.argument("period")
@click.option("--out", "out_dir", default=".", show_default=True, help="Folder for the bulletin PDF and workbook.")
@with_appcontext
def score(period: str, out_dir: str) -> None:
    """Print PERIOD's scores; write its bulletin PDF and Excel workbook to --out."""
    from webapp.assessment import cli as assessment_cli
    _require_schema()
    assessment_cli.score(period, out_dir)


# Security commands (user passwd/disable, audit verify, secrets rotate-key).
from webapp.platform import security_cli  # noqa: E402

security_cli.attach(main, user)

# -- detection: models install/list, eval -----------------------------------------
from webapp.detection.cli import detection, eval_command, models  # noqa: E402

main.add_command(models)
main.add_command(detection)
main.add_command(eval_command)


if __name__ == "__main__":  # pragma: no cover
    main()
