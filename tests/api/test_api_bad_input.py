"""Bad input to the JSON API (issue 8, item 6): each is a 4xx with
{error, message}, never a 500, and nothing is stored."""
from __future__ import annotations

import pytest

from tests.api.conftest import LIUQUAN, counts
from webapp.api.schema import MAX_ID

HUGE = "99999999999999999999"


def _refused(resp, status=400):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    body = resp.get_json()
    assert set(body) >= {"error", "message"} and body["error"] and body["message"], body
    return body


@pytest.mark.parametrize("url", [
    f"/api/v1/orders/{HUGE}", f"/api/v1/alerts/{HUGE}", f"/api/v1/alerts/{HUGE}/dispatch",
    f"/api/v1/orders/{2**63}", f"/api/v1/orders/{HUGE}/pdf",
    # Past the 32-bit INTEGER columns of PostgreSQL: no route, not an overflow.
    f"/api/v1/orders/{MAX_ID + 1}", f"/api/v1/alerts/{2**63 - 1}",
])
def test_ids_past_64_bits_are_not_found(duty, url):
    _refused(duty.get(url), 404)


def test_ids_past_64_bits_in_posts_and_pages(app, duty, make_alert):
    before = counts()
    for action in ("review", "claim", "acknowledge", "correct", "dispatch"):
        _refused(duty.post(f"/api/v1/alerts/{HUGE}/{action}", json={"verdict": "confirmed"}), 404)
    for action in ("accept", "close", "arrive"):
        _refused(duty.post(f"/api/v1/orders/{HUGE}/{action}", json={}), 404)
    # The largest id is an id: not found, no overflow; one past it matches no route.
    _refused(duty.get(f"/api/v1/orders/{2**31 - 1}"), 404)
    _refused(duty.get(f"/api/v1/orders/{2**31}"), 404)
    # Pages use the same converter: no route matches, so 404 before any login check.
    for page in (f"/files/{HUGE}", f"/orders/{HUGE}", f"/alerts/{HUGE}", f"/files/{2**63}"):
        assert duty.client.get(page).status_code == 404, page
    assert counts() == before


def _post_endpoints(doc):
    """POST paths that read a body (acknowledge reads none and ignores one)."""
    for path, item in doc["paths"].items():
        if "post" in item and "requestBody" in item["post"]:
            yield path.replace("{id}", "1")


def test_deeply_nested_json_is_refused_everywhere(app, duty, make_alert):
    # Alert 1 and order 1 exist and are visible, so every path reaches its body
    # (an order the token may not see is a 404/403 before the body is read).
    alert = make_alert()
    assert duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={}).get_json()["id"] == 1
    doc = duty.get("/api/v1/openapi.json").get_json()
    deep = "[" * 50_000 + "]" * 50_000
    just_too_deep = '{"note": ' + "[" * 64 + "]" * 64 + "}"
    before = counts()
    paths = list(_post_endpoints(doc))
    assert len(paths) >= 20
    for path in paths:
        for raw in (deep, '{"a": ' + deep + "}", just_too_deep):
            resp = duty.client.post(f"/api/v1{path}", data=raw, content_type="application/json",
                                    headers=duty._h())
            body = _refused(resp)
            assert body["error"] in ("too_deep", "invalid", "invalid_field"), (path, body)
    assert counts() == before


@pytest.mark.parametrize("body", [
    {"verdict": "false_alarm", "reason": "weather", "note": 123},
    {"verdict": "false_alarm", "reason": ["x"]},
    {"verdict": "duplicate", "duplicate_of": 99999999999999999999999},
    {"verdict": "duplicate", "duplicate_of": "1; drop table alerts"},
    {"verdict": ["confirmed"]},
    {"verdict": "confirmed", "version": True},
    {"verdict": ""},
    {},
])
def test_review_refuses_wrong_types(duty, make_alert, body):
    alert = make_alert(status="new")
    before, version = counts(), alert.version
    _refused(duty.post(f"/api/v1/alerts/{alert.id}/review", json=body))
    assert counts() == before
    assert duty.get(f"/api/v1/alerts/{alert.id}").get_json()["version"] == version


@pytest.mark.parametrize("raw", [
    '{"cooperating": 5}',
    '{"clocks": {"accept": "999999999999h"}}',
    '{"clocks": {"accept": 4}}',
    '{"clocks": "4h"}',
    '{"working_group": 1e400}',
    '{"working_group": NaN}',
    '{"working_group": true}',
    '{"lead_offices": [1, 2]}',
    '{"title": "' + "x" * 201 + '"}',
    '{"priority": "whenever"}',
    '[1, 2]',
    '{"as_case": "perhaps"}',
    '{"lead_unit": "natural_resources"',
])
def test_dispatch_refuses_malformed_plans(duty, make_alert, raw):
    alert = make_alert()
    before = counts()
    resp = duty.client.post(f"/api/v1/alerts/{alert.id}/dispatch", data=raw, content_type="application/json",
                            headers=duty._h())
    _refused(resp)
    assert counts() == before


def test_order_actions_refuse_wrong_types(duty, make_alert, api_as):
    alert = make_alert()
    order = duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={}).get_json()
    nr = api_as("unit_handler", "natural_resources.geology_mining_office")
    before = counts()
    oid = order["id"]
    cases = [
        ("accept", {"note": 5}), ("accept", {"participant_id": HUGE}), ("accept", {"version": "one"}),
        ("return", {"reason": "   "}), ("return", {"reason": ["x"]}),
        ("arrive", {"lat": "Infinity", "lon": 106.3}),
        ("arrive", {"lat": 91, "lon": 106.3}), ("arrive", {"lat": True, "lon": 106.3}),
        ("extend", {"reason": "rain", "hours": 10**12}), ("extend", {"reason": "rain", "stage": "lunch"}),
        ("redispatch", {"units": {"x": "natural_resources"}}), ("redispatch", {"units": ["a"]}),
        ("spot-check", {"result": "maybe"}), ("return-decision", {"justified": "perhaps"}),
        ("supervise", {"note": ""}), ("transfer-case", {"case_number": {"a": 1}}),
    ]
    for action, body in cases:
        _refused(nr.post(f"/api/v1/orders/{oid}/{action}", json=body))
    assert counts() == before
    assert duty.get(f"/api/v1/orders/{oid}").get_json()["version"] == order["version"]


def _multipart(parts: list[tuple[str | None, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, payload in parts:
        disposition = "form-data" + (f'; name="{name}"' if name is not None else "") + (
            f'; filename="{filename}"' if filename else "")
        out += (b"--XyZ\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + payload + b"\r\n")
    return out + b"--XyZ--\r\n"


@pytest.mark.parametrize("parts", [
    [(None, None, b"hello")],
    [("domain", None, b"drill"), (None, "a.jpg", b"\xff\xd8\xff")],
])
def test_multipart_part_without_a_name(duty, make_alert, parts):
    alert = make_alert()
    order = duty.post(f"/api/v1/alerts/{alert.id}/dispatch", json={}).get_json()
    before = counts()
    for url in ("/api/v1/alerts", f"/api/v1/orders/{order['id']}/arrive", f"/api/v1/orders/{order['id']}/feedback"):
        resp = duty.client.post(url, data=_multipart(parts), content_type="multipart/form-data; boundary=XyZ",
                                headers=duty._h())
        _refused(resp)
    assert counts() == before


def test_intake_refuses_wrong_types_and_stores_nothing(duty):
    base = {"domain": "drill", "event_type": "slide", "lat": LIUQUAN[0], "lon": LIUQUAN[1]}
    before = counts()
    for extra in ({"occurred_at": 1700000000}, {"lat": True}, {"score": 2}, {"preset": 1.5},
                  {"boxes": [[0, 0, 1]]}, {"boxes": [{"label": "x"}]}, {"text": ["x"]},
                  {"images": [{"data": 5}]}, {"domain": "x" * 41}):
        _refused(duty.post("/api/v1/alerts", json={**base, **extra}))
    resp = duty.client.post("/api/v1/alerts", data='{"domain": "drill", "score": NaN}',
                            content_type="application/json", headers=duty._h())
    _refused(resp)
    assert counts() == before


def test_list_limits_are_refused_past_the_documented_maximum(duty):
    doc = duty.get("/api/v1/openapi.json").get_json()
    limit = next(p for p in doc["paths"]["/orders"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200
    assert duty.get("/api/v1/orders?limit=200").status_code == 200
    _refused(duty.get("/api/v1/orders?limit=201"))
    _refused(duty.get("/api/v1/orders?limit=ten"))
    _refused(duty.get("/api/v1/orders?state=lost"))


def test_nul_characters_are_refused_not_a_database_error(duty, make_alert):
    # PostgreSQL text cannot hold U+0000: looking it up or storing it was a 500
    # there (found by tests/api/test_schemathesis.py); SQLite would store it.
    # Refused as a 400 on both, in JSON, multipart and the query string.
    alert = make_alert(status="new")
    order = duty.post(f"/api/v1/alerts/{make_alert().id}/dispatch", json={}).get_json()
    before = counts()
    base = {"domain": "drill", "event_type": "slide", "lat": LIUQUAN[0], "lon": LIUQUAN[1]}
    for url, body in [("/api/v1/alerts", {**base, "source_event_id": "a\x00b"}),
                      ("/api/v1/alerts", {**base, "text": "t\x00"}),
                      ("/api/v1/alerts", {**base, "attributes\x00": 1}),
                      (f"/api/v1/alerts/{alert.id}/review", {"verdict": "false_alarm", "reason": "x\x00"}),
                      (f"/api/v1/orders/{order['id']}/accept", {"note": "\x00"})]:
        assert _refused(duty.post(url, json=body))["error"] == "invalid_text", (url, body)
    resp = duty.client.post("/api/v1/alerts", data=_multipart([("domain", None, b"dr\x00ill")]),
                            content_type="multipart/form-data; boundary=XyZ", headers=duty._h())
    assert _refused(resp)["error"] == "invalid_text"
    assert _refused(duty.get("/api/v1/orders?state=new%00"))["error"] == "invalid_text"
    assert counts() == before
