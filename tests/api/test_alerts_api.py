"""The integrators' alert API (issue 9, item 11): the alert list with filters
and cursor pages, the domains, releasing a claim and manual alerts — each
with its rights and its refusals (a 4xx with {error, message}, nothing stored)."""
from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.api.conftest import LIUQUAN, counts
from tests.images import jpeg
from tests.orders.conftest import DAHE, HONGSIPU, dispatched, people  # noqa: F401 - fixtures
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, Camera, Township
from webapp.org import visibility
from webapp.platform import clock as clock_module
from webapp.platform.security import create_api_token


def _refused(resp, status=400, code=None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:400])
    body = resp.get_json()
    assert body["error"] and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def _ids(resp):
    assert resp.status_code == 200, resp.get_json()
    return [a["id"] for a in resp.get_json()["alerts"]]


def _township(code):
    return db.session.scalar(select(Township).where(Township.code == code))


def _walk(api, url):
    """Every page of ``url``, following next_cursor; returns (ids, pages)."""
    ids, pages, cursor = [], 0, None
    while True:
        resp = api.get(url + (f"&cursor={cursor}" if cursor else ""))
        ids += _ids(resp)
        pages += 1
        cursor = resp.get_json()["next_cursor"]
        if cursor is None:
            return ids, pages


# -- the list ------------------------------------------------------------------------------
def test_pages_follow_the_cursor_and_stay_stable_under_inserts(app, duty, make_alert, clock):
    made = [make_alert(status="new").id for _ in range(7)]
    first = duty.get("/api/v1/alerts?limit=3")
    body = first.get_json()
    assert _ids(first) == made[::-1][:3] and body["limit"] == 3 and body["next_cursor"]
    # Alerts taken in between pages neither shift nor repeat the rest.
    newer = [make_alert(status="new").id for _ in range(2)]
    second = duty.get(f"/api/v1/alerts?limit=3&cursor={body['next_cursor']}")
    assert _ids(second) == made[::-1][3:6]
    third = duty.get(f"/api/v1/alerts?limit=3&cursor={second.get_json()['next_cursor']}")
    assert _ids(third) == made[:1] and third.get_json()["next_cursor"] is None
    # The full walk sees everything once, newest first; oldest first is the reverse.
    ids, pages = _walk(duty, "/api/v1/alerts?limit=4")
    assert ids == (made + newer)[::-1] and pages == 3
    ids, _pages = _walk(duty, "/api/v1/alerts?limit=2&order=oldest")
    assert ids == made + newer
    # The default page size is 50, at most 200.
    assert len(_ids(duty.get("/api/v1/alerts"))) == 9


def test_filters(app, duty, make_alert, clock):
    liuquan = _township("liuquan")
    cam = Camera(code="T-99", name="测试塔", kind="tower", lat=LIUQUAN[0], lon=LIUQUAN[1])
    db.session.add(cam)
    db.session.commit()
    a_new = make_alert(status="new", township_id=liuquan.id, camera_id=cam.id).id
    a_review = make_alert(status="under_review").id
    a_false = make_alert(status="false_alarm", source="box9").id
    clock.advance(hours=2)
    a_paper = make_alert("paper", "form", status="confirmed").id
    every = {a_new, a_review, a_false, a_paper}
    assert set(_ids(duty.get("/api/v1/alerts"))) == every
    assert set(_ids(duty.get("/api/v1/alerts?status=all"))) == every
    assert set(_ids(duty.get("/api/v1/alerts?status=open"))) == {a_new, a_review}
    assert _ids(duty.get("/api/v1/alerts?status=false_alarm")) == [a_false]
    assert _ids(duty.get("/api/v1/alerts?domain=paper")) == [a_paper]
    assert _ids(duty.get("/api/v1/alerts?township=liuquan")) == [a_new]
    assert _ids(duty.get("/api/v1/alerts?camera=T-99")) == [a_new]
    assert _ids(duty.get("/api/v1/alerts?source=box9")) == [a_false]
    assert _ids(duty.get("/api/v1/alerts?source=nobody")) == []
    cut = (clock_module.now() - timedelta(hours=1)).isoformat()
    from urllib.parse import quote
    assert _ids(duty.get(f"/api/v1/alerts?since={quote(cut)}")) == [a_paper]
    assert set(_ids(duty.get(f"/api/v1/alerts?until={quote(cut)}"))) == {a_new, a_review, a_false}
    assert _ids(duty.get(f"/api/v1/alerts?until={quote(cut)}&status=open&domain=drill&township=liuquan")) == [a_new]
    row = duty.get("/api/v1/alerts?camera=T-99").get_json()["alerts"][0]
    assert row["camera_code"] == "T-99" and row["township"] == {"code": "liuquan", "name": liuquan.name}
    assert row["url"] == f"/api/v1/alerts/{a_new}" and row["status"] == "new"


@pytest.mark.parametrize("query, code", [
    ("limit=0", "invalid"), ("limit=201", "invalid"), ("limit=abc", "invalid"), ("limit=-1", "invalid"),
    ("status=lost", "invalid"), ("order=sideways", "invalid"),
    ("since=2026-11-20T02:00:00", "invalid"),            # no offset
    ("since=yesterday", "invalid"),
    ("since=2026-11-20T02:00:00%2B08:00&until=2026-11-20T01:00:00%2B08:00", "invalid"),
    ("domain=volcano", "unknown_domain"), ("township=atlantis", "unknown_township"),
    ("camera=NOPE", "unknown_camera"),
    ("cursor=garbage", "invalid_cursor"), ("cursor=eyJhZnRlciI6IDF9.forged", "invalid_cursor"),
    ("source=" + "x" * 81, "invalid"), ("source=a%00b", "invalid_text"),
])
def test_bad_list_queries_are_400_with_a_message(app, duty, make_alert, query, code):
    make_alert(status="new")
    before = counts()
    body = _refused(duty.get(f"/api/v1/alerts?{query}"), 400, code)
    assert "Traceback" not in body["message"]
    assert counts() == before


def test_a_cursor_only_pages_the_query_it_came_from(app, duty, make_alert):
    for _ in range(3):
        make_alert(status="new")
    cursor = duty.get("/api/v1/alerts?limit=1&status=open").get_json()["next_cursor"]
    assert _ids(duty.get(f"/api/v1/alerts?limit=1&status=open&cursor={cursor}"))
    # Another limit is fine; other filters or order are not.
    assert len(_ids(duty.get(f"/api/v1/alerts?limit=5&status=open&cursor={cursor}"))) == 2
    _refused(duty.get(f"/api/v1/alerts?limit=1&status=all&cursor={cursor}"), 400, "cursor_mismatch")
    _refused(duty.get(f"/api/v1/alerts?limit=1&status=open&order=oldest&cursor={cursor}"), 400,
             "cursor_mismatch")
    # One flipped character of a real cursor: refused, not another page.
    forged = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    _refused(duty.get(f"/api/v1/alerts?limit=1&status=open&cursor={forged}"), 400, "invalid_cursor")


def test_each_token_lists_what_it_may_see(app, org, api_as, make_alert, dispatched):  # noqa: F811
    duty = api_as("duty_officer", "duty")
    liuquan_handler = api_as("unit_handler", "town.liuquan")
    dahe_handler = api_as("unit_handler", "town.dahe")
    viewer = api_as("leader_viewer")
    in_liuquan = make_alert(status="new", township_id=_township("liuquan").id).id
    in_hongsipu = make_alert(status="new", at=HONGSIPU, township_id=_township("hongsipu").id).id
    in_dahe = make_alert(status="new", at=DAHE, township_id=_township("dahe").id).id
    order = dispatched()   # at Liuquan, no township on the alert: Liuquan cooperates through the order
    behind_order = order["alert_id"]
    every = {in_liuquan, in_hongsipu, in_dahe, behind_order}
    assert set(_ids(duty.get("/api/v1/alerts"))) == every
    assert set(_ids(viewer.get("/api/v1/alerts"))) == every
    assert set(_ids(liuquan_handler.get("/api/v1/alerts"))) == {in_liuquan, behind_order}
    assert set(_ids(dahe_handler.get("/api/v1/alerts"))) == {in_dahe}
    # The list and the one-alert rule agree for every user and alert.
    for api in (duty, liuquan_handler, dahe_handler, viewer):
        listed = set(_ids(api.get("/api/v1/alerts")))
        allowed = {a.id for a in db.session.scalars(select(Alert)) if visibility.can_see_alert(api.user, a)}
        assert listed == allowed, api.user.role
        for aid in every - listed:
            assert api.get(f"/api/v1/alerts/{aid}").status_code == 404
    # Without a token: 401.
    _refused(app.test_client().get("/api/v1/alerts"), 401)


def test_a_source_token_lists_its_own_reports(app, org, duty, make_alert):
    _row, box = create_api_token(source="box-list")
    db.session.commit()
    headers = {"Authorization": f"Bearer {box}"}
    client = app.test_client()
    make_alert(status="new")   # someone else's
    mine = client.post("/api/v1/alerts", headers=headers, json={
        "domain": "drill", "event_type": "slide", "lat": LIUQUAN[0] + 0.1, "lon": LIUQUAN[1],
        "source_event_id": "b1", "label": "slide"}).get_json()["id"]
    # Another source's report nearby, joined by ours: listed, with only what we may see.
    theirs = client.post("/api/v1/alerts", headers={"Authorization": f"Bearer {duty.token}"}, json={
        "domain": "drill", "event_type": "slide", "lat": HONGSIPU[0], "lon": HONGSIPU[1],
        "source_event_id": "d1", "label": "secret label"}).get_json()["id"]
    joined = client.post("/api/v1/alerts", headers=headers, json={
        "domain": "drill", "event_type": "slide", "lat": HONGSIPU[0] + 0.0005, "lon": HONGSIPU[1],
        "source_event_id": "b2"})
    assert joined.status_code == 200 and joined.get_json()["id"] == theirs
    resp = client.get("/api/v1/alerts", headers=headers)
    rows = {a["id"]: a for a in resp.get_json()["alerts"]}
    assert set(rows) == {mine, theirs}
    assert rows[theirs]["source"] == "box-list" and rows[theirs]["label"] is None
    assert rows[mine]["label"] == "slide"


# -- domains -------------------------------------------------------------------------------
def test_domains_list_event_types_names_and_clocks(app, org, duty):
    _row, box = create_api_token(source="box-domains")
    db.session.commit()
    for headers in ({"Authorization": f"Bearer {box}"}, {"Authorization": f"Bearer {duty.token}"}):
        resp = app.test_client().get("/api/v1/domains", headers=headers)
        assert resp.status_code == 200
        domains = {d["code"]: d for d in resp.get_json()["domains"]}
        host = app.extensions["nrsc.plugins"]
        assert set(domains) == set(host.domains)
        drill = domains["drill"]
        assert drill["name_zh"] == "演练" and drill["urgent"] is True and drill["emergency_allowed"] is True
        assert drill["event_types"] == [{"code": "slide", "name_zh": "滑坡", "name_en": "Slide",
                                         "external_labels": [], "basis": "natural"}]
        assert drill["clocks"]["review"] == {"minutes": 5, "working_days": 0, "text": "5m"}
        assert drill["clocks"]["basis"] == "natural"
        assert domains["paper"]["clocks"]["feedback"] == {"minutes": 0, "working_days": 3, "text": "3wd"}
    # What it lists is what intake takes.
    for domain in domains.values():
        for et in domain["event_types"]:
            assert host.domain(domain["code"]).event_type(et["code"]) is not None
            assert et["basis"] == host.domain(domain["code"]).clocks_for(et["code"]).basis
    _refused(app.test_client().get("/api/v1/domains"), 401)


# -- releasing a claim ---------------------------------------------------------------------
def _audits(alert_id, action):
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "alert", AuditEvent.entity_id == alert_id, AuditEvent.action == action)).all()


def test_the_claimant_releases_and_it_is_audited(app, api_as, make_alert):
    duty = api_as("duty_officer", "duty")
    alert = make_alert(status="new")
    claimed = duty.post(f"/api/v1/alerts/{alert.id}/claim", json={}).get_json()
    resp = duty.post(f"/api/v1/alerts/{alert.id}/release", json={"version": claimed["version"]})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "new" and body["claimed_by"] is None and body["version"] == claimed["version"] + 1
    (event,) = _audits(alert.id, "review_release")
    assert event.actor_id == duty.user.id and (event.from_state, event.to_state) == ("under_review", "new")
    # Released: another officer may claim it now.
    other = api_as("duty_officer", "duty")
    assert other.post(f"/api/v1/alerts/{alert.id}/claim", json={}).get_json()["claimed_by"] == other.user.login


def test_only_the_claimant_or_a_duty_lead_releases(app, api_as, make_alert):
    duty = api_as("duty_officer", "duty")
    other = api_as("duty_officer", "duty")
    lead = api_as("duty_lead", "duty")
    handler = api_as("unit_handler", "town.liuquan")
    alert = make_alert(status="new")
    before = counts()
    _refused(duty.post(f"/api/v1/alerts/{alert.id}/release", json={}), 409, "not_claimed")
    assert duty.post(f"/api/v1/alerts/{alert.id}/claim", json={}).status_code == 200
    version = db.session.get(Alert, alert.id).version
    after_claim = counts()
    assert after_claim["AuditEvent"] == before["AuditEvent"] + 1
    _refused(other.post(f"/api/v1/alerts/{alert.id}/release", json={}), 409, "claimed")
    _refused(handler.post(f"/api/v1/alerts/{alert.id}/release", json={}), 403)
    _refused(duty.post(f"/api/v1/alerts/{alert.id}/release", json={"version": version - 1}), 409, "stale")
    _refused(duty.post(f"/api/v1/alerts/{alert.id}/release", json={"version": "two"}), 400)
    _refused(duty.post("/api/v1/alerts/999999/release", json={}), 404)
    assert counts() == after_claim
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).claimed_by_id == duty.user.id
    # The duty lead frees the claim; the audit names whose claim it was.
    resp = lead.post(f"/api/v1/alerts/{alert.id}/release", json={"version": version})
    assert resp.status_code == 200 and resp.get_json()["claimed_by"] is None
    (event,) = _audits(alert.id, "review_release")
    assert event.actor_id == lead.user.id and event.data["previous"] == duty.user.login
    # Decided alerts are not released.
    lead.post(f"/api/v1/alerts/{alert.id}/review", json={"verdict": "confirmed"})
    _refused(lead.post(f"/api/v1/alerts/{alert.id}/release", json={}), 409, "already_decided")


# -- manual alerts -----------------------------------------------------------------------------
MANUAL = {"domain": "drill", "event_type": "slide", "lat": LIUQUAN[0], "lon": LIUQUAN[1],
          "text": "群众电话报告山体滑坡", "source_event_id": "call-1"}


def test_a_manual_alert_is_marked_manual_and_idempotent(app, api_as):
    duty = api_as("duty_officer", "duty")
    photo = jpeg(colour=(10, 20, 30))
    resp = duty.post("/api/v1/alerts/manual", json={
        **MANUAL, "occurred_at": "2026-11-20T01:50:00+08:00",
        "images": [{"filename": "site.jpg", "data": base64.b64encode(photo).decode()}]})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["manual"] is True and body["source"] == "manual" and body["created"] is True
    assert body["text"] == MANUAL["text"] and body["township"]["code"] == "liuquan"
    assert body["evidence"][0]["size"] == len(photo)
    row = db.session.get(Alert, body["id"])
    assert row.reporter_id == duty.user.id and row.occurred_at.isoformat().startswith("2026-11-19T17:50")
    (event,) = _audits(row.id, "alert_created")
    assert event.actor_id == duty.user.id and event.note == "manual"
    # The same key again: the same alert (200), nothing new.
    before = counts()
    again = duty.post("/api/v1/alerts/manual", json=MANUAL)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert {k: v for k, v in counts().items() if k != "AuditEvent"} == \
        {k: v for k, v in before.items() if k != "AuditEvent"}
    # Another officer's key of the same text is another report of theirs (it joins nearby).
    other = api_as("duty_lead", "duty")
    joined = other.post("/api/v1/alerts/manual", json=MANUAL)
    assert joined.status_code == 200 and joined.get_json()["occurrences"] == 2
    # A manual alert is visible to its reporter and listed with manual=true.
    rows = duty.get("/api/v1/alerts?source=manual").get_json()["alerts"]
    assert [(r["id"], r["manual"]) for r in rows] == [(body["id"], True)]


def test_a_manual_alert_by_multipart_with_photos(app, api_as):
    duty = api_as("duty_officer", "duty")
    photo = jpeg(colour=(40, 50, 60))
    data = {k: str(v) for k, v in MANUAL.items()} | {"images": [(io.BytesIO(photo), "p.jpg")]}
    resp = duty.post("/api/v1/alerts/manual", data=data)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["evidence"][0]["size"] == len(photo)


@pytest.mark.parametrize("change, code", [
    ({"text": ""}, "invalid"), ({"text": "   "}, "invalid"), ({"text": None}, "invalid"),
    ({"lat": None, "lon": None}, "invalid"),                      # nowhere
    ({"lon": None}, "invalid"),
    ({"domain": "volcano"}, "unknown_domain"), ({"event_type": "quake"}, "unknown_event_type"),
    ({"lat": 38.6, "lon": 106.0}, "outside_district"),
    ({"lat": None, "lon": None, "camera_code": "NOPE"}, "unknown_camera"),
    ({"preset": 3}, "invalid"),                                   # preset without camera
    ({"occurred_at": "2026-11-20T02:00:00"}, "invalid"),          # no offset
    ({"occurred_at": "2030-01-01T00:00:00+08:00"}, "invalid_field"),  # future
    ({"lat": "north"}, "invalid"), ({"text": "x" * 2001}, "invalid"),
    ({"images": [{"filename": "a.jpg", "data": base64.b64encode(b"not an image").decode()}]}, "not_an_image"),
])
def test_bad_manual_alerts_store_nothing(app, api_as, change, code):
    duty = api_as("duty_officer", "duty")
    before = counts()
    body = {k: v for k, v in ({**MANUAL, **change}).items() if v is not None}
    refused = _refused(duty.post("/api/v1/alerts/manual", json=body))
    if code != "invalid":
        assert refused["error"] == code, refused
    assert counts() == before


def test_only_duty_raises_manual_alerts(app, org, api_as):
    before = counts()
    for role, unit in (("unit_handler", "town.liuquan"), ("leader_viewer", None), ("office_staff", "natural_resources")):
        _refused(api_as(role, unit).post("/api/v1/alerts/manual", json=MANUAL), 403)
    _row, box = create_api_token(source="box-manual")
    db.session.commit()
    _refused(app.test_client().post("/api/v1/alerts/manual", json=MANUAL,
                                    headers={"Authorization": f"Bearer {box}"}), 403)
    _refused(app.test_client().post("/api/v1/alerts/manual", json=MANUAL), 401)
    assert {k: v for k, v in counts().items() if k != "AuditEvent"} == \
        {k: v for k, v in before.items() if k != "AuditEvent"}


def test_the_new_answers_match_the_document(app, api_as, make_alert):
    from tests.api.test_openapi_document import _check
    duty = api_as("duty_officer", "duty")
    doc = duty.get("/api/v1/openapi.json").get_json()
    assert {"/alerts", "/alerts/manual", "/alerts/{id}/release", "/domains"} <= set(doc["paths"])
    assert "get" in doc["paths"]["/alerts"] and "post" in doc["paths"]["/alerts"]
    params = {p["name"] for p in doc["paths"]["/alerts"]["get"]["parameters"]}
    assert params == {"status", "domain", "township", "source", "camera", "since", "until", "order", "limit",
                      "cursor"}
    for _ in range(3):
        make_alert(status="new")
    page = _check(doc, duty.get("/api/v1/alerts?limit=2"), "/alerts", "get")
    _check(doc, duty.get(f"/api/v1/alerts?limit=2&cursor={page['next_cursor']}"), "/alerts", "get")
    _check(doc, duty.get("/api/v1/alerts?cursor=nope"), "/alerts", "get")
    _check(doc, duty.get("/api/v1/domains"), "/domains", "get")
    created = _check(doc, duty.post("/api/v1/alerts/manual", json=MANUAL), "/alerts/manual", "post")
    _check(doc, duty.post("/api/v1/alerts/manual", json=MANUAL), "/alerts/manual", "post")
    _check(doc, duty.post("/api/v1/alerts/manual", json={**MANUAL, "text": ""}), "/alerts/manual", "post")
    aid = created["id"]
    _check(doc, duty.post(f"/api/v1/alerts/{aid}/claim", json={}), "/alerts/{id}/claim", "post")
    _check(doc, duty.post(f"/api/v1/alerts/{aid}/release", json={}), "/alerts/{id}/release", "post")
    _check(doc, duty.post(f"/api/v1/alerts/{aid}/release", json={}), "/alerts/{id}/release", "post")
