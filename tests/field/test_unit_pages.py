"""Unit staff pages through real HTTP: visibility, accept → check-in →
feedback → duty review → close, rework, retried uploads, bad input."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.field.conftest import EVENT, jpeg, version_of
from webapp.extensions import db
from webapp.models import AuditEvent, EvidenceFile, Feedback, WorkOrder

FORESTRY = "forestry_grassland.resources_office"


def _refresh(order) -> WorkOrder:
    db.session.expire_all()
    return db.session.get(WorkOrder, order.id)


def _page(b, order) -> str:
    resp = b.get(f"/unit/orders/{order.id}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def _accept(b, order):
    html = _page(b, order)
    url = f"/unit/orders/{order.id}/accept"
    return b.post(url, data={"version": version_of(html, url)})


def _arrive(b, order, lat=EVENT[0] + 0.001, lon=EVENT[1], photo=True):
    url = f"/unit/orders/{order.id}/arrive"
    html = _page(b, order)
    data = {"version": version_of(html, url), "lat": lat, "lon": lon, "accuracy": "12"}
    if photo:
        data["photo"] = (__import__("io").BytesIO(jpeg()), "site.jpg")
    return b.post(url, data=data, content_type="multipart/form-data")


def _feedback(b, order, *, result="stopped", text="已扑灭", photos=2, key=None, version=None, headers=None):
    import io
    url = f"/unit/orders/{order.id}/feedback"
    html = _page(b, order)
    key = key or re.search(r'name="client_key" value="([^"]+)"', html).group(1)
    data = {"version": version if version is not None else version_of(html, url), "client_key": key,
            "result": result, "text": text,
            "photos": [(io.BytesIO(jpeg((i * 40, 100, 100))), f"p{i}.jpg") for i in range(photos)]}
    return b.post(url, data=data, content_type="multipart/form-data", headers=headers or {}), key


def test_handler_sees_only_own_units_orders(make_order, login_as):
    fire = make_order("fire")
    farm = make_order("farmland", lat=37.20, lon=106.05)
    b, _user = login_as("unit_handler", FORESTRY)
    listing = b.get("/unit/").get_data(as_text=True)
    assert fire.number in listing and farm.number not in listing
    assert b.get(f"/unit/orders/{farm.id}").status_code == 403
    assert b.post(f"/unit/orders/{farm.id}/accept", data={"version": farm.version}).status_code == 403
    assert _refresh(farm).state == "to_accept"
    # Office pages are not for unit staff.
    assert b.get("/orders/").status_code == 403


def test_accept_checkin_feedback_review_close(make_order, login_as, clock):
    order = make_order("fire")
    b, handler = login_as("unit_handler", FORESTRY)
    clock.advance(minutes=6)
    resp = _accept(b, order)
    assert resp.status_code == 302
    order = _refresh(order)
    assert order.state == "in_progress"
    lead = order.lead
    assert lead.accepted_by_id == handler.id and lead.accept_on_time is True

    clock.advance(minutes=30)
    resp = _arrive(b, order)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    lead = _refresh(order).lead
    assert lead.arrive_lat == EVENT[0] + 0.001 and 100 < lead.arrive_distance_m < 125
    assert "m" in _page(b, order) and "111 m" in _page(b, order)
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile).where(
        EvidenceFile.participant_id == lead.id, EvidenceFile.kind == "checkin")) == 1

    resp, _key = _feedback(b, order, photos=3)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    order = _refresh(order)
    assert order.state == "to_review"
    fb = order.feedbacks[0]
    assert fb.result == "stopped" and fb.text == "已扑灭"
    photos = db.session.scalars(select(EvidenceFile).where(EvidenceFile.feedback_id == fb.id)).all()
    assert len(photos) == 3

    # The duty officer reviews beside the original snapshot and the check-in photo.
    duty_b, _ = login_as("duty_officer", "duty")
    page = duty_b.get(f"/orders/{order.id}/review").get_data(as_text=True)
    snapshot = db.session.scalar(select(EvidenceFile).where(EvidenceFile.alert_id == order.alert_id))
    assert f"/orders/{order.id}/files/{snapshot.id}" in page
    for photo in photos:
        assert f"/orders/{order.id}/files/{photo.id}" in page
    assert 'data-map-src="order-map-' in page and '"kind": "checkin"' in page
    img = duty_b.get(f"/orders/{order.id}/files/{photos[0].id}")
    assert img.status_code == 200 and img.mimetype == "image/jpeg" and img.data[:2] == b"\xff\xd8"

    resp = duty_b.post(f"/orders/{order.id}/act/close",
                       data={"version": order.version, "note": "处置到位", "back": "review",
                             # the cooperating township never accepted (tests/field/test_closing.py)
                             "confirm_unfinished": "1"})
    assert resp.status_code == 302
    order = _refresh(order)
    assert order.state == "closed" and order.feedbacks[0].review_result == "closed"
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order.id)).all()
    for action in ("dispatch", "accept", "arrive", "feedback", "close"):
        assert action in actions
    # The handler sees the result on the phone.
    assert order.number in b.get("/unit/?tab=done").get_data(as_text=True)


def test_rework_path(make_order, login_as):
    order = make_order("fire")
    b, _ = login_as("unit_handler", FORESTRY)
    _accept(b, order)
    _arrive(b, _refresh(order))
    _feedback(b, _refresh(order), text="已处理")
    order = _refresh(order)
    duty_b, _ = login_as("duty_officer", "duty")
    # A rework without a reason is refused on the page; nothing changes.
    resp = duty_b.post(f"/orders/{order.id}/act/rework", data={"version": order.version, "reason": " ", "back": "review"})
    assert resp.status_code == 400 and _refresh(order).state == "to_review"
    resp = duty_b.post(f"/orders/{order.id}/act/rework",
                       data={"version": order.version, "reason": "照片看不清火点", "back": "review"})
    assert resp.status_code == 302
    order = _refresh(order)
    assert order.state == "in_progress" and order.rework_count == 1
    page = _page(b, order)
    assert "照片看不清火点" in page and "/feedback" in page
    resp, _ = _feedback(b, order, text="补充照片，已扑灭")
    assert resp.status_code == 302
    assert _refresh(order).state == "to_review" and len(_refresh(order).feedbacks) == 2


def test_retried_upload_with_same_client_key_makes_one_feedback(make_order, login_as):
    order = make_order("fire")
    b, _ = login_as("unit_handler", FORESTRY)
    _accept(b, order)
    order = _refresh(order)
    html = _page(b, order)
    version = version_of(html, f"/unit/orders/{order.id}/feedback")
    fetch = {"X-Field-Fetch": "1"}
    first, key = _feedback(b, order, version=version, headers=fetch)
    assert first.status_code == 200 and first.json["redirect"] == f"/unit/orders/{order.id}"
    # The answer was lost on the way: the phone sends the very same form again.
    second, _ = _feedback(b, order, key=key, version=version, headers=fetch)
    assert second.status_code == 200, second.get_data(as_text=True)
    assert second.json["redirect"] == first.json["redirect"]
    assert db.session.scalar(select(func.count()).select_from(Feedback).where(Feedback.order_id == order.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile).where(
        EvidenceFile.kind == "feedback", EvidenceFile.order_id == order.id)) == 2


def test_bad_input_is_refused_with_typed_text_kept(make_order, login_as, app):
    import io
    order = make_order("fire")
    b, _ = login_as("unit_handler", FORESTRY)
    url = f"/unit/orders/{order.id}/return"
    resp = b.post(url, data={"version": order.version, "reason": ""})
    assert resp.status_code == 400 and _refresh(order).state == "to_accept"
    _accept(b, order)
    order = _refresh(order)

    # Check-in without coordinates.
    resp = _arrive(b, order, lat="", lon="")
    assert resp.status_code == 400
    assert "location" in resp.get_data(as_text=True).lower() or "位置" in resp.get_data(as_text=True)
    assert _refresh(order).lead.arrived_at is None

    # Feedback without photo and without result: the text stays in the form.
    fb_url = f"/unit/orders/{order.id}/feedback"
    resp = b.post(fb_url, data={"version": order.version, "client_key": "k-bad-1", "text": "现场已清理完毕"},
                  content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "现场已清理完毕" in page and 'value="k-bad-1"' in page
    # Through fetch the answer is JSON and the page itself is untouched.
    resp = b.post(f"{fb_url}?lang=en", data={"version": order.version, "client_key": "k-bad-1", "text": "x",
                                             "result": "stopped"},
                  content_type="multipart/form-data", headers={"X-Field-Fetch": "1"})
    assert resp.status_code == 400 and resp.json["error"] == "invalid" and "photo" in resp.json["message"].lower()

    # A non-image and an oversized image are refused; nothing is written.
    resp = b.post(fb_url, data={"version": order.version, "client_key": "k-bad-2", "text": "t", "result": "stopped",
                                "photos": [(io.BytesIO(b"%PDF-1.4 not an image"), "doc.pdf")]},
                  content_type="multipart/form-data")
    assert resp.status_code == 400 and "t</textarea>" in resp.get_data(as_text=True)
    app.config["NRSC_MAX_IMAGE_BYTES"] = 500
    resp = b.post(fb_url, data={"version": order.version, "client_key": "k-bad-3", "text": "t", "result": "stopped",
                                "photos": [(io.BytesIO(jpeg(size=(400, 300))), "big.jpg")]},
                  content_type="multipart/form-data")
    assert resp.status_code == 413
    assert db.session.scalar(select(func.count()).select_from(Feedback)) == 0
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile).where(EvidenceFile.kind == "feedback")) == 0

    # Extension without a reason.
    resp = b.post(f"/unit/orders/{order.id}/extension",
                  data={"version": order.version, "until": "2026-11-21T18:00", "reason": ""})
    assert resp.status_code == 400 and 'value="2026-11-21T18:00"' in resp.get_data(as_text=True)
    resp = b.post(f"/unit/orders/{order.id}/extension",
                  data={"version": order.version, "until": "2026-11-22T18:00", "reason": "道路封闭"})
    assert resp.status_code == 302 and _refresh(order).extensions[0].reason == "道路封闭"


def test_stale_form_gets_409_showing_what_changed(make_order, login_as):
    order = make_order("fire")
    b, _ = login_as("unit_handler", FORESTRY)
    stale_version = order.version
    # A colleague of the same office accepts first.
    other, _ = login_as("unit_handler", FORESTRY)
    assert _accept(other, order).status_code == 302
    resp = b.post(f"/unit/orders/{order.id}/return", data={"version": stale_version, "reason": "不是我们的辖区"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409
    # What changed is shown, and what was typed is still there to copy.
    assert 'class="conflict"' in page and "accept" in page and "不是我们的辖区" in page
    assert _refresh(order).lead.returned_at is None
    # Feedback typed on a stale page is kept in the refused form.
    resp = b.post(f"/unit/orders/{order.id}/feedback",
                  data={"version": stale_version, "client_key": "k-stale", "result": "stopped", "text": "火已灭",
                        "photos": [(__import__("io").BytesIO(jpeg()), "a.jpg")]},
                  content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409 and 'class="conflict"' in page and "火已灭" in page
    assert re.search(r"accept", page)
    assert db.session.scalar(select(func.count()).select_from(Feedback)) == 0
