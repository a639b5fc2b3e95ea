"""Scenario 4 on the phone pages: the forestry office forwards a grazing order
to the township, the township handles it, the lead confirms; and a lead
records a case transfer (立案) with its number."""
from __future__ import annotations

import io

from sqlalchemy import select

from tests.field.conftest import jpeg, version_of
from webapp.extensions import db
from webapp.models import AuditEvent, OrderParticipant, WorkOrder

FORESTRY = "forestry_grassland.resources_office"


def _order(order) -> WorkOrder:
    db.session.expire_all()
    return db.session.get(WorkOrder, order.id)


def _post(b, order, action, **data):
    page = b.get(f"/unit/orders/{order.id}").get_data(as_text=True)
    url = f"/unit/orders/{order.id}/{action}"
    data.setdefault("version", version_of(page, url))
    return b.post(url, data=data, content_type="multipart/form-data")


def _feedback(b, order, text):
    page = b.get(f"/unit/orders/{order.id}").get_data(as_text=True)
    url = f"/unit/orders/{order.id}/feedback"
    import re
    key = re.search(r'name="client_key" value="([^"]+)"', page).group(1)
    return b.post(url, data={"version": version_of(page, url), "client_key": key, "result": "stopped",
                             "text": text, "photos": [(io.BytesIO(jpeg()), "p.jpg")]},
                  content_type="multipart/form-data")


def test_lead_forwards_grazing_order_to_township_and_confirms(make_order, login_as):
    order = make_order("grazing", event_type="illegal_grazing")
    lead, _ = login_as("unit_handler", FORESTRY)
    assert _post(lead, order, "accept").status_code == 302
    page = lead.get(f"/unit/orders/{order.id}").get_data(as_text=True)
    assert 'action="/unit/orders/%d/forward"' % order.id in page
    # The event's own township is offered first.
    assert page.index("大河乡") < page.index("红寺堡镇")

    assert _post(lead, order, "forward", unit="", note="x").status_code == 400
    assert _post(lead, order, "forward", unit="town.dahe", note="请乡镇劝离").status_code == 302
    forwarded = db.session.scalar(select(OrderParticipant).where(
        OrderParticipant.order_id == order.id, OrderParticipant.role == "forwarded"))
    assert forwarded is not None and forwarded.unit.code == "town.dahe"
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.entity_id == order.id, AuditEvent.action == "forward")) is not None

    town, _ = login_as("unit_handler", "town.dahe")
    assert _post(town, order, "accept").status_code == 302
    assert _feedback(town, order, "已劝离, 对畜主进行教育").status_code == 302
    # The township's feedback alone does not finish the order: the lead confirms it.
    assert _order(order).state == "in_progress"
    assert _feedback(lead, order, "已确认乡镇处置情况").status_code == 302
    assert _order(order).state == "to_review"


def test_forward_is_for_the_lead_only(make_order, login_as):
    order = make_order("grazing", event_type="illegal_grazing")
    lead, _ = login_as("unit_handler", FORESTRY)
    _post(lead, order, "accept")
    _post(lead, order, "forward", unit="town.dahe")
    town, _ = login_as("unit_handler", "town.dahe")
    _post(town, order, "accept")
    page = town.get(f"/unit/orders/{order.id}").get_data(as_text=True)
    assert "/forward" not in page
    resp = town.post(f"/unit/orders/{order.id}/forward",
                     data={"version": _order(order).version, "unit": "town.liuquan"})
    assert resp.status_code == 403
    assert len([p for p in _order(order).participants if p.role == "forwarded"]) == 1


def test_case_transfer_needs_a_number_and_is_recorded(make_order, login_as):
    order = make_order("farmland", lat=37.20, lon=106.05)
    lead, _ = login_as("unit_handler", "natural_resources.enforcement")
    assert _post(lead, order, "accept").status_code == 302
    assert _post(lead, order, "transfer-case", case_number="  ").status_code == 400
    assert not _order(order).case_transferred
    assert _post(lead, order, "transfer-case", case_number="红自然资立〔2026〕17号").status_code == 302
    fresh = _order(order)
    assert fresh.case_transferred and fresh.case_number == "红自然资立〔2026〕17号"
    assert "红自然资立〔2026〕17号" in lead.get(f"/unit/orders/{order.id}").get_data(as_text=True)


def test_office_list_prints_its_filtered_orders_as_a_batch_job(make_order, login_as):
    import html
    import io
    import re
    import zipfile
    fire = make_order("fire")
    make_order("farmland", lat=37.20, lon=106.05)
    office, _ = login_as("office_staff")
    page = office.get("/orders/?domain=fire").get_data(as_text=True)
    form = re.search(r'<form class="inline" method="post" action="/orders/pdf/batch">(.*?)</form>', page, re.S).group(1)
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', form)}
    assert fields["domain"] == "fire"
    job = office.post("/orders/pdf/batch", data=fields)
    assert job.status_code == 302
    done = office.get(job.headers["Location"]).get_data(as_text=True)
    download = office.get(re.search(r'href="([^"]+/download)"', done).group(1))
    assert download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert archive.namelist() == [f"{fire.number}.pdf"]
        assert archive.read(f"{fire.number}.pdf").startswith(b"%PDF")


def test_phone_list_pages_a_long_backlog_most_urgent_first(make_order, login_as, monkeypatch, clock):
    import re

    from webapp.orders import unit_views
    monkeypatch.setattr(unit_views, "LIST_PAGE_SIZE", 2)
    first = make_order("fire")
    clock.advance(minutes=3)
    second = make_order("fire")
    clock.advance(minutes=3)
    third = make_order("fire")
    b, _ = login_as("unit_handler", FORESTRY)
    page1 = b.get("/unit/").get_data(as_text=True)
    page2 = b.get("/unit/?page=2").get_data(as_text=True)
    numbers = lambda html: re.findall(r'data-order="([^"]+)"', html)  # noqa: E731
    # The oldest dispatch has the nearest accept deadline, so it leads.
    assert numbers(page1) == [first.number, second.number]
    assert numbers(page2) == [third.number]
    assert "page=2" in page1 and "1 / 2" in page1
    assert numbers(b.get("/unit/?page=99").get_data(as_text=True)) == [third.number]
    assert numbers(b.get("/unit/?page=x").get_data(as_text=True)) == [first.number, second.number]
