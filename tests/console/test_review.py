"""Claims, verdicts (pages and API), stale forms, corrections, the review SLA."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from webapp.alerts import review
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, OutboxMessage
from webapp.platform.tasks import get_runner


def _events(alert_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "alert", AuditEvent.entity_id == alert_id).order_by(AuditEvent.id)))


def _reload(alert: Alert) -> Alert:
    db.session.expire_all()
    return db.session.get(Alert, alert.id)


def _version_on_page(html: str) -> int:
    return int(re.search(r'name="version" value="(\d+)"', html).group(1))


def test_claim_race_second_officer_gets_409_with_who(app, make_alert, login_as):
    alert = make_alert("fire")
    (first, user_a), (second, _user_b) = login_as("duty_officer"), login_as("duty_officer")
    # Both open the alert while it is still free.
    version_a = _version_on_page(first.get(f"/alerts/{alert.id}").get_data(as_text=True))
    version_b = _version_on_page(second.get(f"/alerts/{alert.id}").get_data(as_text=True))
    assert version_a == version_b

    assert first.post(f"/alerts/{alert.id}/claim", data={"version": version_a}).status_code == 302
    resp = second.post(f"/alerts/{alert.id}/claim", data={"version": version_b})
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert 'id="problem"' in page and user_a.display_name in page
    fresh = _reload(alert)
    assert fresh.status == "under_review" and fresh.claimed_by_id == user_a.id
    assert _events(alert.id) == ["review_claim"]

    # The second officer's verdict is refused too, and nothing is written.
    resp = second.post(f"/alerts/{alert.id}/verdict", data={"verdict": "confirmed"})
    assert resp.status_code == 409
    assert _reload(alert).status == "under_review"


def test_api_claim_conflict_names_who_and_when(app, make_alert, make_user, token_for, kit, clock):
    alert = make_alert("fire")
    a, b = make_user("duty_officer"), make_user("duty_officer")
    client = app.test_client()
    resp = client.post(f"/api/v1/alerts/{alert.id}/claim", headers=kit.auth(token_for(a)))
    assert resp.status_code == 200 and resp.json["claimed_by"] == a.login
    clock.advance(seconds=20)
    resp = client.post(f"/api/v1/alerts/{alert.id}/review", json={"verdict": "confirmed"},
                       headers=kit.auth(token_for(b)))
    assert resp.status_code == 409
    assert resp.json["error"] == "claimed"
    assert resp.json["who"] == a.display_name
    assert resp.json["when"].startswith("2026-11-19T18:13:00")


def test_duty_lead_takes_over(app, make_alert, login_as):
    alert = make_alert("fire")
    officer, _user = login_as("duty_officer")
    lead, lead_user = login_as("duty_lead")
    officer.post(f"/alerts/{alert.id}/claim")
    assert lead.post(f"/alerts/{alert.id}/claim").status_code == 409
    assert lead.post(f"/alerts/{alert.id}/claim", data={"takeover": "1"}).status_code == 302
    assert _reload(alert).claimed_by_id == lead_user.id
    assert _events(alert.id) == ["review_claim", "review_takeover"]
    # An officer cannot take over.
    assert officer.post(f"/alerts/{alert.id}/claim", data={"takeover": "1"}).status_code == 409


def test_verdicts_through_pages(app, make_alert, login_as):
    officer, user = login_as("duty_officer")
    false_alarm, duplicate, original, real = (make_alert("mining") for _ in range(4))

    resp = officer.post(f"/alerts/{false_alarm.id}/verdict",
                        data={"verdict": "false_alarm", "reason": "permitted_area", "note": "采矿证范围内"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/alerts/")
    fa = _reload(false_alarm)
    assert (fa.status, fa.verdict_reason, fa.verdict_by_id) == ("false_alarm", "permitted_area", user.id)
    assert fa.claimed_by_id == user.id  # a one-click verdict claims too

    assert officer.post(f"/alerts/{duplicate.id}/verdict",
                        data={"verdict": "duplicate", "duplicate_of": str(original.id)}).status_code == 302
    assert _reload(duplicate).duplicate_of_id == original.id

    resp = officer.post(f"/alerts/{real.id}/verdict", data={"verdict": "confirmed"})
    assert resp.status_code == 302
    assert _reload(real).status == "confirmed"
    assert _events(real.id) == ["review_confirmed"]
    page = officer.get(f"/alerts/{real.id}").get_data(as_text=True)
    assert "review_confirmed" in page  # the history


def test_page_verdict_bad_input_is_refused(app, make_alert, login_as):
    officer, _user = login_as("duty_officer")
    alert = make_alert("mining")
    assert officer.post(f"/alerts/{alert.id}/verdict",
                        data={"verdict": "false_alarm", "reason": "bored"}).status_code == 400
    assert officer.post(f"/alerts/{alert.id}/verdict",
                        data={"verdict": "duplicate", "duplicate_of": str(alert.id)}).status_code == 400
    assert _reload(alert).status == "new"
    assert _events(alert.id) == []


def test_verdicts_through_api(app, make_alert, make_user, token_for, kit):
    officer = make_user("duty_officer")
    headers = kit.auth(token_for(officer))
    client = app.test_client()
    alerts = [make_alert("mining") for _ in range(4)]
    first, second, third, fourth = (a.id for a in alerts)

    url = "/api/v1/alerts/{}/review".format
    bad = [
        ({"verdict": "maybe"}, 400),
        ({"verdict": "false_alarm"}, 400),
        ({"verdict": "false_alarm", "reason": "bored"}, 400),
        ({"verdict": "false_alarm", "reason": "other"}, 400),   # other needs a note
        ({"verdict": "duplicate"}, 400),
        ({"verdict": "duplicate", "duplicate_of": first}, 400),
        ({"verdict": "duplicate", "duplicate_of": 999999}, 400),
        ({"verdict": "duplicate", "duplicate_of": "abc"}, 400),
        ({"verdict": "confirmed", "version": "x"}, 400),
    ]
    for body, status in bad:
        resp = client.post(url(first), json=body, headers=headers)
        assert resp.status_code == status, (body, resp.json)
        assert set(resp.json) >= {"error", "message"}
    assert _reload(alerts[0]).status == "new" and _events(first) == []

    resp = client.post(url(first), json={"verdict": "false_alarm", "reason": "weather"}, headers=headers)
    assert resp.status_code == 200 and resp.json["status"] == "false_alarm" and resp.json["reason"] == "weather"
    resp = client.post(url(second), json={"verdict": "confirmed"}, headers=headers)
    assert resp.json["status"] == "confirmed"
    # A duplicate of a duplicate points at the original.
    resp = client.post(url(third), json={"verdict": "duplicate", "duplicate_of": second}, headers=headers)
    assert resp.json["duplicate_of"] == second
    resp = client.post(url(fourth), json={"verdict": "duplicate", "duplicate_of": third}, headers=headers)
    assert resp.json["duplicate_of"] == second

    # Already decided: 409 with who and when.
    other = make_user("duty_officer")
    resp = client.post(url(first), json={"verdict": "confirmed"}, headers=kit.auth(token_for(other)))
    assert resp.status_code == 409 and resp.json["error"] == "already_decided"
    assert resp.json["who"] == officer.display_name and resp.json["when"]

    # Auth: no token, a unit role, a source token.
    assert client.post(url(second), json={"verdict": "confirmed"}).status_code == 401
    handler = make_user("unit_handler", "town.hongsipu")
    assert client.post(url(second), json={"verdict": "confirmed"},
                       headers=kit.auth(token_for(handler))).status_code == 403
    assert client.post(url(second), json={"verdict": "confirmed"},
                       headers=kit.auth(token_for(source="box1"))).status_code == 403
    assert client.post(url(123456), json={"verdict": "confirmed"}, headers=headers).status_code == 404


def test_stale_form_is_409_showing_what_changed(app, make_alert, login_as):
    officer, _user = login_as("duty_officer")
    alert = make_alert("fire")
    officer.post(f"/alerts/{alert.id}/claim")
    page = officer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    old_version = _version_on_page(page)
    # Meanwhile, in another tab, the type is corrected.
    assert officer.post(f"/alerts/{alert.id}/correct",
                        data={"kind": "fire/smoke", "version": old_version}).status_code == 302
    resp = officer.post(f"/alerts/{alert.id}/verdict",
                        data={"verdict": "confirmed", "version": old_version})
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "review_correct" in html and "fire/fire → fire/smoke" in html
    assert _reload(alert).status == "under_review"


def test_api_stale_version_lists_changes(app, make_alert, make_user, token_for, kit):
    officer = make_user("duty_officer")
    alert = make_alert("fire")
    client, headers = app.test_client(), kit.auth(token_for(officer))
    v1 = client.post(f"/api/v1/alerts/{alert.id}/claim", headers=headers).json["version"]
    client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=headers)
    resp = client.post(f"/api/v1/alerts/{alert.id}/review", json={"verdict": "confirmed", "version": v1},
                       headers=headers)
    assert resp.status_code == 409 and resp.json["error"] == "stale"
    assert [c["action"] for c in resp.json["changes"]] == ["alarm_acknowledged"]


def test_correct_domain_reruns_prejudgement_and_review_clock(app, make_alert, make_user, token_for, kit):
    officer = make_user("duty_officer")
    alert = make_alert("fire", prejudgement_level="high", prejudgement_reasons=["x"])
    assert alert.review_due_at == alert.created_at + timedelta(minutes=5)
    client, headers = app.test_client(), kit.auth(token_for(officer))
    resp = client.post(f"/api/v1/alerts/{alert.id}/correct",
                       json={"domain": "ecology", "event_type": "no_such"}, headers=headers)
    assert resp.status_code == 400
    resp = client.post(f"/api/v1/alerts/{alert.id}/correct",
                       json={"domain": "ecology", "event_type": "straw_burning"}, headers=headers)
    assert resp.status_code == 200, resp.json
    fresh = _reload(alert)
    assert (fresh.domain, fresh.event_type) == ("ecology", "straw_burning")
    ecology = app.extensions["nrsc.plugins"].domain("ecology")
    assert fresh.review_due_at == fresh.created_at + timedelta(minutes=ecology.sla.review.minutes)
    assert fresh.prejudgement_reasons != ["x"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "review_correct"))
    assert event.data["from"] == ["fire", "fire"] and event.data["to"] == ["ecology", "straw_burning"]


def test_acknowledge_is_audited_and_silences_the_alarm(app, make_alert, login_as):
    officer, user = login_as("duty_officer")
    alert = make_alert("fire")
    queue = officer.get("/alerts/queue").get_data(as_text=True)
    assert f'data-alarm="{alert.id}"' in queue
    resp = officer.post(f"/alerts/{alert.id}/acknowledge", headers={"HX-Request": "true"})
    assert resp.status_code == 204 and resp.headers["HX-Trigger"] == "queue-refresh"
    assert _reload(alert).acknowledged_at is not None
    assert _events(alert.id) == ["alarm_acknowledged"]
    assert 'data-alarm=""' in officer.get("/alerts/queue").get_data(as_text=True)


def test_review_sla_escalates_to_duty_leads_once(app, make_alert, make_user, clock):
    lead_a, lead_b = make_user("duty_lead"), make_user("duty_lead")
    fire = make_alert("fire")              # 5 minutes
    mining = make_alert("mining")          # 30 minutes
    decided = make_alert("fire", status="false_alarm")
    runner = get_runner(app)
    assert runner.jobs[review.ESCALATION_JOB] is review.escalate_overdue
    assert review.ESCALATION_JOB in runner.recurring

    clock.advance(minutes=4, seconds=59)
    runner.tick()
    assert not _reload(fire).review_overdue

    clock.advance(minutes=1, seconds=2)
    runner.tick()
    fire_now = _reload(fire)
    assert fire_now.review_overdue and fire_now.escalated_at == clock()
    assert not _reload(mining).review_overdue and not _reload(decided).review_overdue
    assert _events(fire.id) == ["review_overdue"]
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    # One target format for a person's inbox (user:<login>, as the SLA sweep's);
    # shown in the platform, so nothing is left pending for a channel to send.
    assert [(m.channel, m.target, m.alert_id, m.status) for m in messages] == [
        ("internal", f"user:{lead_a.login}", fire.id, "sent"),
        ("internal", f"user:{lead_b.login}", fire.id, "sent")]
    assert messages[0].link.endswith(f"/alerts/{fire.id}")

    clock.advance(minutes=1)
    runner.tick()  # once only
    assert db.session.scalar(select(db.func.count(OutboxMessage.id))) == 2
    assert _events(fire.id) == ["review_overdue"]


def test_overdue_alert_is_highlighted_with_countdown(app, make_alert, login_as, clock):
    officer, _user = login_as("duty_officer")
    alert = make_alert("fire", age_minutes=10)
    html = officer.get("/alerts/queue").get_data(as_text=True)
    row = re.search(rf'<tr id="alert-{alert.id}"[^>]*>', html).group(0)
    assert "overdue-row" in row and "urgent" in row
    assert f'data-due="{alert.review_due_at.isoformat()}"' in html


def test_confirm_leads_to_the_dispatch_form(app, make_alert, login_as):
    import pytest
    from flask import url_for
    if "orders.dispatch_form" not in app.view_functions:
        pytest.skip("the work-order area is not installed")
    officer, _user = login_as("duty_officer")
    alert = make_alert("fire")
    resp = officer.post(f"/alerts/{alert.id}/verdict", data={"verdict": "confirmed"})
    with app.test_request_context():
        target = url_for("orders.dispatch_form", alert_id=alert.id)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(target)
    assert f'href="{target}"' in officer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert officer.get(target).status_code == 200
