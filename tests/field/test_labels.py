"""Users read words, not codes: audit actions, states and event types on the
order, alert, phone and print pages; Chinese stage names in the SLA timer's
notes and messages; clickable status chips on the duty console."""
from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest
from flask_babel import refresh
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.field.conftest import jpeg
from webapp.extensions import db
from webapp.models import AuditEvent, OutboxMessage
from webapp.platform import labels

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"


def _text(fragment: str) -> str:
    """The visible text of an HTML fragment (tags and attributes dropped)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _between(page: str, start: str, end: str) -> str:
    i = page.index(start)
    return page[i:page.index(end, i)]


def test_every_recorded_action_has_a_label():
    """A guard: an action code written anywhere in webapp/ without a label
    would reach users raw."""
    # audit.record("x", ...), the order engine's record(order, "x") and act(order, "x"),
    # and review's _apply(alert, action="x").
    patterns = (r'audit\.record\(\s*"([^"]+)"', r'\brecord\(order,\s*"([^"]+)"', r'\bact\(order,\s*"([^"]+)"',
                r'_apply\(alert,\s*action="([^"{]+)"')
    codes: set[str] = set()
    for path in WEBAPP.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for pattern in patterns:
            codes.update(re.findall(pattern, source))
    from webapp.alerts.review import VERDICTS
    codes.update(f"review_{v}" for v in VERDICTS)  # review.decide records f"review_{verdict}"
    assert {"alert_created", "review_claim", "dispatch", "dispatched", "accept", "sla_overdue"} <= codes
    assert sorted(codes - set(labels.ACTION_LABELS)) == []


def test_labels_are_translated_once_per_locale(app):
    with app.test_request_context("/?lang=en"):
        assert labels.action_label("review_confirmed") == "Confirmed"
        assert labels.state_label("in_progress") == "In progress"
        assert labels.action_label("something_new") == "something_new"  # unknown: shown as is
        assert labels.state_label(None) == ""
        table = app.extensions["nrsc.labels"][("state", "en")]
        labels.state_label("closed")
        assert app.extensions["nrsc.labels"][("state", "en")] is table  # built once, reused
    with app.test_request_context("/"):
        refresh()  # the shared app context still holds the English choice
        labels.state_label("closed")
        locales = {key[1] for key in app.extensions["nrsc.labels"] if key[0] == "state"}
        assert len(locales) == 2 and any(loc.startswith("zh") for loc in locales)


def test_order_timeline_pdf_and_alert_history_show_labels(org, make_order, login_as, duty, clock):
    from webapp.orders import workflow
    from webapp.printing import pdf

    order = make_order("fire", event_type="smoke")
    handler = login_as("unit_handler", order.lead.unit.code)[1]
    clock.advance(minutes=3)
    workflow.accept(order, actor=handler, participant_id=order.lead.id)
    workflow.emergency(order, actor=duty, note="现场火势扩大")

    office, _ = login_as("office_staff", "natural_resources")
    page = office.get(f"/orders/{order.id}?lang=en").get_data(as_text=True)
    timeline = _text(_between(page, '<ol class="timeline">', "</ol>"))
    for label in ("Alert received", "Confirmed", "Work order dispatched", "Dispatched", "Accepted",
                  "Emergency response started", "To accept → In progress"):
        assert label in timeline, label
    for code in ("alert_created", "review_confirmed", "dispatched", "accept", "emergency", "to_accept"):
        assert not re.search(rf"(· |→ ){code}\b", timeline), code
    # The facts name the event type as the domain plugin does (烟雾, not "smoke").
    facts = _text(_between(page, '<dl class="facts">', "</dl>"))
    assert "烟雾" in facts and "smoke" not in facts

    with org.test_request_context("/?lang=en"):
        refresh()
        printed = pdf.render_order_html(order)
    rows = _text(_between(printed, 'class="list timeline"', "</table>"))
    assert "Alert received" in rows and "Accepted" in rows and "In progress" in rows
    assert not re.search(r"\b(alert_created|review_confirmed|in_progress)\b", rows)

    # The alert page's history, for the duty officer.
    console, _ = login_as("duty_officer", "duty")
    alert_page = console.get(f"/alerts/{order.alert_id}?lang=en").get_data(as_text=True)
    history = _between(alert_page, '<ol class="history"', "</ol>")
    assert 'data-action="review_confirmed"' in history
    words = _text(history)
    assert "Alert received" in words and "Confirmed" in words and "New → Confirmed" in words
    assert not re.search(r"(· |→ )(alert_created|review_confirmed|dispatched|confirmed|new)\b", words)


def test_phone_and_dispatch_pages_name_the_event_type(org, make_order, login_as, duty, clock):
    from webapp.alerts import intake, review

    order = make_order("fire", event_type="smoke")
    handler_client, _ = login_as("unit_handler", order.lead.unit.code)
    phone = handler_client.get(f"/unit/orders/{order.id}").get_data(as_text=True)
    assert "烟雾" in _text(_between(phone, '<dl class="facts">', "</dl>"))

    alert, _ = intake.ingest({"domain": "fire", "event_type": "smoke", "source_event_id": "labels-dispatch",
                              "occurred_at": clock().isoformat(), "lat": 37.2, "lon": 106.4},
                             [("s.jpg", jpeg())], source="field-tests")
    review.decide(alert, duty, verdict="confirmed")
    console, _ = login_as("duty_officer", "duty")
    form = console.get(f"/orders/dispatch/{alert.id}").get_data(as_text=True)
    assert "火灾 · 烟雾" in _text(form) or "烟雾" in _text(_between(form, "<dl", "</dl>"))


def test_sla_notes_and_messages_use_chinese_stage_names(org, make_order, clock):
    from webapp.orders import deadlines

    order = make_order("fire")  # emergency clocks: accept 10 min, arrive 60 min (natural time)
    unit = order.lead.unit.name
    clock.advance(minutes=8)
    deadlines.sla_sweep()
    clock.advance(minutes=5)
    deadlines.sla_sweep()

    notes: dict[str, list[str]] = {}
    for action, note in db.session.execute(select(AuditEvent.action, AuditEvent.note).where(
            AuditEvent.entity_type == "work_order", AuditEvent.entity_id == order.id,
            AuditEvent.action.in_(("sla_warning", "sla_overdue", "supervise")))):
        notes.setdefault(action, []).append(note)
    assert f"{unit} 签收即将超时" in notes["sla_warning"]
    assert f"{unit} 签收超时" in notes["sla_overdue"]
    assert all(re.fullmatch(r"\S+ 签收(即将)?超时", n) for n in notes["sla_warning"] + notes["sla_overdue"])
    db.session.refresh(order)
    assert notes["supervise"] == [order.supervise_note]
    assert re.fullmatch(r"自动督办：\S+ 签收超时", order.supervise_note)
    bodies = " ".join(m.body or "" for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.title.like("工单%超时%"))))
    assert "签收 截止" in bodies and "签收超时" in bodies
    assert not re.search(r"\baccept\b", bodies)


def test_status_chips_are_filter_links(org, login_as, duty, clock):
    from webapp.alerts import intake, review

    for n, verdict in enumerate((None, "false_alarm")):
        alert, _ = intake.ingest({"domain": "farmland", "event_type": "farmland_damage",
                                  "source_event_id": f"chip-{n}", "occurred_at": clock().isoformat(),
                                  "lat": 37.2 + n * 0.1, "lon": 106.4}, [("s.jpg", jpeg())], source="field-tests")
        if verdict:
            review.decide(alert, duty, verdict=verdict, reason="weather")
    console, _ = login_as("duty_officer", "duty")
    page = console.get("/alerts/?domain=farmland").get_data(as_text=True)
    chips = _between(page, 'id="queue-counts"', "</div>")
    links = dict(re.findall(r'<a class="count count-(\w+)[^"]*"\s+href="([^"]+)"', chips))
    assert set(links) == {"open", "new", "under_review", "false_alarm", "duplicate", "confirmed"}
    # The link keeps the other filters and lands on the filtered queue.
    target = html_lib.unescape(links["false_alarm"])
    assert "status=false_alarm" in target and "domain=farmland" in target
    filtered = console.get(target).get_data(as_text=True)
    assert 'class="count count-false_alarm active"' in filtered
    rows = re.findall(r'<tr id="alert-\d+" class="alert-row status-(\w+)', filtered)
    assert rows == ["false_alarm"]


@pytest.mark.browser
def test_clicking_a_status_chip_filters_the_live_queue(page, org, make_user, clock):
    from webapp.alerts import intake, review

    officer = make_user("duty_officer", "duty")
    for n, verdict in enumerate((None, "false_alarm", None)):
        alert, _ = intake.ingest({"domain": "farmland", "event_type": "farmland_damage",
                                  "source_event_id": f"chip-browser-{n}", "occurred_at": clock().isoformat(),
                                  "lat": 37.2 + n * 0.1, "lon": 106.4}, [("s.jpg", jpeg())], source="field-tests")
        if verdict:
            review.decide(alert, officer, verdict=verdict, reason="weather")
    page.goto(page.base_url + "/login")
    page.fill("input[name=login]", officer.login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts/")
    assert page.locator("tr.alert-row").count() == 2
    page.click("#queue-counts a[data-status=false_alarm]")
    page.wait_for_function("() => document.querySelectorAll('tr.alert-row').length === 1")
    assert page.locator("#queue-filters select[name=status]").input_value() == "false_alarm"
    assert page.locator("#queue-counts a.active").get_attribute("data-status") == "false_alarm"
    assert page.url.endswith("/alerts/")  # stayed on the live console
    # The next 2 s poll keeps the choice.
    with page.expect_response(lambda r: "/alerts/queue" in r.url and "status=false_alarm" in r.url, timeout=6000):
        pass
    assert page.locator("tr.alert-row.status-false_alarm").count() == 1
    assert page.locator("tr.alert-row").count() == 1


def test_stored_notes_name_results_in_chinese(org, make_order, login_as, duty, clock):
    from webapp.orders import workflow

    order = make_order("farmland")
    handler = login_as("unit_handler", order.lead.unit.code)[1]
    workflow.accept(order, actor=handler, participant_id=order.lead.id)
    clock.advance(minutes=30)
    workflow.feedback(order, actor=handler, participant_id=order.lead.id, result="resolved",
                      text="现场已复耕", photos=[(jpeg(), "fb.jpg")])
    workflow.close(order, actor=duty, confirm_unfinished=True)
    office = login_as("office_staff", "natural_resources")[1]
    workflow.spot_check(order, actor=office, result="fail", note="仍有堆土")
    notes = dict(db.session.execute(select(AuditEvent.action, AuditEvent.note).where(
        AuditEvent.entity_id == order.id, AuditEvent.action.in_(("feedback", "spot-check")))).all())
    assert notes == {"feedback": "已处置完毕：现场已复耕", "spot-check": "核查不通过：仍有堆土"}
