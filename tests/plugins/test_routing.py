"""Each domain's routing rule (DESIGN §5) and SLA clocks (DESIGN §6)."""
from __future__ import annotations

import importlib

import pytest

from webapp.plugins import build_plugin_host
from webapp.testing import alert_view, build_host, routing_context

SEVEN = ("farmland", "mining", "geohazard", "fire", "grazing", "safety", "ecology")
NR, ENF = "natural_resources", "natural_resources.enforcement"
FARM, GEO = "natural_resources.farmland_office", "natural_resources.geology_mining_office"
FOREST, RES = "forestry_grassland", "forestry_grassland.resources_office"


@pytest.fixture(scope="module")
def host():
    return build_plugin_host(load_entrypoints=True)


# domain, event type -> lead unit, lead offices, cooperating, forward_to, group (township 大河乡)
TABLE = [
    ("farmland", "illegal_occupation", NR, (ENF, FARM), (), ("comprehensive_enforcement", "town.dahe"), 1),
    ("mining", "excavator", NR, (ENF, GEO), (), ("comprehensive_enforcement", "town.dahe"), 1),
    ("geohazard", "landslide", NR, (GEO,), ("town.dahe", "emergency_management"), (), 1),
    ("fire", "fire", FOREST, (RES,), ("town.dahe",), (), 3),
    ("grazing", "illegal_grazing", FOREST, (RES,), (), ("town.dahe",), 3),
    ("grazing", "wildlife", FOREST, (RES,), (), ("town.dahe",), 3),
    ("safety", "unsafe_operation", "emergency_management", (), ("town.dahe",), (), 2),
    ("safety", "accident", "emergency_management", (), ("town.dahe",), (), 2),
    ("ecology", "straw_burning", "ecology_environment", (), ("agriculture_rural", "town.dahe"), (), 4),
    ("ecology", "dust", "ecology_environment", (), ("housing_construction", "town.dahe"), (), 4),
    ("ecology", "garbage", "ecology_environment", (), ("housing_construction", "town.dahe"), (), 4),
    ("ecology", "pollution", "ecology_environment", (), ("town.dahe",), (), 4),
]


@pytest.mark.parametrize("domain, event_type, lead, offices, cooperating, forward_to, group", TABLE)
def test_routing_follows_the_design_table(host, domain, event_type, lead, offices, cooperating, forward_to, group):
    routing = host.route(alert_view(domain, event_type), routing_context("dahe"))
    assert (routing.lead_unit, routing.lead_offices, routing.cooperating, routing.forward_to,
            routing.working_group) == (lead, offices, cooperating, forward_to, group)
    # The domain's clocks on the event type's basis (accidents and straw burning: natural time).
    assert routing.clocks == host.domain(domain).clocks_for(event_type)
    natural_types = {("safety", "accident"), ("ecology", "straw_burning")}
    if (domain, event_type) in natural_types or domain in ("fire", "geohazard"):
        assert routing.clocks.basis == "natural"
    else:
        assert routing.clocks.basis == "working"
    assert routing.note


def test_every_declared_event_type_routes_to_the_domains_lead(host):
    for code in SEVEN:
        leads = {host.route(alert_view(code, e.code), routing_context("liuquan")).lead_unit
                 for e in host.domain(code).event_types}
        assert len(leads) == 1, code


def test_ecology_routing_changes_when_the_officer_corrects_the_event_type(host):
    # Scenario 5: smoke first seen as fire, corrected to straw burning.
    as_fire = host.route(alert_view("fire", "fire"), routing_context("hongsipu"))
    corrected = host.route(alert_view("ecology", "straw_burning"), routing_context("hongsipu"))
    assert as_fire.lead_unit == "forestry_grassland"
    assert (corrected.lead_unit, corrected.cooperating) == (
        "ecology_environment", ("agriculture_rural", "town.hongsipu"))


def test_township_unit_comes_from_the_routing_context(host):
    for township, unit in (("taiyangshan", "town.taiyangshan"), ("xinzhuangji", "town.xinzhuangji")):
        assert host.route(alert_view("mining", "excavator"), routing_context(township)).forward_to == (
            "comprehensive_enforcement", unit)


def test_without_a_township_nobody_is_invented_and_the_note_says_so(host):
    routing = host.route(alert_view("farmland", "farmland_damage"), routing_context(None))
    assert routing.forward_to == ("comprehensive_enforcement",)
    assert "未能确定事件所在乡镇" in routing.note
    assert host.route(alert_view("geohazard", "collapse"), routing_context(None)).cooperating == (
        "emergency_management",)


@pytest.mark.parametrize("code", SEVEN)
def test_each_plugin_is_asked_only_about_its_own_domain(code):
    """The plugins carry no "is this my domain?" guard: the host asks each
    only about the domain it declared, and other domains get their own owner's
    answer whatever order the plugins were registered in."""
    module = importlib.import_module(f"plugins.{code}")
    host = build_host(*[importlib.import_module(f"plugins.{c}") for c in SEVEN if c != code], module)
    assert host.owners[code] == host.pm.get_name(module)
    other = "fire" if code != "fire" else "farmland"
    alert = alert_view(other, host.domain(other).event_types[0].code)
    assert host.route(alert, routing_context()).working_group == host.domain(other).working_group
    assert host.workorder_template(other) == f"orders/pdf/{other}.html"


CLOCKS = {
    # review, accept, arrive, feedback, basis, urgent, emergency allowed
    "fire": ("5m", "10m", "1h", "24h", "natural", True, True),
    "geohazard": ("5m", "10m", "1h", "24h", "natural", True, True),
    "safety": ("15m", "30m", "4h", "1wd", "working", False, True),
    "ecology": ("15m", "30m", "4h", "1wd", "working", False, False),
    "farmland": ("30m", "2h", "1wd", "3wd", "working", False, False),
    "mining": ("30m", "2h", "1wd", "3wd", "working", False, False),
    "grazing": ("30m", "2h", "1wd", "3wd", "working", False, False),
}


@pytest.mark.parametrize("code", SEVEN)
def test_sla_clocks_follow_design_section_6(host, code):
    d = host.domain(code)
    sla = d.sla
    assert (str(sla.review), str(sla.accept), str(sla.arrive), str(sla.feedback), sla.basis,
            d.urgent, d.emergency_allowed) == CLOCKS[code]


def test_geohazard_arrival_is_sixty_minutes_of_natural_time(host):
    sla = host.domain("geohazard").sla
    assert (sla.arrive.minutes, sla.arrive.working_days, sla.basis) == (60, 0, "natural")
    assert host.domain("farmland").sla.feedback.working_days == 3
