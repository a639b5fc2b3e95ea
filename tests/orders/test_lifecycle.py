"""The work-order lifecycle through the JSON API with user-bound tokens."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    EvidenceFile,
    ExtensionRequest,
    Feedback,
    OutboxMessage,
    WorkOrder,
)
from webapp.orders import planning, states


def part(order_json, unit_code):
    return next(p for p in order_json["participants"] if p["unit"] == unit_code)


def test_dispatch_uses_the_routing_rule_and_numbers_orders(dispatched, people):
    order = dispatched()
    assert order["number"] == "HSB-2026-000001"
    assert order["state"] == "to_accept" and order["version"] == 1
    assert order["township"] == "liuquan"
    assert order["clocks"]["arrive"] == "1h" and order["clocks"]["basis"] == "natural"
    units = {p["unit"]: p["role"] for p in order["participants"]}
    assert units == {"natural_resources": "lead", "town.liuquan": "cooperating",
                     "emergency_management": "cooperating"}
    lead = part(order, "natural_resources")
    # Clocks start at dispatch and are not chained.
    assert lead["sla"]["accept"]["due_at"] == "2026-11-19T18:23:00+00:00"
    assert lead["sla"]["arrive"]["due_at"] == "2026-11-19T19:13:00+00:00"
    assert lead["sla"]["feedback"]["due_at"] == "2026-11-20T18:13:00+00:00"
    second = dispatched()
    assert second["number"] == "HSB-2026-000002"
    # Each unit was told.
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.order_id == order["id"])) >= 3


def test_dispatch_body_overrides_the_rule(make_alert, people):
    alert = make_alert()
    resp = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={
        "lead_unit": "emergency_management", "cooperating": ["town.liuquan"], "working_group": 2,
        "clocks": {"accept": "30m", "basis": "working"}, "priority": "high", "note": "速办"})
    assert resp.status_code == 201, resp.get_json()
    order = resp.get_json()
    assert [p["unit"] for p in order["participants"]] == ["emergency_management", "town.liuquan"]
    assert order["working_group"] == 2 and order["priority"] == "high"
    assert order["clocks"]["accept"] == "30m" and order["clocks"]["basis"] == "working"
    # 02:13 on a Friday night: a 30-minute working clock ends at 09:00.
    assert order["participants"][0]["sla"]["accept"]["due_at"] == "2026-11-20T01:00:00+00:00"


def test_dispatch_as_case(make_alert, people):
    alert = make_alert()
    order = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={"as_case": True}).get_json()
    assert order["working_group"] == 5
    assert {p["unit"] for p in order["participants"]} == {
        "natural_resources", "comprehensive_enforcement", "town.liuquan"}


@pytest.mark.parametrize("body, status, code", [
    ({"lead_unit": "nowhere"}, 400, "invalid"),
    ({"clocks": {"accept": "soon"}}, 400, "invalid"),
    ({"working_group": 9}, 400, "invalid"),
    ({"lead_offices": ["forestry_grassland.resources_office"]}, 400, "invalid"),
    ({"township": "atlantis"}, 400, "invalid"),
])
def test_dispatch_refuses_bad_plans(make_alert, people, body, status, code):
    alert = make_alert()
    resp = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json=body)
    assert resp.status_code == status and resp.get_json()["error"] == code, resp.get_json()
    assert db.session.scalar(select(func.count()).select_from(WorkOrder)) == 0


def test_dispatch_needs_a_confirmed_undispatched_alert_and_a_duty_role(make_alert, people):
    new = make_alert(status="new")
    assert people.duty.post(f"/api/v1/alerts/{new.id}/dispatch").status_code == 409
    alert = make_alert()
    assert people.nr.post(f"/api/v1/alerts/{alert.id}/dispatch").status_code == 403
    assert people.office.post(f"/api/v1/alerts/{alert.id}/dispatch").status_code == 403
    assert people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch").status_code == 201
    again = people.duty.post(f"/api/v1/alerts/{alert.id}/dispatch")
    assert again.status_code == 409 and "already dispatched" in again.get_json()["message"]
    assert people.duty.post("/api/v1/alerts/999999/dispatch").status_code == 404


def test_plan_is_offered_before_dispatch(make_alert, people):
    alert = make_alert()
    plan = people.duty.get(f"/api/v1/alerts/{alert.id}/dispatch").get_json()
    assert plan["lead_unit"] == "natural_resources"
    assert plan["lead_offices"] == ["natural_resources.geology_mining_office"]
    assert plan["township"] == "liuquan" and plan["emergency_allowed"] is True


def test_full_loop_with_forward_arrive_feedback_close(dispatched, people, with_photo, clock):
    order = dispatched()
    oid = order["id"]
    r = people.nr.post(f"/api/v1/orders/{oid}/accept", json={"version": order["version"]})
    assert r.status_code == 200, r.get_json()
    order = r.get_json()
    assert order["state"] == "in_progress"
    assert part(order, "natural_resources")["sla"]["accept"]["on_time"] is True
    # A cooperating unit's accept leaves the order state alone, and has its own record.
    clock.advance(minutes=20)
    order = people.liuquan.post(f"/api/v1/orders/{oid}/accept").get_json()
    assert part(order, "town.liuquan")["sla"]["accept"]["on_time"] is False
    # Forward inside the order.
    order = people.nr.post(f"/api/v1/orders/{oid}/forward", json={"unit": "comprehensive_enforcement"}).get_json()
    fwd = part(order, "comprehensive_enforcement")
    assert fwd["role"] == "forwarded"
    lead = part(order, "natural_resources")
    assert fwd["sla"]["arrive"]["due_at"] == lead["sla"]["arrive"]["due_at"]
    assert fwd["sla"]["accept"]["due_at"] == "2026-11-19T18:43:00+00:00"  # 10 min from the forward
    # Check in with GPS 0.001° north of the event: about 111 m.
    r = people.nr.post(f"/api/v1/orders/{oid}/arrive", data=with_photo(lat=37.141, lon=106.35, accuracy_m=8))
    assert r.status_code == 200, r.get_json()
    lead = part(r.get_json(), "natural_resources")
    assert 100 < lead["arrive_distance_m"] < 120 and lead["sla"]["arrive"]["on_time"] is True
    assert r.get_json()["checkin_photos"]
    # Feedback: the lead's moves the order to review.
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped", text="已处置"))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["state"] == "to_review"
    # 柳泉乡 and the forwarded 综合执法局 never fed back: closing needs a confirmation.
    r = people.duty.post(f"/api/v1/orders/{oid}/close", json={"note": "ok"})
    assert r.status_code == 409 and r.get_json()["error"] == "unfinished_confirmation_required"
    r = people.duty.post(f"/api/v1/orders/{oid}/close", json={"note": "ok", "confirm_unfinished": True})
    assert r.get_json()["state"] == "closed"
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == oid).order_by(AuditEvent.id))]
    assert actions == ["dispatch", "accept", "accept", "forward", "arrive", "feedback", "close"]
    # The office spot-checks the closed feedback.
    r = people.office.post(f"/api/v1/orders/{oid}/spot-check", json={"result": "fail"})
    assert r.status_code == 400
    r = people.office.post(f"/api/v1/orders/{oid}/spot-check", json={"result": "pass", "note": "核实"})
    assert r.get_json()["spot_check"]["result"] == "pass"


def test_unit_outside_the_order_is_refused(dispatched, people):
    order = dispatched()
    for url in (f"/api/v1/orders/{order['id']}/accept", f"/api/v1/orders/{order['id']}/return"):
        r = people.outsider.post(url, json={"reason": "x"})
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    assert people.outsider.get(f"/api/v1/orders/{order['id']}").status_code == 403
    # An office user acts for its department.
    assert people.nr.get(f"/api/v1/orders/{order['id']}").status_code == 200
    # Duty roles may not accept for a unit.
    assert people.duty.post(f"/api/v1/orders/{order['id']}/accept").status_code == 403
    listed = people.outsider.get("/api/v1/orders").get_json()["orders"]
    assert listed == []
    assert [o["id"] for o in people.liuquan.get("/api/v1/orders").get_json()["orders"]] == [order["id"]]
    assert people.duty.get("/api/v1/orders/424242").status_code == 404
    assert people.duty.client.get(f"/api/v1/orders/{order['id']}").status_code == 401


def test_stale_version_is_refused_with_what_changed(dispatched, people):
    order = dispatched()
    people.liuquan.post(f"/api/v1/orders/{order['id']}/accept", json={"version": 1})
    r = people.nr.post(f"/api/v1/orders/{order['id']}/accept", json={"version": 1})
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "stale"
    assert body["changes"][0]["action"] == "accept"
    assert "accept by" in body["message"]


def test_bad_input_is_refused_and_nothing_is_written(dispatched, people, with_photo, make_jpeg, app):
    order = dispatched()
    oid = order["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    cases = [
        ("arrive", {"lat": "", "lon": ""}, 400),
        ("arrive", {"lat": 37.1}, 400),
        ("arrive", {"lat": "north", "lon": 106.3}, 400),
        ("feedback", {"result": "stopped", "text": "no photo"}, 400),
        ("extend", {"hours": 4}, 400),
        ("extend", {"reason": "rain"}, 400),
        ("forward", {"unit": "duty"}, 400),
    ]
    for action, body, status in cases:
        r = people.nr.post(f"/api/v1/orders/{oid}/{action}", json=body)
        assert r.status_code == status, (action, body, r.get_json())
        assert r.get_json()["error"] and r.get_json()["message"]
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(text="no result"))
    assert r.status_code == 400 and "result" in r.get_json()["message"]
    # One good photo and one that is not an image: refused as a whole.
    data = {"result": "stopped", "text": "x",
            "photos": [(io.BytesIO(make_jpeg()), "a.jpg"), (io.BytesIO(b"%PDF-1.4 nope"), "b.jpg")]}
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=data)
    assert r.status_code == 400 and r.get_json()["error"] == "not_an_image"
    app.config["NRSC_MAX_IMAGE_BYTES"] = 500
    r = people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped"))
    assert r.status_code == 413
    assert db.session.scalar(select(func.count()).select_from(Feedback)) == 0
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == 0
    files = app.config["NRSC_DATA_DIR"] / "files"
    assert not files.exists() or not [p for p in files.rglob("*") if p.is_file()]
    assert people.nr.get(f"/api/v1/orders/{oid}").get_json()["version"] == 2


def test_feedback_retry_with_client_key_is_kept_once(dispatched, people, with_photo):
    order = dispatched()
    oid = order["id"]
    people.liuquan.post(f"/api/v1/orders/{oid}/accept")
    first = people.liuquan.post(f"/api/v1/orders/{oid}/feedback",
                                data=with_photo(result="resolved", text="ok", client_key="k-1", version=2))
    assert first.status_code == 200, first.get_json()
    again = people.liuquan.post(f"/api/v1/orders/{oid}/feedback",
                                data=with_photo(result="resolved", text="ok", client_key="k-1", version=2))
    assert again.status_code == 200
    assert len(again.get_json()["feedbacks"]) == 1
    # A cooperating feedback does not move the order.
    assert again.get_json()["state"] == "to_accept"


def test_return_decide_and_redispatch(dispatched, people, clock):
    order = dispatched()
    oid = order["id"]
    r = people.liuquan.post(f"/api/v1/orders/{oid}/return", json={})
    assert r.status_code == 400
    r = people.liuquan.post(f"/api/v1/orders/{oid}/return", json={"reason": "不是我们的辖区"})
    assert r.get_json()["state"] == "returned"
    # While returned the order waits.
    assert people.nr.post(f"/api/v1/orders/{oid}/accept").status_code == 409
    # Only the duty lead rules on a return.
    assert people.duty.post(f"/api/v1/orders/{oid}/return-decision", json={"justified": False}).status_code == 403
    r = people.lead.post(f"/api/v1/orders/{oid}/return-decision", json={"justified": False})
    assert part(r.get_json(), "town.liuquan")["return_justified"] is False
    clock.advance(minutes=30)
    r = people.duty.post(f"/api/v1/orders/{oid}/redispatch", json={"note": "地图显示在辖区内"})
    order = r.get_json()
    assert order["state"] == "to_accept"
    town = part(order, "town.liuquan")
    assert town["state"] == "to_accept" and town["assigned_at"] == "2026-11-19T18:43:00+00:00"
    # Second return: a dispute the duty lead must decide before re-dispatch.
    people.liuquan.post(f"/api/v1/orders/{oid}/return", json={"reason": "仍不是"})
    r = people.duty.post(f"/api/v1/orders/{oid}/redispatch", json={})
    assert r.status_code == 409 and r.get_json()["error"] == "dispute_pending"
    people.lead.post(f"/api/v1/orders/{oid}/return-decision", json={"justified": False})
    people.duty.post(f"/api/v1/orders/{oid}/redispatch", json={})
    r = people.liuquan.post(f"/api/v1/orders/{oid}/return", json={"reason": "第三次"})
    assert r.status_code == 409 and r.get_json()["error"] == "return_refused"


def test_redispatch_to_another_unit(dispatched, people):
    order = dispatched()
    oid = order["id"]
    pid = part(order, "town.liuquan")["id"]
    people.liuquan.post(f"/api/v1/orders/{oid}/return", json={"reason": "属大河乡"})
    people.lead.post(f"/api/v1/orders/{oid}/return-decision", json={"justified": True})
    order = people.duty.post(f"/api/v1/orders/{oid}/redispatch", json={"units": {str(pid): "town.dahe"}}).get_json()
    states = {p["unit"]: p["state"] for p in order["participants"]}
    assert states["town.liuquan"] == "withdrawn" and states["town.dahe"] == "to_accept"
    assert people.liuquan.post(f"/api/v1/orders/{oid}/accept").status_code == 403


def test_rework_extension_supervise_case_and_reopen(dispatched, people, with_photo, clock, app):
    order = dispatched()
    oid = order["id"]
    people.nr.post(f"/api/v1/orders/{oid}/accept")
    r = people.nr.post(f"/api/v1/orders/{oid}/extend", json={"reason": "道路中断", "hours": 12})
    assert r.status_code == 200, r.get_json()
    assert people.nr.post(f"/api/v1/orders/{oid}/extend", json={"reason": "again", "hours": 1}).status_code == 409
    assert people.nr.post(f"/api/v1/orders/{oid}/approve-extension", json={}).status_code == 403
    r = people.duty.post(f"/api/v1/orders/{oid}/approve-extension", json={"approve": True})
    lead = part(r.get_json(), "natural_resources")
    assert lead["sla"]["feedback"]["due_at"] == "2026-11-21T06:13:00+00:00"
    assert people.nr.post(f"/api/v1/orders/{oid}/supervise", json={"note": "x"}).status_code == 403
    assert people.office.post(f"/api/v1/orders/{oid}/supervise", json={}).status_code == 400
    r = people.office.post(f"/api/v1/orders/{oid}/supervise", json={"note": "尽快处置"})
    assert r.get_json()["supervised"] is True and r.get_json()["supervise_note"] == "尽快处置"
    r = people.nr.post(f"/api/v1/orders/{oid}/transfer-case", json={"case_number": "红自然资立〔2026〕12号"})
    assert r.get_json()["case_transferred"] is True
    assert people.nr.post(f"/api/v1/orders/{oid}/transfer-case",
                          json={"case_number": "again"}).status_code == 409
    people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="case_filed", text="已立案"))
    r = people.duty.post(f"/api/v1/orders/{oid}/rework", json={})
    assert r.status_code == 400
    r = people.duty.post(f"/api/v1/orders/{oid}/rework", json={"reason": "照片不清楚"})
    assert r.get_json()["state"] == "in_progress" and r.get_json()["rework_count"] == 1
    assert r.get_json()["feedbacks"][0]["review_result"] == "rework"
    people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="case_filed", text="补充照片"))
    people.duty.post(f"/api/v1/orders/{oid}/close", json={"confirm_unfinished": True})
    clock.advance(days=3)
    r = people.duty.post(f"/api/v1/orders/{oid}/reopen", json={"reason": "复发"})
    assert r.get_json()["state"] == "in_progress" and r.get_json()["reopen_count"] == 1
    people.nr.post(f"/api/v1/orders/{oid}/feedback", data=with_photo(result="stopped", text="再次制止"))
    people.duty.post(f"/api/v1/orders/{oid}/close", json={"confirm_unfinished": True})
    clock.advance(days=31)
    r = people.duty.post(f"/api/v1/orders/{oid}/reopen", json={"reason": "太晚"})
    assert r.status_code == 409 and r.get_json()["error"] == "reopen_too_late"


def test_emergency_only_where_the_domain_allows(dispatched, people):
    order = dispatched()
    r = people.duty.post(f"/api/v1/orders/{order['id']}/emergency", json={"note": "启动Ⅳ级响应"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["emergency"] is True and body["priority"] == "urgent"
    targets = set(db.session.scalars(select(OutboxMessage.target).where(
        OutboxMessage.order_id == order["id"], OutboxMessage.title.like("启动应急响应%"))))
    assert targets  # the leading group's and 应急管理局's channels
    assert people.duty.post(f"/api/v1/orders/{order['id']}/emergency").status_code == 409
    paper = dispatched("paper", "form")
    r = people.duty.post(f"/api/v1/orders/{paper['id']}/emergency")
    assert r.status_code == 409 and r.get_json()["error"] == "emergency_not_allowed"


def test_maintenance_order_for_a_camera(app, org, people, api_as, with_photo):
    from webapp.models import Camera

    camera = Camera(code="T-09", name="T-09", kind="tower", lat=37.3, lon=106.2)
    db.session.add(camera)
    db.session.commit()
    order = planning.create_maintenance_order(camera, "T-09 无响应", "三次抓图失败")
    assert order.kind == "maintenance" and order.alert_id is None
    assert order.lead.unit.code == "operator" and order.number.startswith("HSB-2026-")
    # A flapping camera does not raise a second order while one is open.
    assert planning.create_maintenance_order(camera, "T-09 无响应").id == order.id
    operator = api_as("unit_handler", "operator")
    assert operator.post(f"/api/v1/orders/{order.id}/accept").status_code == 200
    r = operator.post(f"/api/v1/orders/{order.id}/feedback", data=with_photo(result="resolved", text="光纤中断，已修复"))
    assert r.get_json()["state"] == "to_review"
    assert people.duty.post(f"/api/v1/orders/{order.id}/close").get_json()["state"] == "closed"


def test_every_action_is_its_own_documented_path(app, people):
    spec = people.duty.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert "post" in paths["/alerts/{id}/dispatch"] and "get" in paths["/orders/{id}"]
    for action in states.API_ACTIONS:
        op = paths[f"/orders/{{id}}/{action}"]["post"]
        assert op["responses"]["409"] and op["summary"]
    for action in ("arrive", "feedback"):
        assert "multipart/form-data" in paths[f"/orders/{{id}}/{action}"]["post"]["requestBody"]["content"]
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert {f"/api/v1/orders/<int:order_id>/{a}" for a in states.API_ACTIONS} <= rules


def test_numbers_are_unique_and_sequential_per_year(app, org, clock):
    from datetime import datetime

    from webapp.platform.clock import LOCAL_TZ

    numbers = [planning.next_number() for _ in range(3)]
    db.session.commit()
    assert numbers == ["HSB-2026-000001", "HSB-2026-000002", "HSB-2026-000003"]
    clock.set(datetime(2027, 1, 1, 0, 5, tzinfo=LOCAL_TZ))
    assert planning.next_number() == "HSB-2027-000001"


def test_check_in_and_feedback_bind_their_photos_into_the_audit_chain(dispatched, people, with_photo):
    """The audit row of a check-in or a feedback names its photos' SHA-256, so the
    hash chain covers the evidence (and verifying needs no file)."""
    from webapp.models import AuditEvent, EvidenceFile
    oid = dispatched()["id"]
    assert people.nr.post(f"/api/v1/orders/{oid}/accept").status_code == 200
    assert people.nr.post(f"/api/v1/orders/{oid}/arrive",
                          data=with_photo(lat=37.141, lon=106.35, accuracy_m=8)).status_code == 200
    assert people.nr.post(f"/api/v1/orders/{oid}/feedback",
                          data=with_photo(result="stopped", text="已制止")).status_code == 200
    for action, kind in (("arrive", "checkin"), ("feedback", "feedback")):
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.entity_type == "work_order", AuditEvent.entity_id == oid, AuditEvent.action == action))
        stored = db.session.scalars(select(EvidenceFile.sha256).where(
            EvidenceFile.order_id == oid, EvidenceFile.kind == kind)).all()
        assert stored and event.data["photo_sha256"] == list(stored)
