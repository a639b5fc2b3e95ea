"""A test kit for plugin authors: fixtures and helpers for testing a plugin
against the real core.

Use it as a pytest plugin::

    pytest -p webapp.testing            # or addopts = "-p webapp.testing"

then in a test module::

    import my_plugin
    from webapp.testing import alert_view, gis_context, gis_feature, plugin_problems

    @pytest.fixture
    def nrsc_plugins():          # which plugins the app is built with
        return [my_plugin]

    def test_hooks():
        assert plugin_problems(my_plugin) == []

    def test_app(nrsc_app, nrsc_host):
        assert "my_domain" in nrsc_host.domains

Fixtures: ``nrsc_plugins`` (override it), ``nrsc_load_entrypoints`` (False),
``nrsc_clock``, ``nrsc_app_factory``, ``nrsc_app``, ``nrsc_host``,
``nrsc_client``. Each app runs on its own copy of a SQLite database migrated
once per session. Names carry an ``nrsc_`` prefix so they never clash with a
project's own ``app`` fixture.
"""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient

from webapp.org.chart import TOWNSHIPS, UNITS, WORKING_GROUPS, township_unit
from webapp.platform import clock as clock_module
from webapp.plugin_api import (
    AlertView,
    Domain,
    GisContext,
    GisFeature,
    Prejudgement,
    Routing,
    RoutingContext,
)

# 2026-11-20 02:13 in Hongsipu (UTC+8), a Friday night, like the core's own tests.
DEFAULT_NOW = datetime(2026, 11, 19, 18, 13, tzinfo=timezone.utc)
# A point in the district, for alerts whose place does not matter.
DEFAULT_POINT = (37.45, 106.25)
UNIT_CODES = frozenset(code for code, *_ in UNITS)


# -- building the data plugins receive ----------------------------------------
def alert_view(domain: str, event_type: str | None = None, *, lat: float = DEFAULT_POINT[0],
               lon: float = DEFAULT_POINT[1], occurred_at: datetime | None = None,
               **fields: Any) -> AlertView:
    """An :class:`AlertView` with sensible defaults; ``fields`` set the rest."""
    return AlertView(domain=domain, event_type=event_type or domain, lat=lat, lon=lon,
                     occurred_at=occurred_at or DEFAULT_NOW, **fields)


def gis_feature(layer: str, code: str = "F-1", *, name: str = "", inside: bool = True,
                distance_m: float = 0.0, **attributes: Any) -> GisFeature:
    """A parcel or zone; keyword arguments become its attributes
    (``valid_from``, ``valid_to``, ``ban_start``, ``zone``…)."""
    return GisFeature(layer=layer, code=code, name=name or code, inside=inside,
                      distance_m=0.0 if inside else distance_m, attributes=attributes)


def gis_context(*features: GisFeature, township: str | None = "hongsipu") -> GisContext:
    """A :class:`GisContext` in one of the district's townships (codes in
    ``webapp.org.chart.TOWNSHIPS``), or none with ``township=None``."""
    name = TOWNSHIPS[township][0] if township else None
    return GisContext(township_code=township, township_name=name, features=tuple(features))


def routing_context(township: str | None = "hongsipu", gis: GisContext | None = None) -> RoutingContext:
    """A :class:`RoutingContext` whose township unit comes from the org chart."""
    return RoutingContext(township_code=township, township_unit=township_unit(township), gis=gis)


# -- checking a plugin ---------------------------------------------------------
def build_host(*plugins: Any, settings: dict[str, Any] | None = None):
    """A :class:`~webapp.plugins.PluginHost` with the core defaults and only
    ``plugins`` (no entry points, no app, no database)."""
    from webapp.plugins import build_plugin_host

    return build_plugin_host(load_entrypoints=False, plugins=plugins, settings=settings or {})


def plugin_problems(plugin: Any, *, template_folders: Iterable[str | Path] = ()) -> list[str]:
    """Everything wrong with ``plugin`` against the contract, as readable lines
    (an empty list when it is fine). Checks: hook names and arguments match the
    specs; no hook raises; each declared domain is well formed; routing,
    prejudgement, checklist and template answer for every own event type and
    stay silent for other domains; units exist in the org chart; the template
    extends the core's base and fills ``domain_details``."""
    try:
        host = build_host(plugin)
        host.pm.check_pending()
    except Exception as exc:  # noqa: BLE001 - a problem to report, not to raise
        return [f"plugin does not register: {exc}"]
    problems = [f"{f.hook} raised {f.error}" for f in host.failures]
    name = host.pm.get_name(plugin)
    own = [d for d in host.domains.values() if _declared_by(host, name, d)]
    if not own and not problems:
        problems.append("declares no domain (register_domains)")
    for domain in own:
        problems += _domain_problems(domain)
        try:
            for event in domain.event_types:
                problems += _answer_problems(host, name, domain, event.code)
            problems += _template_problems(plugin, host, domain, template_folders)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{domain.code}: a hook raised {type(exc).__name__}: {exc}")
    problems += _layer_problems(host, name)
    return problems


def assert_plugin_ok(plugin: Any, **kwargs: Any) -> None:
    """Fail the test with every contract problem of ``plugin`` listed."""
    problems = plugin_problems(plugin, **kwargs)
    assert not problems, "plugin contract problems:\n  " + "\n  ".join(problems)


def _call_own(host, plugin_name: str, hook: str, **kwargs: Any) -> list[Any]:
    """Each of this plugin's implementations of ``hook`` called with the
    arguments it takes; the core's defaults are left out."""
    return [impl.function(**{n: kwargs[n] for n in impl.argnames})
            for impl in getattr(host.pm.hook, hook).get_hookimpls() if impl.plugin_name == plugin_name]


def _declared_by(host, plugin_name: str, domain: Domain) -> bool:
    return any(domain in (items or []) for items in _call_own(host, plugin_name, "register_domains"))


def _domain_problems(d: Domain) -> list[str]:
    problems = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", d.code):
        problems.append(f"domain code {d.code!r} is not lower_snake_case")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", d.colour):
        problems.append(f"domain {d.code}: colour {d.colour!r} is not #rrggbb")
    if d.working_group not in WORKING_GROUPS:
        problems.append(f"domain {d.code}: working group {d.working_group} is not one of {sorted(WORKING_GROUPS)}")
    if not d.name_zh or not d.name_en:
        problems.append(f"domain {d.code}: needs both name_zh and name_en")
    codes = [e.code for e in d.event_types]
    if not codes:
        problems.append(f"domain {d.code}: declares no event types")
    if len(set(codes)) != len(codes):
        problems.append(f"domain {d.code}: event type codes repeat: {codes}")
    if d.sla.basis not in ("natural", "working"):
        problems.append(f"domain {d.code}: SLA basis {d.sla.basis!r} is not natural or working")
    return problems


def _answer_problems(host, name: str, domain: Domain, event_type: str) -> list[str]:
    where = f"{domain.code}/{event_type}"
    alert = alert_view(domain.code, event_type)
    problems = []
    for township in ("hongsipu", None):
        routing = _first(host, name, "route_alert", alert=alert, context=routing_context(township))
        if not isinstance(routing, Routing):
            problems.append(f"{where}: route_alert returned {routing!r}, not a Routing")
            continue
        if routing.working_group not in WORKING_GROUPS:
            problems.append(f"{where}: routing working group {routing.working_group} is unknown")
        units = (routing.lead_unit, *routing.lead_offices, *routing.cooperating, *routing.forward_to)
        problems += [f"{where}: routing names unknown unit {u!r}" for u in units if u not in UNIT_CODES]
    verdict = _first(host, name, "prejudge_alert", alert=alert, context=gis_context())
    if not isinstance(verdict, Prejudgement) or verdict.level not in ("low", "medium", "high"):
        problems.append(f"{where}: prejudge_alert returned {verdict!r}, not a Prejudgement")
    elif not verdict.reasons:
        problems.append(f"{where}: prejudgement gives no reason")
    lines = [line for items in _call_own(host, name, "review_checklist", alert=alert) for line in (items or [])]
    if not lines or not all(isinstance(line, str) and line for line in lines):
        problems.append(f"{where}: review_checklist gives no lines")
    return problems


def _first(host, name: str, hook: str, **kwargs: Any) -> Any:
    """This plugin's own answer, without the core's defaults behind it."""
    return next((r for r in _call_own(host, name, hook, **kwargs) if r is not None), None)


def _layer_problems(host, plugin_name: str) -> list[str]:
    problems = []
    for items in _call_own(host, plugin_name, "register_gis_layers"):
        for layer in items or []:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", layer.code):
                problems.append(f"GIS layer code {layer.code!r} is not lower_snake_case")
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", layer.colour):
                problems.append(f"GIS layer {layer.code}: colour {layer.colour!r} is not #rrggbb")
            if not layer.name_zh or not layer.name_en:
                problems.append(f"GIS layer {layer.code}: needs both name_zh and name_en")
            if layer.geometry not in ("polygon", "point", "line"):
                problems.append(f"GIS layer {layer.code}: geometry {layer.geometry!r} is not polygon, point or line")
    return problems


def _template_problems(plugin: Any, host, domain: Domain, folders: Iterable[str | Path]) -> list[str]:
    template = _first(host, host.pm.get_name(plugin), "workorder_template", domain=domain.code)
    if template is None:
        return []  # the core's base template serves
    search = [Path(f) for f in folders]
    if getattr(plugin, "__file__", None):
        search.append(Path(plugin.__file__).parent / "templates")
    path = next((folder / template for folder in search if (folder / template).is_file()), None)
    if path is None:
        return [f"{domain.code}: template {template!r} not found in {[str(f) for f in search]}"]
    source = path.read_text(encoding="utf-8")
    problems = []
    if not re.search(r"""{%-?\s*extends\s+["']orders/pdf/base\.html["']""", source):
        problems.append(f"{domain.code}: {template} does not extend orders/pdf/base.html")
    if not re.search(r"{%-?\s*block\s+domain_details\b", source):
        problems.append(f"{domain.code}: {template} does not fill block domain_details")
    return problems


# -- fixtures ------------------------------------------------------------------
@pytest.fixture
def nrsc_plugins() -> list[Any]:
    """The plugins the app is built with; override this fixture."""
    return []


@pytest.fixture
def nrsc_load_entrypoints() -> bool:
    """Whether installed plugins (entry points) load too; off by default."""
    return False


@pytest.fixture
def nrsc_clock() -> Iterator[clock_module.FrozenClock]:
    """The core's clock frozen at DEFAULT_NOW; move it with ``.advance(minutes=5)``."""
    frozen = clock_module.FrozenClock(DEFAULT_NOW)
    clock_module.set_clock(frozen)
    yield frozen
    clock_module.set_clock(None)


@pytest.fixture(scope="session")
def nrsc_migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once per session; apps get copies."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.platform import dbtools

    folder = tmp_path_factory.mktemp("nrsc-template")
    app = create_app({"NRSC_DATA_DIR": str(folder), "SECRET_KEY": "nrsc-testing"}, load_entrypoints=False)
    with app.app_context():
        dbtools.upgrade()
        db.engine.dispose()
    return folder / "nrsc.sqlite3"


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request gets its own ``g``.

    A test that holds an app context (``with app.app_context():``, as the
    ``nrsc_app`` fixture does) makes Flask reuse that context, and its ``g``,
    for each request: one request's user, locale and CSRF state would leak
    into the next. A server never does that; this client gives each request a
    fresh ``g`` and puts the test's own back afterwards. The database session
    stays the test's, so objects the test holds see what requests commit."""

    def open(self, *args: Any, **kwargs: Any):
        ctx = _cv_app.get(None)
        if ctx is None or ctx.app is not self.application:
            return super().open(*args, **kwargs)
        held = ctx.g
        ctx.g = self.application.app_ctx_globals_class()
        try:
            return super().open(*args, **kwargs)
        finally:
            ctx.g = held


@pytest.fixture
def nrsc_app_factory(nrsc_migrated_sqlite, tmp_path, nrsc_clock):
    """``factory(plugins=(), load_entrypoints=False, config=None)`` builds an
    app on a fresh copy of the migrated database."""
    from webapp import create_app
    from webapp.extensions import db

    built = []

    def factory(plugins: Iterable[Any] = (), *, load_entrypoints: bool = False,
                config: dict[str, Any] | None = None):
        folder = tmp_path / f"app{len(built)}"
        folder.mkdir()
        shutil.copy(nrsc_migrated_sqlite, folder / "nrsc.sqlite3")
        app = create_app({
            "NRSC_DATA_DIR": str(folder), "DATABASE_URL": f"sqlite:///{folder / 'nrsc.sqlite3'}",
            "TESTING": True, "NRSC_TASKS_EAGER": True, "SECRET_KEY": "nrsc-testing",
            **(config or {}),
        }, plugins=plugins, load_entrypoints=load_entrypoints)
        app.test_client_class = FreshGlobalsClient
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def nrsc_app(nrsc_app_factory, nrsc_plugins, nrsc_load_entrypoints):
    """An app with ``nrsc_plugins``, its app context pushed."""
    app = nrsc_app_factory(nrsc_plugins, load_entrypoints=nrsc_load_entrypoints)
    with app.app_context():
        yield app


@pytest.fixture
def nrsc_host(nrsc_app):
    """The app's plugin host: ``.domains``, ``.route()``, ``.prejudge()``…"""
    return nrsc_app.extensions["nrsc.plugins"]


@pytest.fixture
def nrsc_client(nrsc_app):
    return nrsc_app.test_client()


__all__ = [
    "FreshGlobalsClient", "alert_view", "assert_plugin_ok", "build_host", "gis_context", "gis_feature", "nrsc_app",
    "nrsc_app_factory", "nrsc_client", "nrsc_clock", "nrsc_host", "nrsc_load_entrypoints",
    "nrsc_migrated_sqlite", "nrsc_plugins", "plugin_problems", "routing_context",
]
