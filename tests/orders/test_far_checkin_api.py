"""The API's check-in farther than NRSC_CHECKIN_FAR_M from the event: refused
without ``far_reason`` (nothing stored), kept with it, in the order JSON."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import AuditEvent


def _lead(order_json):
    return next(p for p in order_json["participants"] if p["role"] == "lead")


def test_far_checkin_over_the_api_needs_a_reason(dispatched, people, places):
    order = dispatched()
    oid = order["id"]
    assert people.nr.post(f"/api/v1/orders/{oid}/accept").status_code == 200
    far = {"lat": places.liuquan[0] + 0.02, "lon": places.liuquan[1]}       # about 2.2 km
    r = people.nr.post(f"/api/v1/orders/{oid}/arrive", json=far)
    assert r.status_code == 400 and r.get_json()["error"] == "far_checkin_needs_reason"
    assert "请说明原因" in r.get_json()["message"]
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity_id == oid, AuditEvent.action == "arrive")) == 0

    r = people.nr.post(f"/api/v1/orders/{oid}/arrive", json={**far, "far_reason": "滑坡阻断道路，在坡下观察"})
    assert r.status_code == 200, r.get_json()
    lead = _lead(r.get_json())
    assert lead["arrive_far_reason"] == "滑坡阻断道路，在坡下观察" and 2000 < lead["arrive_distance_m"] < 2500
