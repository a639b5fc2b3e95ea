"""One source of truth for what intake and review both need: the alert as
plugins see it, and the review deadline."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.alerts import adapters, intake, review
from webapp.extensions import db
from webapp.models import Alert
from webapp.orders import sla
from webapp.plugin_api import Clock


def test_intake_and_review_share_one_alert_view_conversion(app, org, clock, kit):
    assert intake.alert_view is review.alert_view is adapters.alert_view
    lat, lon = kit.INSIDE
    alert, _ = intake.ingest({"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon,
                              "source_event_id": "v1", "label": "smoke", "score": 0.8}, source="box1")
    view = adapters.alert_view(alert)
    assert (view.id, view.domain, view.event_type, view.source, view.label, view.score, view.occurrences) == (
        alert.id, "fire", "smoke", "box1", "smoke", 0.8, 1)
    # A row not flushed yet (no defaults applied) still gives a well-typed view.
    fresh = adapters.alert_view(Alert(domain="fire", event_type="fire", lat=lat, lon=lon,
                                      occurred_at=clock()))
    assert (fresh.manual, fresh.location_estimated, fresh.occurrences) == (False, False, 1)


def test_review_deadline_is_computed_in_one_place_on_natural_time(app, org, clock, kit):
    lat, lon = kit.INSIDE
    taken, _ = intake.ingest({"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon,
                              "source_event_id": "d1"}, source="box1")
    # Intake and the insert listener (an alert made any other way) agree.
    made = Alert(domain="mining", event_type="illegal_mining", status="new", source="test",
                 lat=lat, lon=lon, occurred_at=clock())
    db.session.add(made)
    db.session.commit()
    taken, made = (db.session.scalar(select(Alert).where(Alert.id == a.id)) for a in (taken, made))
    assert taken.review_due_at == review.review_due("fire", taken.created_at) == clock() + timedelta(minutes=5)
    assert made.review_due_at == review.review_due("mining", made.created_at) == clock() + timedelta(minutes=30)
    # Review counts natural time (the duty office works 24/7): a one-working-day
    # review clock is 24 h even across a weekend, exactly as the SLA module's
    # natural basis counts it.
    friday_night = clock()  # 02:13 on a Friday, local time
    one_day = sla.deadline(friday_night, Clock(working_days=1), "natural")
    assert one_day == friday_night + timedelta(hours=24)
    # An unknown domain (its plugin uninstalled) gets the default clock.
    assert review.review_due("gone", friday_night) == friday_night + timedelta(minutes=30)
