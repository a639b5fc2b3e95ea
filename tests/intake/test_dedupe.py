"""Deduplication: same domain, within radius and window, of an open alert."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.alerts.intake import ingest
from webapp.extensions import db
from webapp.models import Alert, AlertOccurrence, EvidenceFile
from webapp.platform import clock as clock_module


def report(kit, seid, *, dlat=0.0, domain="fire", event_type="smoke", when=None):
    lat, lon = kit.INSIDE
    payload = {"domain": domain, "event_type": event_type, "lat": lat + dlat, "lon": lon, "source_event_id": seid}
    if when is not None:
        payload["occurred_at"] = when.isoformat()
    return payload


def test_join_within_radius_and_window(app, org, clock, kit):
    first, created = ingest(report(kit, "a"), [("a.jpg", kit.jpeg(colour=(1, 1, 1)))], source="box1")
    assert created
    clock.advance(minutes=30)
    # ~220 m north, 30 minutes later: joins (default 300 m / 60 min).
    second, created = ingest(report(kit, "b", dlat=0.002), [("b.jpg", kit.jpeg(colour=(2, 2, 2)))], source="box2")
    assert not created and second.id == first.id
    db.session.refresh(first)
    assert first.occurrences == 2 and first.last_seen_at == clock_module.now()
    assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 1
    sightings = db.session.scalars(select(AlertOccurrence).order_by(AlertOccurrence.id)).all()
    assert [(o.source, o.source_event_id) for o in sightings] == [("box1", "a"), ("box2", "b")]
    files = db.session.scalars(select(EvidenceFile).order_by(EvidenceFile.id)).all()
    assert [(f.alert_id, f.occurrence_id) for f in files] == [(first.id, sightings[0].id), (first.id, sightings[1].id)]
    # The location and context stay those of the first sighting.
    assert first.lat == kit.INSIDE[0]


def test_no_join_beyond_radius_window_domain_or_when_closed(app, org, clock, kit):
    first, _ = ingest(report(kit, "a"), source="box1")
    far, created = ingest(report(kit, "far", dlat=0.004), source="box1")   # ~440 m
    assert created and far.id != first.id
    other_domain, created = ingest(report(kit, "mine", domain="mining", event_type="illegal_mining"), source="box1")
    assert created
    clock.advance(minutes=61)
    late, created = ingest(report(kit, "late"), source="box1")
    assert created and late.id not in (first.id, far.id)
    late.status = "false_alarm"
    db.session.commit()
    clock.advance(minutes=1)
    after_close, created = ingest(report(kit, "after-close"), source="box1")
    assert created and after_close.id != late.id


def test_radius_and_window_are_configurable(app, org, clock, kit):
    app.config["NRSC_DEDUPE_RADIUS_M"] = 1000
    app.config["NRSC_DEDUPE_WINDOW_MIN"] = 10
    first, _ = ingest(report(kit, "a"), source="box1")
    clock.advance(minutes=5)
    near, created = ingest(report(kit, "b", dlat=0.008), source="box1")  # ~880 m
    assert not created and near.id == first.id
    clock.advance(minutes=11)
    later, created = ingest(report(kit, "c"), source="box1")
    assert created


def test_window_is_measured_on_occurrence_times(app, org, clock, kit):
    """A late delivery of an event that happened near an open alert's time joins it."""
    first, _ = ingest(report(kit, "a"), source="box1")
    clock.advance(hours=3)
    delayed, created = ingest(report(kit, "b", when=clock_module.now() - timedelta(hours=3, minutes=-5)),
                              source="box1")
    assert not created and delayed.id == first.id
