"""One visibility rule through pages, API, PDF and files: handling offices
decide who inside a department sees and acts; the department sees all; a unit
taken off an order keeps only its own records."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EvidenceFile, OrderParticipant, OutboxMessage, Unit

GEO = "natural_resources.geology_mining_office"
ENF = "natural_resources.enforcement"
FARM = "natural_resources.farmland_office"


def part(order, unit):
    return next(p for p in order["participants"] if p["unit"] == unit)


@pytest.fixture
def geo_order(dispatched, people, with_photo):
    """A drill order led by natural_resources with 地质矿产管理室 as handling office;
    the geology handler accepts and checks in with a photo."""
    order = dispatched()
    oid = order["id"]
    assert people.nr.post(f"/api/v1/orders/{oid}/accept").status_code == 200
    r = people.nr.post(f"/api/v1/orders/{oid}/arrive", data=with_photo(lat=37.141, lon=106.35, accuracy_m=8))
    assert r.status_code == 200, r.get_json()
    photo = r.get_json()["checkin_photos"][0]
    file_id = photo["id"] if isinstance(photo, dict) else int(str(photo).rstrip("/").split("/")[-1])
    return oid, file_id


def _page_status(login_as, role, unit, oid, file_id):
    browser, _user = login_as(role, unit)
    return {
        "office_page": browser.get(f"/orders/{oid}").status_code,
        "phone_page": browser.get(f"/unit/orders/{oid}").status_code,
        "pdf": browser.get(f"/orders/{oid}/pdf").status_code,
        "file": browser.get(f"/files/{file_id}").status_code,
        "order_file": browser.get(f"/orders/{oid}/files/{file_id}").status_code,
        "accept_form": browser.post(f"/unit/orders/{oid}/accept", data={}).status_code,
    }


def test_another_office_of_the_department_neither_sees_nor_acts(geo_order, api_as, login_as):
    oid, file_id = geo_order
    for unit in (ENF, FARM):
        other = api_as("unit_handler", unit)
        assert other.get(f"/api/v1/orders/{oid}").status_code == 403
        assert other.get(f"/api/v1/orders/{oid}/pdf").status_code == 404
        assert other.post(f"/api/v1/orders/{oid}/feedback", json={"result": "stopped", "text": "x"}).status_code == 403
        assert other.get("/api/v1/orders").get_json()["orders"] == []
        got = _page_status(login_as, "unit_handler", unit, oid, file_id)
        assert got["office_page"] == 403 and got["phone_page"] == 403 and got["order_file"] == 403
        assert got["pdf"] == 404 and got["file"] == 404 and got["accept_form"] == 403
        # Nor does that office's leader.
        leader = api_as("unit_leader", unit)
        assert leader.get(f"/api/v1/orders/{oid}").status_code == 403


@pytest.mark.parametrize("role,unit", [("unit_handler", GEO), ("unit_leader", GEO),
                                       ("unit_leader", "natural_resources"),
                                       ("unit_handler", "natural_resources")])
def test_the_handling_office_and_the_department_see(geo_order, api_as, login_as, role, unit):
    oid, file_id = geo_order
    viewer = api_as(role, unit)
    assert viewer.get(f"/api/v1/orders/{oid}").status_code == 200
    assert viewer.get(f"/api/v1/orders/{oid}/pdf").status_code == 200
    assert [o["id"] for o in viewer.get("/api/v1/orders").get_json()["orders"]] == [oid]
    browser, _user = login_as(role, unit)
    assert browser.get(f"/unit/orders/{oid}").status_code == 200
    assert browser.get(f"/files/{file_id}").status_code == 200
    assert browser.get(f"/orders/{oid}/pdf").status_code == 200


def test_department_leader_sees_what_its_offices_see(geo_order, api_as):
    oid, _file = geo_order
    leader = api_as("unit_leader", "natural_resources")
    assert leader.get(f"/api/v1/orders/{oid}").status_code == 200
    # Department-level staff act on it too (the geology office accepted already).
    r = leader.post(f"/api/v1/orders/{oid}/accept")
    assert r.status_code == 409 and r.get_json()["error"] != "forbidden"


def test_handling_offices_are_notified(geo_order):
    oid, _file = geo_order
    geo = db.session.scalar(select(Unit).where(Unit.code == GEO))
    enf = db.session.scalar(select(Unit).where(Unit.code == ENF))
    units = {m.unit_id for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == oid))}
    assert geo.id in units and enf.id not in units


def test_unit_taken_off_keeps_only_its_own_records(dispatched, people, api_as, login_as, with_photo, app):
    order = dispatched()
    oid = order["id"]
    pid = part(order, "town.liuquan")["id"]
    assert people.liuquan.get(f"/api/v1/orders/{oid}").status_code == 200
    people.liuquan.post(f"/api/v1/orders/{oid}/return", json={"reason": "属大河乡"})
    people.lead.post(f"/api/v1/orders/{oid}/return-decision", json={"justified": True})
    r = people.duty.post(f"/api/v1/orders/{oid}/redispatch", json={"units": {str(pid): "town.dahe"}})
    assert r.status_code == 200, r.get_json()
    dahe = api_as("unit_handler", "town.dahe")
    assert dahe.post(f"/api/v1/orders/{oid}/accept").status_code == 200
    r = dahe.post(f"/api/v1/orders/{oid}/arrive", data=with_photo(lat=37.141, lon=106.35, accuracy_m=8))
    assert r.status_code == 200, r.get_json()
    new_photo = db.session.scalar(select(EvidenceFile).where(EvidenceFile.order_id == oid,
                                                             EvidenceFile.kind.in_(("checkin", "arrive")))
                                  .order_by(EvidenceFile.id.desc()))
    # A record of the withdrawn participant (what it sent while it took part).
    mine = EvidenceFile(sha256=new_photo.sha256, path=new_photo.path, content_type="image/jpeg",
                        size=new_photo.size, kind="checkin", order_id=oid, participant_id=pid)
    db.session.add(mine)
    db.session.commit()
    assert db.session.get(OrderParticipant, pid).state == "withdrawn"

    # Everywhere the same answer: the order is no longer the town's.
    assert people.liuquan.get(f"/api/v1/orders/{oid}").status_code == 403
    assert people.liuquan.get(f"/api/v1/orders/{oid}/pdf").status_code == 404
    assert people.liuquan.get("/api/v1/orders").get_json()["orders"] == []
    browser, _user = login_as("unit_handler", "town.liuquan")
    assert browser.get(f"/unit/orders/{oid}").status_code == 403
    assert browser.get(f"/orders/{oid}/pdf").status_code == 404
    assert browser.get(f"/orders/{oid}/deliveries").status_code == 404
    assert browser.get(f"/files/{new_photo.id}").status_code == 404
    # ... but its own record stays readable.
    assert browser.get(f"/files/{mine.id}").status_code == 200
