"""Dedupe under concurrency (issue 9, item 13): different reports of one event
arriving in the same instant join one alert. Real HTTP to a threaded server,
N senders released together by a barrier; runs on SQLite and, db-marked, on
PostgreSQL."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Alert, AlertOccurrence

SENDERS = 8


def _race(live_server, tokens, payloads):
    barrier = threading.Barrier(len(payloads))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send(token, payload):
        barrier.wait()
        r = requests.post(f"{live_server}/api/v1/alerts", json=payload, timeout=120,
                          headers={"Authorization": f"Bearer {token}"})
        with lock:
            results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=send, args=(t, p)) for t, p in zip(tokens, payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return results


@pytest.fixture
def box_tokens(org):
    from webapp.platform.security import create_api_token
    tokens = [create_api_token(source=f"race-box{i}")[1] for i in range(SENDERS)]
    db.session.commit()
    return tokens


@pytest.mark.parametrize("round_", range(3))
def test_simultaneous_reports_nearby_join_one_alert(live_server, box_tokens, kit, round_):
    lat, lon = kit.INSIDE
    # Eight boxes, each its own event id, within ~80 m of each other.
    payloads = [{"domain": "fire", "event_type": "smoke", "lat": lat + 0.0001 * i, "lon": lon - 0.0001 * i,
                 "source_event_id": f"r{round_}-{i}", "score": 0.5 + i / 100} for i in range(SENDERS)]
    results = _race(live_server, box_tokens, payloads)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * (SENDERS - 1) + [201], results
    assert len({body["id"] for _, body in results}) == 1, results
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
    alert = db.session.scalar(select(Alert))
    assert alert.occurrences == SENDERS
    assert db.session.scalar(select(func.count()).select_from(AlertOccurrence)) == SENDERS
    assert alert.score == pytest.approx(0.5 + (SENDERS - 1) / 100)


def test_simultaneous_reports_far_apart_or_of_other_domains_stay_apart(live_server, box_tokens, kit):
    """The serialisation must not merge what dedupe keeps apart."""
    lat, lon = kit.INSIDE
    payloads = [
        {"domain": "fire", "event_type": "smoke", "lat": lat, "lon": lon, "source_event_id": "a"},
        {"domain": "fire", "event_type": "smoke", "lat": lat + 0.0001, "lon": lon, "source_event_id": "b"},
        {"domain": "mining", "event_type": "illegal_mining", "lat": lat, "lon": lon, "source_event_id": "c"},
        {"domain": "mining", "event_type": "illegal_mining", "lat": lat, "lon": lon + 0.0001, "source_event_id": "d"},
        {"domain": "fire", "event_type": "smoke", "lat": lat + 0.01, "lon": lon, "source_event_id": "e"},   # 1.1 km
        {"domain": "fire", "event_type": "smoke", "lat": lat + 0.0101, "lon": lon, "source_event_id": "f"},
    ]
    results = _race(live_server, box_tokens[:len(payloads)], payloads)
    assert sorted(s for s, _ in results) == [200, 200, 200, 201, 201, 201], results
    db.session.rollback()
    alerts = db.session.scalars(select(Alert).order_by(Alert.domain, Alert.lat)).all()
    assert [(a.domain, a.occurrences) for a in alerts] == [("fire", 2), ("fire", 2), ("mining", 2)]


def test_lock_keys_overlap_for_every_pair_within_the_radius():
    """Two points within the radius share a lock key; far apart or of
    another domain, none (so unrelated intakes do not queue)."""
    import random

    from webapp.alerts.intake import dedupe_lock_keys, haversine_m
    rng = random.Random(7)
    for radius in (50.0, 300.0, 1000.0):
        for _ in range(2000):
            lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
            lat2 = lat + rng.uniform(-1.0, 1.0) * radius / 111_000
            if haversine_m(lat, lon, lat2, lon) > radius:
                continue
            assert set(dedupe_lock_keys("fire", lat, radius)) & set(dedupe_lock_keys("fire", lat2, radius))
        assert not set(dedupe_lock_keys("fire", 37.4, radius)) & set(dedupe_lock_keys("mining", 37.4, radius))
        far = 37.4 + 4 * radius / 110_574
        assert not set(dedupe_lock_keys("fire", 37.4, radius)) & set(dedupe_lock_keys("fire", far, radius))
    keys = dedupe_lock_keys("fire", 37.4, 300.0)
    assert keys == sorted(keys) and all(-2**31 <= k < 2**31 and -2**31 <= b < 2**31 for k, b in keys)
