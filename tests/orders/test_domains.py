"""The whole loop through real HTTP for each of the seven domains, with the
real domain plugins' routing (DESIGN.md §5)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.orders import deadlines

# domain, event type, where, lead, lead offices, cooperating, forward_to, working group, basis
CASES = [
    ("farmland", "farmland_damage", "xinzhuangji", "natural_resources",
     {"natural_resources.enforcement", "natural_resources.farmland_office"}, set(),
     {"comprehensive_enforcement", "town.xinzhuangji"}, 1, "working"),
    ("mining", "excavator", "taiyangshan", "natural_resources",
     {"natural_resources.enforcement", "natural_resources.geology_mining_office"}, set(),
     {"comprehensive_enforcement", "town.taiyangshan"}, 1, "working"),
    ("geohazard", "landslide", "liuquan", "natural_resources",
     {"natural_resources.geology_mining_office"}, {"town.liuquan", "emergency_management"}, set(), 1, "natural"),
    ("fire", "fire", "dahe", "forestry_grassland", {"forestry_grassland.resources_office"},
     {"town.dahe"}, set(), 3, "natural"),
    ("grazing", "grazing", "xinzhuangji", "forestry_grassland", {"forestry_grassland.resources_office"},
     set(), {"town.xinzhuangji"}, 3, "working"),
    ("safety", "hot_work", "hongsipu", "emergency_management", set(), {"town.hongsipu"}, set(), 2, "working"),
    ("ecology", "straw_burning", "hongsipu", "ecology_environment", set(),
     {"agriculture_rural", "town.hongsipu"}, set(), 4, "natural"),  # straw fires spread: natural time
]


@pytest.mark.parametrize("domain, event_type, town, lead, offices, cooperating, forward_to, group, basis",
                         CASES, ids=[c[0] for c in CASES])
def test_whole_loop_per_domain(domain, event_type, town, lead, offices, cooperating, forward_to, group, basis,
                               make_alert, api_as, people, places, with_photo, clock):
    alert = make_alert(domain, event_type, at=getattr(places, town))
    plan = people.duty.get(f"/api/v1/alerts/{alert.id}/dispatch").get_json()
    assert plan["lead_unit"] == lead and set(plan["lead_offices"]) == offices
    assert set(plan["forward_to"]) == forward_to
    r = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={})
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    oid = order["id"]
    assert order["working_group"] == group and order["clocks"]["basis"] == basis
    assert order["township"] == town
    roles = {p["unit"]: p["role"] for p in order["participants"]}
    assert roles == {lead: "lead", **{c: "cooperating" for c in cooperating}}

    lead_api = api_as("unit_handler", sorted(offices)[0] if offices else lead)
    assert lead_api.post(f"/api/v1/orders/{oid}/accept").get_json()["state"] == "in_progress"
    for unit in sorted(cooperating):
        assert api_as("unit_handler", unit).post(f"/api/v1/orders/{oid}/accept").status_code == 200
    for unit in sorted(forward_to):
        r = lead_api.post(f"/api/v1/orders/{oid}/forward", json={"unit": unit, "note": "请核实处置"})
        assert r.status_code == 200, r.get_json()
        handler = api_as("unit_handler", unit)
        assert handler.post(f"/api/v1/orders/{oid}/accept").status_code == 200
        r = handler.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped", text="已制止"))
        assert r.status_code == 200 and r.get_json()["state"] == "in_progress"
    clock.advance(minutes=30)
    lat, lon = getattr(places, town)
    r = lead_api.post(f"/api/v1/orders/{oid}/arrive", data=with_photo(lat=lat + 0.001, lon=lon))
    assert r.status_code == 200, r.get_json()
    r = lead_api.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="resolved", text="已处置完毕"))
    assert r.get_json()["state"] == "to_review"
    r = people.duty.post(f"/api/v1/orders/{oid}/close", json={"version": r.get_json()["version"],
                                                              "confirm_unfinished": True})
    assert r.status_code == 200 and r.get_json()["state"] == "closed"
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == oid))]
    assert actions[0] == "dispatch" and actions[-1] == "close"
    assert actions.count("forward") == len(forward_to)


def test_scenario_3_geohazard_township_on_time_lead_late(app, make_alert, people, make_user, places, clock):
    from datetime import datetime

    from webapp.models import OutboxMessage
    from webapp.platform.clock import LOCAL_TZ

    leader = make_user("unit_leader", "natural_resources")
    clock.set(datetime(2026, 11, 20, 15, 2, tzinfo=LOCAL_TZ))
    alert = make_alert("geohazard", "landslide", at=places.liuquan)
    order = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={"emergency": True}).get_json()
    oid = order["id"]
    assert order["emergency"] is True and order["priority"] == "urgent"
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    people.liuquan.post(f"/api/v1/orders/{oid}/accept")
    clock.set(datetime(2026, 11, 20, 15, 47, tzinfo=LOCAL_TZ))
    r = people.liuquan.post(f"/api/v1/orders/{oid}/arrive", json={"lat": places.liuquan[0] + 0.0005,
                                                                  "lon": places.liuquan[1]})
    town = next(p for p in r.get_json()["participants"] if p["unit"] == "town.liuquan")
    assert town["sla"]["arrive"]["on_time"] is True and 50 < town["arrive_distance_m"] < 60
    clock.set(datetime(2026, 11, 20, 16, 3, tzinfo=LOCAL_TZ))
    deadlines.sla_sweep()
    clock.set(datetime(2026, 11, 20, 16, 9, tzinfo=LOCAL_TZ))
    r = people.nr.post(f"/api/v1/orders/{oid}/arrive", json={"lat": places.liuquan[0], "lon": places.liuquan[1]})
    body = r.get_json()
    lead = next(p for p in body["participants"] if p["unit"] == "natural_resources")
    assert lead["sla"]["arrive"]["on_time"] is False and lead["sla"]["arrive"]["overdue"] is True
    assert body["supervised"] is True
    assert db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == f"user:{leader.login}")).all()


def test_scenario_5_ecology_return_unjustified_and_redispatch(make_alert, api_as, people, places):
    alert = make_alert("ecology", "straw_burning", at=places.hongsipu)
    order = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch").get_json()
    oid = order["id"]
    town = api_as("unit_handler", "town.hongsipu")
    assert town.post(f"/api/v1/orders/{oid}/return", json={"reason": "不是我们的辖区"}).get_json()["state"] == "returned"
    people.lead.post(f"/api/v1/orders/{oid}/return-decision", json={"justified": False, "note": "地图显示在辖区内"})
    order = people.duty.post(f"/api/v1/orders/{oid}/redispatch").get_json()
    assert order["state"] == "to_accept"
    p = next(p for p in order["participants"] if p["unit"] == "town.hongsipu")
    assert p["return_justified"] is False and p["return_count"] == 1 and p["state"] == "to_accept"
