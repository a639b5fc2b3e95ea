"""GIS layers come from plugins: a new domain that reads a new layer needs no
core change, from import to the admin page and the alert map."""
from __future__ import annotations

import json

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import select

from webapp.alerts.views import map_data
from webapp.cli import main
from webapp.extensions import db
from webapp.models import Alert, Parcel
from webapp.plugin_api import GisLayer, hookimpl

LAT, LON = 37.40, 106.06


class QuarryLayer:
    @hookimpl
    def register_gis_layers(self):
        return [GisLayer("quarry_pit", "采坑", "Quarry pit", "#795548")]


def _import(app, tmp_path, layer):
    path = tmp_path / "pits.geojson"
    feature = {"type": "Feature", "geometry": mapping(box(LON - 0.001, LAT - 0.001, LON + 0.001, LAT + 0.001)),
               "properties": {"code": "PIT-1", "name": "一号采坑"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return app.test_cli_runner().invoke(main, args=["parcels", "import", str(path), "--layer", layer])


@pytest.mark.parametrize("extra_plugins", [[QuarryLayer()]])
def test_a_plugins_new_layer_is_imported_listed_and_drawn(app, org, login_as, tmp_path, clock):
    result = _import(app, tmp_path, "quarry_pit")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Parcel.layer)) == "quarry_pit"

    browser, _ = login_as("office_staff", "natural_resources")
    page = browser.get("/admin/parcels").get_data(as_text=True)
    assert '<option value="quarry_pit"' in page and "采坑 (1)" in page
    assert "林地／草地 (0)" in page  # the seven plugins' layers are listed too
    assert "<td>采坑</td>" in browser.get("/admin/parcels?layer=quarry_pit").get_data(as_text=True)

    alert = Alert(domain="mining", event_type="excavator", status="new", source="test",
                  lat=LAT, lon=LON, occurred_at=clock())
    db.session.add(alert)
    db.session.commit()
    drawn = map_data(alert)["parcels"]
    assert [(p["layer"], p["layer_name"], p["colour"]) for p in drawn] == [("quarry_pit", "采坑", "#795548")]


def test_an_undeclared_layer_is_refused_naming_the_declared_ones(app, org, tmp_path):
    result = _import(app, tmp_path, "quarry_pit")
    assert result.exit_code != 0
    assert "unknown layer 'quarry_pit'" in result.output and "forest_grassland" in result.output
    assert db.session.scalar(select(Parcel.id)) is None
