"""Every illegal transition of the table is refused with 409 through the API."""
from __future__ import annotations

import io

import pytest

from webapp.extensions import db
from webapp.models import WorkOrder
from webapp.orders import planning, states, workflow


def _photo(make_jpeg):
    return [(make_jpeg(), "p.jpg")]


def _order_in(state, make_alert, people, make_jpeg) -> WorkOrder:
    """An order brought to ``state`` by the service functions."""
    alert = make_alert()
    order = planning.dispatch(alert, actor=people.duty.user)
    if state == "to_accept":
        return order
    if state == "returned":
        return workflow.return_order(order, actor=people.liuquan.user, reason="不是我们的")
    workflow.accept(order, actor=people.nr.user)
    if state == "in_progress":
        return order
    workflow.feedback(order, actor=people.nr.user, result="stopped", text="ok", photos=_photo(make_jpeg))
    if state == "to_review":
        return order
    return workflow.close(order, actor=people.duty.user, confirm_unfinished=True)


def _request(action, make_jpeg):
    """(who, json body or multipart form) that would be valid in a legal state."""
    photo = lambda: [(io.BytesIO(make_jpeg()), "p.jpg")]  # noqa: E731
    return {
        "accept": ("nr", {}),
        "return": ("nr", {"reason": "x"}),
        "arrive": ("nr", {"form": {"lat": "37.14", "lon": "106.35", "photos": photo()}}),
        "forward": ("nr", {"unit": "comprehensive_enforcement"}),
        "feedback": ("nr", {"form": {"result": "stopped", "text": "x", "photos": photo()}}),
        "close": ("duty", {}),
        "rework": ("duty", {"reason": "x"}),
        "extend": ("nr", {"reason": "x", "hours": 2}),
        "approve-extension": ("duty", {}),
        "supervise": ("office", {"note": "x"}),
        "emergency": ("duty", {}),
        "reopen": ("duty", {"reason": "x"}),
        "transfer-case": ("duty", {"case_number": "C-1"}),
        "spot-check": ("office", {"result": "pass"}),
        "redispatch": ("duty", {}),
        "return-decision": ("lead", {"justified": False}),
    }[action]


ILLEGAL = [(action, state) for action, t in states.TRANSITIONS.items()
           for state in sorted(states.ALL_STATES - t.sources)]


def test_table_covers_the_api_actions():
    assert set(states.API_ACTIONS) <= set(states.TRANSITIONS)
    # Each documented action has a row that forbids something.
    assert {a for a, _ in ILLEGAL} >= set(states.API_ACTIONS) - {"supervise", "emergency"} - {"return-decision"}


@pytest.mark.parametrize("action, state", ILLEGAL, ids=[f"{a}-from-{s}" for a, s in ILLEGAL])
def test_illegal_transition_is_refused(action, state, make_alert, people, make_jpeg):
    order = _order_in(state, make_alert, people, make_jpeg)
    assert order.state == state
    version = order.version
    who, body = _request(action, make_jpeg)
    client = getattr(people, who)
    if "form" in body:
        resp = client.post(f"/api/v1/orders/{order.id}/{action}", data=body["form"])
    else:
        resp = client.post(f"/api/v1/orders/{order.id}/{action}", json=body)
    assert resp.status_code == 409, resp.get_json()
    payload = resp.get_json()
    assert payload["error"] == "illegal_transition"
    assert state in payload["message"] and action in payload["message"]
    db.session.expire_all()
    fresh = db.session.get(WorkOrder, order.id)
    assert fresh.state == state and fresh.version == version


def test_participant_state_is_checked_too(make_alert, people, make_jpeg):
    order = _order_in("in_progress", make_alert, people, make_jpeg)
    again = people.nr.post(f"/api/v1/orders/{order.id}/accept")
    assert again.status_code == 409 and "in_progress" in again.get_json()["message"]
    # The lead may not return once it has accepted.
    assert people.nr.post(f"/api/v1/orders/{order.id}/return", json={"reason": "x"}).status_code == 409
    # Checking in twice is refused.
    form = lambda: {"lat": "37.14", "lon": "106.35"}  # noqa: E731
    assert people.nr.post(f"/api/v1/orders/{order.id}/arrive", json=form()).status_code == 200
    r = people.nr.post(f"/api/v1/orders/{order.id}/arrive", json=form())
    assert r.status_code == 409 and r.get_json()["error"] == "already_arrived"
