"""Checklists, work-order templates and the test kit's contract check for the seven plugins."""
from __future__ import annotations

import importlib

import pytest
from jinja2 import ChoiceLoader, DictLoader

from webapp.plugin_api import Domain, EventType, GisLayer, Routing, hookimpl
from webapp.plugins import build_plugin_host
from webapp.testing import alert_view, assert_plugin_ok, plugin_problems

SEVEN = ("farmland", "mining", "geohazard", "fire", "grazing", "safety", "ecology")
STAND_IN_BASE = "<main>{% block domain_details %}{% endblock %}</main>"


@pytest.mark.parametrize("code", SEVEN)
def test_plugin_passes_the_test_kits_contract_check(code):
    assert_plugin_ok(importlib.import_module(f"plugins.{code}"))


def test_checklists_are_per_domain_and_per_event_type():
    host = build_plugin_host(load_entrypoints=True)
    straw = host.checklist(alert_view("ecology", "straw_burning"))
    garbage = host.checklist(alert_view("ecology", "garbage"))
    assert straw != garbage and straw[-1] == garbage[-1] == "事件所在乡镇是否已确认？"
    assert any("秸秆" in line for line in straw) and any("倾倒物" in line for line in garbage)
    wildlife = host.checklist(alert_view("grazing", "wildlife"))
    assert any("野生动植物" in line for line in wildlife)
    assert any("禁牧期" in line for line in host.checklist(alert_view("grazing", "illegal_grazing")))
    for code in SEVEN:
        lines = host.checklist(alert_view(code, host.domain(code).event_types[0].code))
        assert lines and all(isinstance(line, str) and line for line in lines), code


@pytest.mark.parametrize("code", SEVEN)
def test_workorder_template_is_found_by_the_app_and_fills_domain_details(app, code):
    host = app.extensions["nrsc.plugins"]
    name = host.workorder_template(code)
    assert name == f"orders/pdf/{code}.html"
    source, _, _ = app.jinja_env.loader.get_source(app.jinja_env, name)
    assert '{% extends "orders/pdf/base.html" %}' in source
    # Render against a stand-in base: the core's base template is another area's.
    env = app.jinja_env.overlay(loader=ChoiceLoader([DictLoader({"orders/pdf/base.html": STAND_IN_BASE}),
                                                     app.jinja_env.loader]))
    with app.test_request_context("/?lang=en"):
        html = env.get_template(name).render()
    assert html.startswith("<main>") and html.count("<tr>") >= 5
    assert "findings on site" in html


def test_contract_check_names_what_a_bad_plugin_gets_wrong():
    bad = Domain(code="Bad-Code", name_zh="坏", name_en="", colour="red", icon="x", working_group=9,
                 event_types=(EventType("a", "甲", "A"), EventType("a", "甲", "A")),
                 sla=build_plugin_host(load_entrypoints=True).domain("fire").sla)

    class Sloppy:
        @hookimpl
        def register_domains(self):
            return [bad]

        @hookimpl
        def register_gis_layers(self):
            return [GisLayer("Bad Layer", "坏图层", "", "blue", geometry="blob")]

        @hookimpl
        def route_alert(self, alert, context):
            # Names a unit that does not exist.
            return Routing(lead_unit="ministry_of_magic", working_group=1)

        @hookimpl
        def workorder_template(self, domain):
            return "orders/pdf/missing.html"

        @hookimpl
        def route_alerts(self, alert):  # a typo: no such hook
            return None

    problems = plugin_problems(Sloppy())
    assert problems and "route_alerts" in problems[0]
    del Sloppy.route_alerts
    problems = "\n".join(plugin_problems(Sloppy()))
    for expected in ("'Bad-Code' is not lower_snake_case", "colour 'red'", "working group 9",
                     "name_zh and name_en", "event type codes repeat", "unknown unit 'ministry_of_magic'",
                     "prejudge_alert returned None", "review_checklist gives no lines",
                     "GIS layer code 'Bad Layer'", "GIS layer Bad Layer: colour 'blue'",
                     "GIS layer Bad Layer: needs both", "geometry 'blob'",
                     "template 'orders/pdf/missing.html' not found"):
        assert expected in problems


@pytest.mark.parametrize("code", SEVEN)
def test_domain_details_print_on_the_real_work_order(app, org, code):
    """With the core's base template, a domain's order prints its own fields."""
    from webapp.extensions import db
    from webapp.models import WorkOrder
    from webapp.printing.pdf import render_order_html

    order = WorkOrder(number=f"HSB-TEST-{code}", kind="alert", domain=code,
                      event_type=app.extensions["nrsc.plugins"].domain(code).event_types[0].code,
                      title="测试工单", working_group=1)
    db.session.add(order)
    db.session.commit()
    with app.test_request_context("/?lang=en"):
        html = render_order_html(order)
    assert "HSB-TEST-" in html and "findings on site" in html
    assert html.count("<tr><th>") >= 5
