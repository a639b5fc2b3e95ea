"""API tokens from the admin pages, through real HTTP: made for an intake
source or a user and shown once (only the hash stored), used over the API,
revoked after a confirmation for good; bad input fails in place and stores
nothing; every change audited; nobody but an admin gets in."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent
from webapp.platform.security import hash_token


@pytest.fixture
def admin(org, login_as):
    browser, _user = login_as("admin")
    return browser


def _token(page: str) -> str:
    return re.search(r'<code class="one-time-token" data-token>([^<]+)</code>', page).group(1)


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _count() -> int:
    return db.session.scalar(select(func.count(ApiToken.id)))


def test_bad_input_fails_in_place_and_stores_nothing(admin):
    page = admin.get("/admin/tokens").get_data(as_text=True)
    assert "API 令牌" in page and "尚无 API 令牌" in page and 'name="csrf_token"' in page
    for form, field, message in (
            ({"kind": "source", "source": "a b", "label": "盒子"}, "source", "接入源名称为 2 到 80 个"),
            ({"kind": "source", "source": "manual"}, "source", "保留名称"),
            ({"kind": "user", "login": "nobody"}, "login", "请从列表中选择一个在用的用户"),
            ({"kind": "robot"}, "kind", "请选择令牌的身份"),
            ({"kind": "source", "source": "box-1", "label": "长" * 121}, "label", "备注最多 120 个字符")):
        resp = admin.post("/admin/tokens/new", data=form)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400, form
        assert re.search(rf'id="error-{field}" role="alert">[^<]*{message}', html), (form, field)
        if form.get("source"):
            assert f'value="{form["source"]}"' in html  # what was typed is kept
    assert _count() == 0 and _events("token_created") == []


def test_source_and_user_tokens_shown_once_used_then_revoked_after_confirmation(app, admin, make_user):
    integrator = make_user("office_staff", "natural_resources", login="excel_bridge")
    resp = admin.post("/admin/tokens/new", data={"kind": "source", "source": "ai-box-07", "label": "北山 AI 盒子"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    source_token = _token(resp.get_data(as_text=True))
    resp = admin.post("/admin/tokens/new", data={"kind": "user", "login": "excel_bridge"})
    user_token = _token(resp.get_data(as_text=True))
    rows = {r.source_name or r.user.login: r for r in db.session.scalars(select(ApiToken))}
    assert rows["ai-box-07"].token_hash == hash_token(source_token) and rows["ai-box-07"].label == "北山 AI 盒子"
    assert rows["excel_bridge"].user_id == integrator.id
    created = _events("token_created")
    assert [e.data["source"] for e in created] == ["ai-box-07", None] and created[0].actor_label != "cli"
    assert all(source_token not in repr(e.data) for e in created)

    api = app.test_client()
    as_source = api.get("/api/v1/me", headers={"Authorization": f"Bearer {source_token}"}).get_json()
    assert as_source == {"kind": "source", "source": "ai-box-07"}
    as_user = api.get("/api/v1/me", headers={"Authorization": f"Bearer {user_token}"}).get_json()
    assert as_user["kind"] == "user" and as_user["login"] == "excel_bridge"
    # Shown once: the list shows the prefix, never the token.
    listing = admin.get("/admin/tokens").get_data(as_text=True)
    assert source_token not in listing and user_token not in listing
    assert f"{rows['ai-box-07'].prefix}…" in listing and "有效" in listing

    token_id = rows["ai-box-07"].id
    ask = admin.post(f"/admin/tokens/{token_id}/revoke")
    assert ask.status_code == 200 and "确定吊销" in ask.get_data(as_text=True) and _events("token_revoked") == []
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {source_token}"}).status_code == 200
    done = admin.post(f"/admin/tokens/{token_id}/revoke", data={"confirm": "1"})
    assert done.status_code == 302
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {source_token}"}).status_code == 401
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {user_token}"}).status_code == 200
    (event,) = _events("token_revoked")
    assert event.entity_id == token_id and event.data["source"] == "ai-box-07"
    assert "已于" in admin.get("/admin/tokens").get_data(as_text=True)
    assert admin.post("/admin/tokens/999999/revoke", data={"confirm": "1"}).status_code == 404


def test_only_admins(org, login_as):
    for role, unit in (("office_staff", "natural_resources"), ("duty_lead", "duty"), ("leader_viewer", None)):
        browser, _user = login_as(role, unit)
        assert browser.get("/admin/tokens").status_code == 403
        assert browser.post("/admin/tokens/new", data={"kind": "source", "source": "sneaky"}).status_code == 403
    assert _count() == 0
