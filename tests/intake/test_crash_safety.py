"""Evidence survives a crash between the file and the row (issue 8 item 1),
and intake is strict about replays and truncated images (item 8)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from webapp import create_app
from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import EvidenceFile


class Crash(Exception):
    pass


def post(client, token, kit, images=(), **extra):
    lat, lon = kit.INSIDE
    fields = {"domain": "fire", "event_type": "smoke", "source_event_id": "crash-1",
              "occurred_at": "2026-11-20T02:10:00+08:00", "lat": lat, "lon": lon, **extra}
    if not images:
        return client.post("/api/v1/alerts", json=fields, headers=kit.auth(token))
    data = {k: str(v) for k, v in fields.items()}
    if images:
        import io
        data["images"] = [(io.BytesIO(b), f"snap{i}.jpg") for i, b in enumerate(images)]
    return client.post("/api/v1/alerts", data=data, content_type="multipart/form-data",
                       headers=kit.auth(token))


@pytest.fixture
def crash_before_commit():
    """Make the next commit die after everything was written but before the
    database commits: the moment a kill -9 used to lose the image."""
    armed = {"on": True}

    def die(session):
        if armed["on"]:
            armed["on"] = False
            raise Crash("killed between file and row")
    event.listen(Session, "before_commit", die)
    yield armed
    event.remove(Session, "before_commit", die)


def test_crash_between_file_and_row_and_the_retry_restores_the_image(app, source_token, kit, crash_before_commit,
                                                                     login_as):
    client = app.test_client()
    image = kit.jpeg(colour=(40, 90, 10))
    with pytest.raises(Crash):
        post(client, source_token, kit, images=[image])
    db.session.rollback()
    assert kit.counts() == {"Alert": 0, "AlertOccurrence": 0, "EvidenceFile": 0}
    # The sender saw no 201 and retries: the alert is created with its image.
    r = post(client, source_token, kit, images=[image])
    assert r.status_code == 201, r.get_json()
    row = db.session.scalar(select(EvidenceFile))
    browser, _user = login_as("duty_officer", "duty")
    served = browser.get(f"/files/{row.id}")
    assert served.status_code == 200 and served.data == image


def test_replay_of_an_alert_whose_file_was_lost_accepts_the_image_again(app, source_token, kit, login_as):
    client = app.test_client()
    image = kit.jpeg(colour=(1, 2, 3))
    assert post(client, source_token, kit, images=[image]).status_code == 201
    row = db.session.scalar(select(EvidenceFile))
    evidence.absolute_path(row).unlink()  # what the old commit-then-move order could leave
    r = post(client, source_token, kit, images=[image])
    assert r.status_code == 200 and r.get_json()["created"] is False
    assert evidence.absolute_path(row).read_bytes() == image
    assert kit.counts()["EvidenceFile"] == 1


def test_replay_brings_a_snapshot_the_first_report_lacked(app, source_token, kit):
    client = app.test_client()
    assert post(client, source_token, kit).status_code == 201
    r = post(client, source_token, kit, images=[kit.jpeg(colour=(9, 9, 9))])
    assert r.status_code == 200
    assert kit.counts() == {"Alert": 1, "AlertOccurrence": 1, "EvidenceFile": 1}


@pytest.mark.parametrize("change", [{"event_type": "fire"}, {"domain": "mining", "event_type": "illegal_mining"},
                                    {"lat": 37.43}])
def test_replay_with_contradicting_facts_is_a_409(app, source_token, kit, change):
    client = app.test_client()
    assert post(client, source_token, kit).status_code == 201
    r = post(client, source_token, kit, **change)
    assert r.status_code == 409 and r.get_json()["error"] == "idempotency_conflict"
    assert kit.counts() == {"Alert": 1, "AlertOccurrence": 1, "EvidenceFile": 0}


def test_truncated_jpeg_is_refused_and_nothing_is_stored(app, source_token, kit):
    image = kit.noisy_jpeg(60_000)
    r = post(app.test_client(), source_token, kit, images=[image[: len(image) * 2 // 3]])
    assert r.status_code == 400 and r.get_json()["error"] == "not_an_image"
    assert kit.counts() == {"Alert": 0, "AlertOccurrence": 0, "EvidenceFile": 0}
    assert kit.stored_files(app) == []


def test_staged_leftovers_are_cleaned_at_start_up(app_config):
    tmp = Path(app_config["NRSC_DATA_DIR"]) / "files" / "tmp"
    tmp.mkdir(parents=True)
    old, fresh = tmp / "abc.old", tmp / "abc.fresh"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    past = time.time() - 3600
    os.utime(old, (past, past))
    application = create_app(app_config, load_entrypoints=False)
    with application.app_context():
        assert not old.exists() and fresh.exists()  # an upload in flight elsewhere is left alone
        db.engine.dispose()


def test_occurred_at_has_a_lower_bound(app, source_token, kit):
    r = post(app.test_client(), source_token, kit, occurred_at="2026-10-19T18:00:00+00:00")
    assert r.status_code == 400 and "past" in r.get_json()["message"]
    assert post(app.test_client(), source_token, kit, occurred_at="2026-10-21T18:00:00+00:00").status_code == 201


def test_a_source_joining_another_sources_alert_sees_only_its_own_occurrence(app, source_token, kit):
    from webapp.platform.security import create_api_token
    _row, other = create_api_token(source="box2")
    db.session.commit()
    client = app.test_client()
    first = post(client, source_token, kit, images=[kit.jpeg(colour=(1, 1, 1))], text="box1 的描述")
    assert first.status_code == 201
    lat, lon = kit.INSIDE
    joined = post(client, other, kit, images=[kit.jpeg(colour=(2, 2, 2))], source_event_id="b2-1",
                  lat=lat + 0.0005, lon=lon)
    assert joined.status_code == 200 and joined.get_json()["id"] == first.get_json()["id"]
    for body in (joined.get_json(), client.get(f"/api/v1/alerts/{first.get_json()['id']}",
                                               headers=kit.auth(other)).get_json()):
        assert {o["source"] for o in body["occurrence_list"]} == {"box2"}
        assert len(body["evidence"]) == 1 and body["source"] == "box2" and body["text"] is None
    mine = client.get(f"/api/v1/alerts/{first.get_json()['id']}", headers=kit.auth(source_token)).get_json()
    assert len(mine["occurrence_list"]) == 2 and mine["text"] == "box1 的描述"


def test_truncated_images_are_refused_even_after_weasyprint_loosened_pillow(app):
    import io

    import weasyprint  # noqa: F401 - sets ImageFile.LOAD_TRUNCATED_IMAGES for the process
    from PIL import Image, ImageFile
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    for fmt in ("JPEG", "PNG", "WEBP"):
        buf = io.BytesIO()
        Image.frombytes("RGB", (120, 90), bytes((i * 7) % 256 for i in range(120 * 90 * 3))).save(buf, fmt)
        data = buf.getvalue()
        assert evidence.check_image(data, "ok").width == 120
        with pytest.raises(evidence.EvidenceError) as refused:
            evidence.check_image(data[: len(data) * 2 // 3], "cut")
        assert refused.value.code == "not_an_image" and refused.value.status == 400
