"""GIS context on imported parcels, the import command, the township tiling."""
from __future__ import annotations

import json
import time

from shapely.geometry import box, mapping
from sqlalchemy import func, insert, select

from webapp.alerts.intake import ingest
from webapp.extensions import db
from webapp.gis import context as gis
from webapp.models import AuditEvent, Parcel, Township

LAT, LON = 37.40, 106.06


def square(lon, lat, half_deg, **props):
    return {"type": "Feature", "geometry": mapping(box(lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg)),
            "properties": props}


def write(tmp_path, features, name="layer.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return str(path)


def run_import(app, path, *args):
    from webapp.cli import main
    return app.test_cli_runner().invoke(main, args=["parcels", "import", path, *args])


def test_import_reports_rejects_and_upserts(app, org, tmp_path):
    features = [
        square(LON, LAT, 0.001, code="BF-1", name="基本农田1", owner="红寺堡镇某村"),
        square(LON + 0.01, LAT, 0.001, name="no code"),
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
         "properties": {"code": "BOWTIE"}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "nonsense"}, "properties": {"code": "BAD"}},
        square(LON, LAT, 0.001, code="BF-1"),
        square(LON, LAT, 0.001, code="BF-2", valid_from="not a date"),
    ]
    result = run_import(app, write(tmp_path, features), "--layer", "basic_farmland")
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 5 rejected" in result.output
    for text in ("#1: missing 'code' property", "#2 (BOWTIE): invalid geometry (Self-intersection",
                 "#3 (BAD): malformed geometry", "#4 (BF-1): code repeated", "#5 (BF-2): valid_from"):
        assert text in result.output, result.output
    parcel = db.session.scalar(select(Parcel))
    assert (parcel.layer, parcel.code, parcel.name, parcel.attributes) == (
        "basic_farmland", "BF-1", "基本农田1", {"owner": "红寺堡镇某村"})
    # Upsert by (layer, code): a second import updates in place and bumps the revision.
    result = run_import(app, write(tmp_path, [square(LON, LAT, 0.002, code="BF-1", name="改")]),
                        "--layer", "basic_farmland")
    assert "0 created, 1 updated, 0 rejected" in result.output
    db.session.expire_all()
    parcel = db.session.scalar(select(Parcel))
    assert parcel.name == "改" and parcel.revision >= 2 and round(parcel.max_lat - parcel.min_lat, 3) == 0.004
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "parcels_imported")) == 2


def test_fatal_import_errors_write_nothing(app, org, tmp_path):
    good = [square(LON, LAT, 0.001, code="M-1")]
    not_json = tmp_path / "broken.geojson"
    not_json.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    cases = [
        (run_import(app, str(not_json), "--layer", "mining_permit"), "not valid JSON"),
        (run_import(app, write(tmp_path, good), "--layer", "no_such_layer"), "unknown layer"),
        (run_import(app, str(tmp_path / "missing.geojson"), "--layer", "mining_permit"), "cannot read"),
        (run_import(app, write(tmp_path, good + [{"type": "Feature", "properties": {}}]),
                    "--layer", "mining_permit", "--strict"), "--strict"),
    ]
    for result, text in cases:
        assert result.exit_code != 0 and text in result.output and "nothing was imported" in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(Parcel)) == 0


def test_alert_context_lists_layers_with_validity_and_prejudges(app, org, tmp_path, clock):
    run_import(app, write(tmp_path, [
        square(LON, LAT, 0.002, code="CK-1", name="采矿权1", holder="某砂石公司",
               valid_from="2024-01-01", valid_to="2026-06-30"),
    ]), "--layer", "mining_permit")
    run_import(app, write(tmp_path, [
        square(LON, LAT, 0.01, code="BF-9", name="基本农田9"),
        square(LON + 0.003, LAT, 0.001, code="BF-10"),   # its west edge ~177 m east: near
        square(LON + 0.05, LAT, 0.001, code="BF-FAR"),
    ], "bf.geojson"), "--layer", "basic_farmland")
    alert, _ = ingest({"domain": "mining", "event_type": "illegal_mining", "lat": LAT, "lon": LON,
                       "source_event_id": "m1"}, source="box1")
    context = gis.context_from_json(alert.gis_context)
    permit = context.layer("mining_permit", inside=True)[0]
    assert permit.code == "CK-1" and permit.attributes["holder"] == "某砂石公司"
    assert permit.attributes["valid_on_date"] is False and permit.attributes["valid_to"] == "2026-06-30"
    assert [f.code for f in context.layer("basic_farmland", inside=True)] == ["BF-9"]
    near = context.layer("basic_farmland", inside=False)
    assert [f.code for f in near] == ["BF-10"] and 150 < near[0].distance_m < 200
    assert alert.township.code == "hongsipu" and alert.gis_context["township_name"] == "红寺堡镇"
    # The permit had expired on the event's date: the plugin judges it high.
    assert alert.prejudgement_level == "high" and alert.prejudgement_reasons == ["不在有效采矿权范围内"]

    # Renewing the permit is seen by the next alert (index invalidated by the revision sum).
    run_import(app, write(tmp_path, [square(LON, LAT, 0.002, code="CK-1", valid_to="2027-12-31")]),
               "--layer", "mining_permit")
    renewed, created = ingest({"domain": "mining", "event_type": "illegal_mining", "lat": LAT + 0.01, "lon": LON,
                               "source_event_id": "m2"}, source="box1")
    assert created and renewed.prejudgement_level == "high"  # outside the permit now (1.1 km north)
    inside, created = ingest({"domain": "mining", "event_type": "illegal_mining", "lat": LAT, "lon": LON + 0.0005,
                              "source_event_id": "m3"}, source="box2")
    assert not created  # joined the first; context is computed once
    alert.status = "false_alarm"
    db.session.commit()
    fresh, created = ingest({"domain": "mining", "event_type": "illegal_mining", "lat": LAT, "lon": LON,
                             "source_event_id": "m4"}, source="box1")
    assert created and fresh.prejudgement_level == "low"
    assert gis.context_from_json(fresh.gis_context).layer("mining_permit")[0].attributes["valid_on_date"] is True


def test_townships_tile_the_district(app, org):
    towns = {t.code for t in db.session.scalars(select(Township))}
    index = gis.get_index()
    hits: dict[str, int] = {}
    lat = 37.0
    while lat <= 37.62:
        lon = 105.88
        while lon <= 106.6:
            town = gis.township_at(lat, lon)
            inside = gis.in_district(lat, lon)
            assert (town is not None) == inside, (lat, lon)
            if town is not None:
                # Exactly one township holds an interior point.
                holders = [t.code for t, g in zip(index.townships, index.township_geoms)
                           if g.contains(gis.metric_point(lat, lon))]
                assert holders in ([town.code], []), (lat, lon, holders)
                hits[town.code] = hits.get(town.code, 0) + 1
            lon += 0.02
        lat += 0.02
    assert set(hits) == towns
    assert gis.township_at(38.6, 106.0) is None and not gis.in_district(38.6, 106.0)
    assert gis.township_at(37.40, 106.06).code == "hongsipu"
    assert gis.township_at(37.42, 106.45).code == "taiyangshan"


def test_spatial_index_stays_fast_with_many_parcels(app, org):
    rows = []
    for i in range(20_000):
        lon, lat = 105.95 + (i % 200) * 0.003, 37.1 + (i // 200) * 0.004
        geom = box(lon, lat, lon + 0.002, lat + 0.003)
        rows.append({"layer": "cultivated_land", "code": f"C{i}", "name": "", "geometry": mapping(geom),
                     "min_lon": lon, "min_lat": lat, "max_lon": lon + 0.002, "max_lat": lat + 0.003,
                     "attributes": {}, "source": "bench", "revision": 1})
    db.session.execute(insert(Parcel), rows)
    db.session.commit()
    gis.get_index()  # build once
    started = time.perf_counter()
    for i in range(200):
        context = gis.context_at(37.1 + (i % 100) * 0.004 + 0.001, 105.95 + i * 0.003 + 0.001)
        assert context.features
    per_lookup = (time.perf_counter() - started) / 200
    assert per_lookup < 0.02, f"{per_lookup * 1000:.1f} ms per lookup"
