"""Real HTTP over a socket: one happy path, and idempotency under concurrent retries."""
from __future__ import annotations

import threading

import requests
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Alert, AlertOccurrence


def test_multipart_over_real_http(live_server, source_token, kit):
    lat, lon = kit.INSIDE
    resp = requests.post(f"{live_server}/api/v1/alerts", headers=kit.auth(source_token), timeout=30,
                         data={"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon,
                               "source_event_id": "live-1", "occurred_at": "2026-11-20T02:00:00+08:00"},
                         files=[("images", ("snap.jpg", kit.jpeg(), "image/jpeg"))])
    assert resp.status_code == 201, resp.text
    alert = resp.json()
    got = requests.get(f"{live_server}/api/v1/alerts/{alert['id']}", headers=kit.auth(source_token), timeout=30)
    assert got.status_code == 200 and got.json()["evidence"][0]["size"] == len(kit.jpeg())


def test_concurrent_retries_create_one_alert(live_server, source_token, kit):
    lat, lon = kit.INSIDE
    payload = {"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon, "source_event_id": "race-1"}
    barrier = threading.Barrier(8)
    results: list[tuple[int, int]] = []

    def send():
        barrier.wait()
        r = requests.post(f"{live_server}/api/v1/alerts", json=payload, headers=kit.auth(source_token), timeout=60)
        results.append((r.status_code, r.json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * 7 + [201], results
    assert len({i for _, i in results}) == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
    assert db.session.scalar(select(func.count()).select_from(AlertOccurrence)) == 1


def test_concurrent_joins_of_one_event_add_one_occurrence(live_server, source_token, kit):
    """Retries of an event that joins an existing alert race on the occurrence's
    unique (source, source_event_id), not on the alert's."""
    lat, lon = kit.INSIDE
    first = requests.post(f"{live_server}/api/v1/alerts", headers=kit.auth(source_token), timeout=30,
                          json={"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon,
                                "source_event_id": "base"}).json()
    payload = {"domain": "fire", "event_type": "smoke", "lat": lat + 0.0005, "lon": lon,
               "source_event_id": "join-race"}
    barrier = threading.Barrier(6)
    results = []

    def send():
        barrier.wait()
        r = requests.post(f"{live_server}/api/v1/alerts", json=payload, headers=kit.auth(source_token), timeout=60)
        results.append((r.status_code, r.json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert sorted(results) == [(200, first["id"])] * 6, results
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AlertOccurrence)) == 2
    assert db.session.get(Alert, first["id"]).occurrences == 2
