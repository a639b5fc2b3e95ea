"""Office views through real HTTP: open orders with filters, backlog counts,
search, the detail page and its actions."""
from __future__ import annotations

import re

from tests.field.conftest import version_of
from webapp.extensions import db
from webapp.models import WorkOrder
from webapp.platform.clock import local


def _numbers(html: str) -> set[str]:
    return set(re.findall(r'data-order="(HSB-\d{4}-\d{6})"', html))


def _refresh(order) -> WorkOrder:
    db.session.expire_all()
    return db.session.get(WorkOrder, order.id)


def test_open_orders_with_overdue_and_supervised_filters(make_order, login_as, clock):
    late = make_order("fire")                                 # accept due in 10 min
    clock.advance(minutes=12)
    fresh = make_order("farmland", lat=37.20, lon=106.05)     # accept due in 2 working hours
    office, _ = login_as("office_staff", "natural_resources")
    assert _numbers(office.get("/orders/").get_data(as_text=True)) == {late.number, fresh.number}
    overdue = office.get("/orders/?overdue=1").get_data(as_text=True)
    assert _numbers(overdue) == {late.number}
    assert office.get("/orders/?supervised=1").get_data(as_text=True).count('data-order="') == 0

    # Supervise from the detail page, with a note.
    url = f"/orders/{fresh.id}/act/supervise"
    page = office.get(f"/orders/{fresh.id}").get_data(as_text=True)
    assert f'action="{url}"' in page
    resp = office.post(url, data={"version": version_of(page, url), "note": ""})
    assert resp.status_code == 400 and not _refresh(fresh).supervised
    resp = office.post(url, data={"version": version_of(page, url), "note": "请加快处置"})
    assert resp.status_code == 302 and _refresh(fresh).supervise_note == "请加快处置"
    assert _numbers(office.get("/orders/?supervised=1").get_data(as_text=True)) == {fresh.number}

    # An HTMX request gets the table alone.
    partial = office.get("/orders/?overdue=1", headers={"HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True) and late.number in partial.get_data(as_text=True)
    assert "HX-Request" in partial.headers["Vary"]


def test_backlog_counts_per_unit(make_order, login_as, clock):
    make_order("fire")
    make_order("fire")
    make_order("farmland", lat=37.20, lon=106.05)
    clock.advance(minutes=15)
    office, _ = login_as("office_staff", "natural_resources")
    html = office.get("/orders/backlog").get_data(as_text=True)

    def row(code: str) -> str:
        start = html.index(f'data-unit="{code}"')
        return html[start:html.index("</tr>", start)]

    forestry = row("forestry_grassland")
    assert re.search(r'data-state="to_accept">2<', forestry)
    assert re.search(r"data-overdue><a [^>]*>2</a>", forestry)
    nr = row("natural_resources")
    assert re.search(r'data-state="to_accept">1<', nr) and re.search(r"data-overdue>0<", nr)


def test_search_by_number_text_township_domain_and_dates(make_order, login_as, clock):
    fire = make_order("fire")
    clock.advance(days=3)
    farm = make_order("farmland", lat=37.20, lon=106.05)
    office, _ = login_as("leader_viewer")
    assert _numbers(office.get(f"/orders/search?q={fire.number}").get_data(as_text=True)) == {fire.number}
    assert _numbers(office.get("/orders/search?domain=farmland").get_data(as_text=True)) == {farm.number}
    township = farm.township.code
    assert _numbers(office.get(f"/orders/search?township={township}").get_data(as_text=True)) == {farm.number}
    day = local(clock()).date()
    assert _numbers(office.get(f"/orders/search?from={day.isoformat()}").get_data(as_text=True)) == {farm.number}
    assert _numbers(office.get(f"/orders/search?to={day.isoformat()}").get_data(as_text=True)) == {fire.number, farm.number}
    # Free text finds titles: each title names its domain in Chinese.
    assert _numbers(office.get("/orders/search?q=耕地").get_data(as_text=True)) == {farm.number}


def test_detail_timeline_participants_and_return_redispatch(make_order, login_as):
    order = make_order("fire")
    town = login_as("unit_handler", "town.dahe")[0]
    page = town.get(f"/unit/orders/{order.id}").get_data(as_text=True)
    url = f"/unit/orders/{order.id}/return"
    assert town.post(url, data={"version": version_of(page, url), "reason": "不在本乡"}).status_code == 302
    assert _refresh(order).state == "returned"

    duty, _ = login_as("duty_officer", "duty")
    page = duty.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'data-action="return"' in page and "不在本乡" in page          # timeline and participants
    assert 'data-participant="town.dahe"' in page
    assert f'href="/orders/{order.id}/pdf"' in page and 'class="deliveries"' in page
    assert 'data-action="redispatch"' in page and 'data-action="justify_return"' not in page
    lead, _ = login_as("duty_lead", "duty")
    page = lead.get(f"/orders/{order.id}").get_data(as_text=True)
    url = f"/orders/{order.id}/act/justify_return"
    pid = re.search(r'name="participant_id" value="(\d+)"', page).group(1)
    resp = lead.post(url, data={"version": version_of(page, url), "participant_id": pid, "justified": "no"})
    assert resp.status_code == 302
    page = lead.get(f"/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "unjustified</span>" in page
    url = f"/orders/{order.id}/act/redispatch"
    resp = lead.post(url, data={"version": version_of(page, url), f"unit_{pid}": "town.dahe"})
    assert resp.status_code == 302
    order = _refresh(order)
    assert order.state == "to_accept"
    p = next(p for p in order.participants if p.unit.code == "town.dahe")
    assert p.state == "to_accept" and p.return_justified is False


def test_office_actions_refused_for_wrong_role_and_stale_form(make_order, login_as):
    order = make_order("fire")
    duty, _ = login_as("duty_officer", "duty")
    # Supervision belongs to the office.
    assert duty.post(f"/orders/{order.id}/act/supervise", data={"version": order.version, "note": "x"}).status_code == 403
    office, _ = login_as("office_staff", "natural_resources")
    page = office.get(f"/orders/{order.id}").get_data(as_text=True)
    url = f"/orders/{order.id}/act/emergency"
    version = version_of(page, url)
    assert duty.post(url, data={"version": order.version, "note": "火势扩大"}).status_code == 302
    resp = office.post(url, data={"version": version, "note": "请立即处置"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409 and 'class="conflict"' in html and "emergency" in html and "请立即处置" in html
    assert _refresh(order).emergency is True
