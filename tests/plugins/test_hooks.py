"""The plugin contract through the real PluginHost: one test per hook, start-up
conflicts, and plugins that fail without taking the app down."""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

from webapp import PluginError, create_app, hookspecs
from webapp.plugin_api import (
    Clock,
    Delivery,
    Detection,
    DetectionContext,
    Domain,
    EventType,
    GisLayer,
    Message,
    Prejudgement,
    Routing,
    SimpleDetector,
    SlaClocks,
    hookimpl,
)
from webapp.plugins import PluginHost, build_plugin_host
from webapp.testing import (
    alert_view,
    build_host,
    gis_context,
    gis_feature,
    routing_context,
)

SEVEN = ("farmland", "mining", "geohazard", "fire", "grazing", "safety", "ecology")
HOOKS = ("register_domains", "register_gis_layers", "register_detectors", "route_alert", "prejudge_alert",
         "review_checklist", "workorder_template", "register_notifiers")
SLA = SlaClocks(review=Clock.parse("30m"), accept=Clock.parse("2h"),
                arrive=Clock.parse("1wd"), feedback=Clock.parse("3wd"))


def make_domain(code: str, name_zh: str = "测试领域") -> Domain:
    return Domain(code=code, name_zh=name_zh, name_en="Test domain", colour="#123456", icon="x",
                  working_group=1, event_types=(EventType(code, name_zh, "Test"),), sla=SLA)


# -- test doubles: real pluggy plugins, as a third-party package would write them --
class SecondFire:
    """Declares a domain code the fire plugin already owns."""

    @hookimpl
    def register_domains(self):
        return [make_domain("fire", "另一个防火")]


class Broken:
    """Declares a domain, then raises in every alert hook."""

    @hookimpl
    def register_domains(self):
        return [make_domain("broken")]

    @hookimpl
    def route_alert(self, alert, context):
        raise KeyError("no rule")

    @hookimpl
    def prejudge_alert(self, alert, context):
        raise ZeroDivisionError("division by zero")

    @hookimpl
    def review_checklist(self, alert):
        raise ValueError("bad checklist")

    @hookimpl
    def workorder_template(self, domain):
        raise OSError("template folder missing")


class BrokenDeclaration:
    """Cannot even declare its domain."""

    @hookimpl
    def register_domains(self):
        raise RuntimeError("cannot read my domain file")


class Rogue:
    """Owns one domain but answers every call for any domain, as a careless
    (or hostile) package would."""

    @hookimpl
    def register_domains(self):
        return [make_domain("rogue")]

    @hookimpl
    def route_alert(self, alert, context):
        return Routing(lead_unit="duty", working_group=5, note="captured")

    @hookimpl
    def prejudge_alert(self, alert, context):
        return Prejudgement("low", ("captured",))

    @hookimpl
    def review_checklist(self, alert):
        return ["captured"]

    @hookimpl
    def workorder_template(self, domain):
        return "orders/pdf/rogue.html"


class BrightDetector:
    """One detector whose threshold comes from the settings."""

    def __init__(self, name: str = "bright"):
        self.name = name

    @hookimpl
    def register_detectors(self, settings):
        threshold = settings.get(self.name, {}).get("threshold", 200)

        def detect(frames, context):
            return [Detection(domain="fire", event_type="fire", label="bright", score=1.0, frame_index=i)
                    for i, frame in enumerate(frames) if max(frame) >= threshold]
        return [SimpleDetector(name=self.name, domains=("fire",), function=detect,
                               params={"threshold": threshold})]


class RecordingNotifier:
    channel = "test-channel"

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.sent: list[Message] = []

    def send(self, message: Message) -> Delivery:
        self.sent.append(message)
        return Delivery(ok=True, detail=f"{self.prefix}{message.target}")


class NotifierPlugin:
    @hookimpl
    def register_notifiers(self, settings):
        return [RecordingNotifier(settings.get("test-channel", {}).get("prefix", ""))]


class TwoChecklists:
    """A second plugin with a checklist, for a domain of its own."""

    @hookimpl
    def register_domains(self):
        return [make_domain("two_lists")]

    @hookimpl
    def review_checklist(self, alert):
        return [f"先看 {alert.event_type}"]


class LayerPlugin:
    def __init__(self, *layers):
        self.layers = layers

    @hookimpl
    def register_gis_layers(self):
        return list(self.layers)


class OtherLayerPlugin(LayerPlugin):
    pass


PIT = GisLayer("quarry_pit", "采坑", "Quarry pit", "#795548")


# -- the contract's shape ----------------------------------------------------
def test_every_hook_is_specified_with_a_templated_docstring():
    specs = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(fn, "nrsc_spec")}
    assert sorted(specs) == sorted(HOOKS)
    for name, fn in specs.items():
        doc = inspect.getdoc(fn) or ""
        for part in ("Parameters:", "Returns:", "Called:", "Results:"):
            assert part in doc, f"{name} docstring lacks {part}"


def test_plugin_api_is_a_leaf_module():
    from webapp import plugin_api
    tree = ast.parse(Path(plugin_api.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in imported if m and m.split(".")[0] in ("webapp", "plugins", "flask", "sqlalchemy")]


def test_host_is_built_in_create_app_and_kept_in_extensions(app):
    host = app.extensions["nrsc.plugins"]
    assert isinstance(host, PluginHost)
    assert set(SEVEN) <= set(host.domains)
    # Each domain plugin came in through its entry point, under its own name.
    assert set(SEVEN) <= {name for name, _ in host.pm.list_name_plugin()}
    assert host.failures == []


def test_app_with_chosen_plugins_and_entry_points_off(tmp_path):
    import plugins.fire
    app = create_app({"NRSC_DATA_DIR": str(tmp_path), "SECRET_KEY": "x"},
                     plugins=[plugins.fire], load_entrypoints=False)
    assert list(app.extensions["nrsc.plugins"].domains) == ["fire"]


# -- one test per hook -------------------------------------------------------
def test_hook_register_domains_joins_every_plugins_list():
    host = build_plugin_host(plugins=[], load_entrypoints=True)
    assert {code: host.domains[code].working_group for code in SEVEN} == {
        "farmland": 1, "mining": 1, "geohazard": 1, "fire": 3, "grazing": 3, "safety": 2, "ecology": 4}
    assert host.domain("grazing").event_type("wildlife").name_zh == "野生动植物保护"
    assert {e.code for e in host.domain("ecology").event_types} >= {"straw_burning", "dust", "garbage"}
    assert host.domain("nothing") is None


def test_hook_register_detectors_gets_its_settings_and_detects():
    host = build_host(BrightDetector(), settings={"NRSC_DETECTORS": {"bright": {"threshold": 100}}})
    detector = host.detectors["bright"]
    assert detector.params == {"threshold": 100}
    found = detector.detect([[10, 20], [150, 3], [99]], DetectionContext(camera_code="T-01"))
    assert [(d.frame_index, d.domain, d.event_type) for d in found] == [(1, "fire", "fire")]


class OtherBright(BrightDetector):
    pass


def test_two_detectors_with_one_name_stop_start_up():
    with pytest.raises(PluginError, match="detector name 'bright' is declared by both plugin "
                                          "'BrightDetector' and plugin 'OtherBright'"):
        build_plugin_host(load_entrypoints=False, plugins=[BrightDetector(), OtherBright()])


def test_hook_route_alert_owner_answers_and_core_default_answers_last():
    host = build_plugin_host(load_entrypoints=True)
    routing = host.route(alert_view("fire", "fire"), routing_context("dahe"))
    assert routing.lead_unit == "forestry_grassland"
    fallback = host.route(alert_view("no_plugin_domain", "x"), routing_context("dahe"))
    assert (fallback.lead_unit, fallback.cooperating) == ("natural_resources", ("town.dahe",))


def test_hook_prejudge_alert_through_the_host():
    host = build_plugin_host(load_entrypoints=True)
    verdict = host.prejudge(alert_view("farmland", "illegal_occupation"),
                            gis_context(gis_feature("basic_farmland", "JB-1")))
    assert verdict.level == "high"
    assert host.prejudge(alert_view("no_plugin_domain"), gis_context()).level == "medium"


def test_hook_review_checklist_asks_the_owner_only():
    host = build_plugin_host(load_entrypoints=True, plugins=[TwoChecklists()])
    lines = host.checklist(alert_view("fire", "fire"))
    assert lines[0] == "烟雾是否从固定点位持续升起？" and len(lines) == 4
    assert host.checklist(alert_view("two_lists", "dust")) == ["先看 dust"]
    assert host.checklist(alert_view("no_plugin_domain")) == []


def test_hook_register_gis_layers_the_seven_declare_todays_nine():
    host = build_plugin_host(load_entrypoints=True)
    assert set(host.gis_layers) == {
        "basic_farmland", "cultivated_land", "mining_permit", "construction_approval", "land_use_plan",
        "geohazard_point", "grazing_ban_zone", "key_enterprise", "forest_grassland"}
    # Declared by fire, grazing and ecology (all three read it): one layer.
    assert host.gis_layers["forest_grassland"] == GisLayer(
        "forest_grassland", "林地／草地", "Forest / grassland", "#43a047", "polygon")
    # A new plugin's layer joins without a core change; a repeat is merged.
    more = build_host(LayerPlugin(PIT), OtherLayerPlugin(PIT))
    assert more.gis_layers == {"quarry_pit": PIT}


def test_two_different_layers_with_one_code_stop_start_up():
    other = GisLayer("forest_grassland", "林地", "Forest", "#000000")
    with pytest.raises(PluginError, match="GIS layer 'forest_grassland' is declared differently by plugin "
                                          r"'\w+' .* and plugin 'LayerPlugin'"):
        build_plugin_host(load_entrypoints=True, plugins=[LayerPlugin(other)])


def test_external_labels_come_from_event_types_and_may_not_clash():
    host = build_plugin_host(load_entrypoints=True)
    assert host.external_labels == {"fire": ("fire", "fire"), "smoke": ("fire", "smoke")}

    class SmokeToo:
        @hookimpl
        def register_domains(self):
            return [Domain(code="chimney", name_zh="烟囱", name_en="Chimney", colour="#123456", icon="x",
                           working_group=4, sla=SLA,
                           event_types=(EventType("smoke", "烟", "Smoke", external_labels=("smoke",)),))]

    with pytest.raises(PluginError, match="external label 'smoke' is claimed by fire/smoke and by chimney/smoke"):
        build_plugin_host(load_entrypoints=True, plugins=[SmokeToo()])


def test_a_rogue_plugin_answering_for_every_domain_does_not_affect_other_domains():
    """Registered last, it would be called first for everything under plain
    pluggy; the host asks it only about its own domain."""
    host = build_plugin_host(load_entrypoints=True, plugins=[Rogue()])
    fire = alert_view("fire", "fire")
    assert host.route(fire, routing_context("dahe")).lead_unit == "forestry_grassland"
    assert host.prejudge(fire, gis_context()).reasons != ("captured",)
    assert "captured" not in host.checklist(fire)
    assert host.workorder_template("fire") == "orders/pdf/fire.html"
    # A domain no plugin owns gets the core's defaults, not the rogue's answers.
    stray = alert_view("no_plugin_domain", "x")
    assert host.route(stray, routing_context("dahe")).lead_unit == "natural_resources"
    assert host.prejudge(stray, gis_context()).level == "medium"
    assert host.checklist(stray) == []
    assert host.workorder_template("no_plugin_domain") == "orders/pdf/base.html"
    # Its own domain it answers for.
    assert host.route(alert_view("rogue", "rogue"), routing_context()).note == "captured"
    assert host.checklist(alert_view("rogue", "rogue")) == ["captured"]


def test_hook_workorder_template_names_each_domains_template():
    host = build_plugin_host(load_entrypoints=True)
    assert {code: host.workorder_template(code) for code in SEVEN} == {
        code: f"orders/pdf/{code}.html" for code in SEVEN}
    assert host.workorder_template("no_plugin_domain") == "orders/pdf/base.html"


def test_hook_register_notifiers_gets_its_settings_and_sends():
    host = build_host(NotifierPlugin(), settings={"NRSC_NOTIFIERS": {"test-channel": {"prefix": "to:"}}})
    notifier = host.notifiers["test-channel"]
    delivery = notifier.send(Message(channel="test-channel", target="forestry", title="t", body="b"))
    assert delivery == Delivery(ok=True, detail="to:forestry")
    assert [m.target for m in notifier.sent] == ["forestry"]


# -- start-up conflicts and failures -----------------------------------------
def test_duplicate_domain_code_fails_create_app_naming_both_plugins(tmp_path):
    with pytest.raises(PluginError) as raised:
        create_app({"NRSC_DATA_DIR": str(tmp_path), "SECRET_KEY": "x"},
                   plugins=[SecondFire()], load_entrypoints=True)
    message = str(raised.value)
    assert "domain code 'fire'" in message
    assert "'fire'" in message and "'SecondFire'" in message


@pytest.mark.parametrize("extra_plugins", [[Broken(), BrokenDeclaration()]])
def test_plugin_raising_is_reported_by_name_and_app_keeps_working(app, org, login_as):
    host = app.extensions["nrsc.plugins"]
    assert set(SEVEN) <= set(host.domains) and "broken" in host.domains
    fire = alert_view("fire", "fire")
    assert host.route(fire, routing_context("dahe")).lead_unit == "forestry_grassland"
    assert host.checklist(fire)[0] == "烟雾是否从固定点位持续升起？"
    # The owner raises: the core's defaults answer in its place.
    broken = alert_view("broken", "broken")
    assert host.route(broken, routing_context("dahe")).lead_unit == "natural_resources"
    assert host.prejudge(broken, gis_context()).level == "medium"
    assert host.checklist(broken) == []
    assert host.workorder_template("broken") == "orders/pdf/base.html"
    failed = {(f.plugin, f.hook) for f in host.failures}
    assert failed == {("BrokenDeclaration", "register_domains"), ("Broken", "route_alert"),
                      ("Broken", "prejudge_alert"), ("Broken", "review_checklist"),
                      ("Broken", "workorder_template")}
    assert any("division by zero" in f.error for f in host.failures)
    browser, _ = login_as("leader_viewer")
    page = browser.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert "森林草原防火" in page.get_data(as_text=True)


def _fake_distribution(folder: Path, dist: str, entry: str, module: str, source: str) -> None:
    """An installed distribution on ``folder``: metadata, entry point, module."""
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nrsc.plugins]\n{entry} = {module}\n")
    (folder / f"{module}.py").write_text(textwrap.dedent(source))


def test_plugin_that_fails_to_import_is_reported_by_name(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    _fake_distribution(site, "nrsc_broken_import", "broken-import", "nrsc_broken_import_mod",
                       "raise ImportError('a missing dependency')\n")
    _fake_distribution(site, "nrsc_bad_args", "bad-args", "nrsc_bad_args_mod", """
        from webapp.plugin_api import hookimpl

        @hookimpl
        def route_alert(alert, context, weather):
            return None
    """)
    monkeypatch.syspath_prepend(str(site))
    app = create_app({"NRSC_DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "x"}, load_entrypoints=True)
    host = app.extensions["nrsc.plugins"]
    failures = {f.plugin: f for f in host.failures}
    assert failures["broken-import"].hook == "import of nrsc_broken_import_mod"
    assert "a missing dependency" in failures["broken-import"].error
    assert failures["bad-args"].hook == "register"
    assert "weather" in failures["bad-args"].error
    assert set(SEVEN) <= set(host.domains)


def test_disabled_plugin_is_not_loaded(tmp_path):
    app = create_app({"NRSC_DATA_DIR": str(tmp_path), "SECRET_KEY": "x", "NRSC_DISABLED_PLUGINS": ["grazing"]},
                     load_entrypoints=True)
    domains = app.extensions["nrsc.plugins"].domains
    assert "grazing" not in domains and "fire" in domains


def test_working_groups_list_the_domains_their_plugins_name(app, org):
    from webapp.extensions import db
    from webapp.models import WorkingGroup

    groups = {g.number: set(g.domains) for g in db.session.query(WorkingGroup)}
    # Group 1 may hold installed plugins' domains too (the example's 违法建设).
    assert groups[1] >= {"farmland", "mining", "geohazard"}
    assert {n: groups[n] for n in (2, 3, 4, 5)} == {
        2: {"safety"}, 3: {"fire", "grazing"}, 4: {"ecology"}, 5: set()}


def test_the_core_default_answers_when_the_owner_returns_none():
    class Shy:
        @hookimpl
        def register_domains(self):
            return [make_domain("shy")]

        @hookimpl
        def route_alert(self, alert, context):
            return None

        @hookimpl
        def prejudge_alert(self, alert, context):
            return None

        @hookimpl
        def workorder_template(self, domain):
            return None

    host = build_host(Shy())
    shy = alert_view("shy", "shy")
    assert host.route(shy, routing_context("dahe")).lead_unit == "natural_resources"
    assert host.prejudge(shy, gis_context()).level == "medium"
    assert host.workorder_template("shy") == "orders/pdf/base.html"
    assert host.failures == []
