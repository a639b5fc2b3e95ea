"""The example plugin tested with the platform's test kit (``-p webapp.testing``)."""
from __future__ import annotations

import nrsc_illegal_construction as plugin
import numpy as np
import pytest

from webapp.plugin_api import DetectionContext
from webapp.testing import (
    alert_view,
    assert_plugin_ok,
    gis_context,
    gis_feature,
    routing_context,
)


@pytest.fixture
def nrsc_plugins():
    return [plugin]


def test_the_plugin_keeps_the_contract():
    assert_plugin_ok(plugin)


def test_domain_and_routing_in_an_app(nrsc_host):
    assert list(nrsc_host.domains) == ["illegal_construction"]
    routing = nrsc_host.route(alert_view("illegal_construction", "steel_shed"), routing_context("dahe"))
    assert (routing.lead_unit, routing.cooperating, routing.working_group) == (
        "housing_construction", ("town.dahe",), 1)
    assert nrsc_host.workorder_template("illegal_construction") == "orders/pdf/illegal_construction.html"


def test_prejudgement(nrsc_host):
    alert = alert_view("illegal_construction", "new_building")
    approval = gis_feature("construction_approval", "JS-1", valid_to="2030-01-01")
    assert nrsc_host.prejudge(alert, gis_context(approval)).level == "low"
    assert nrsc_host.prejudge(alert, gis_context(gis_feature("basic_farmland", "JB-1"))).level == "high"
    assert nrsc_host.prejudge(alert, gis_context()).level == "medium"


def test_blue_roof_detector(nrsc_host):
    detector = nrsc_host.detectors["blue_roof"]
    field = np.full((100, 200, 3), (60, 110, 120), dtype=np.uint8)   # BGR: dry earth
    shed = field.copy()
    shed[20:40, 50:90] = (200, 120, 40)                              # a blue steel roof
    found = detector.detect([field, shed], DetectionContext(camera_code="T-05"))
    assert [(d.frame_index, d.event_type) for d in found] == [(1, "steel_shed")]
    assert found[0].box == (0.25, 0.2, 0.45, 0.4)


def test_the_app_serves_with_the_plugin(nrsc_client):
    assert nrsc_client.get("/healthz").status_code == 200
