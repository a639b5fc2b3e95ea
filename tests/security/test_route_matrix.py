"""Role × route × unit: every route of the app's URL map has a rule here, and
each user is let in or refused as the rule says. A new route without a rule
fails ``test_every_route_has_a_rule``.

Users: anonymous, the all-seeing roles, the handling office's handler (geo),
another office of the same department (enf), an outside unit's handler and the
department's leader. GETs are checked both ways (allowed: not 401/403/login;
refused: 401/403/404/login). POSTs are checked for the refused users only, so
the matrix never changes state."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.conftest import Browser
from webapp.extensions import db
from webapp.models import EvidenceFile, NotificationChannel, OutboxMessage, Unit

GEO = "natural_resources.geology_mining_office"
ENF = "natural_resources.enforcement"
USERS = {
    "duty": ("duty_officer", "duty"), "duty_lead": ("duty_lead", "duty"),
    "office": ("office_staff", "natural_resources"), "leader": ("leader_viewer", None), "admin": ("admin", None),
    "geo": ("unit_handler", GEO), "enf": ("unit_handler", ENF), "outsider": ("unit_handler", "forestry_grassland"),
    "dept_leader": ("unit_leader", "natural_resources"),
}
EVERYONE = set(USERS)
SEE_ALL = {"duty", "duty_lead", "office", "leader", "admin"}
ORDER_SEERS = SEE_ALL | {"geo", "dept_leader"}
DUTY = {"duty", "duty_lead", "admin"}
OFFICE_LISTS = SEE_ALL
ADMIN_VIEWERS = {"office", "duty_lead", "leader", "admin"}
CHANNEL_EDITORS = {"office", "admin"}
UNIT_PAGES = {"geo", "enf", "outsider", "dept_leader", "admin"}
ORDER_ACTORS = {"geo", "dept_leader", "admin", "duty", "duty_lead", "office", "leader"}
PUBLIC = EVERYONE | {"anon"}
PRINTERS = {"duty_lead", "office", "admin", "dept_leader"}

# endpoint -> (method, url, allowed users). Placeholders: {order} {alert} {file} {channel} {message}.
A = "/api/v1"
RULES: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("main.home", "GET"): ("/", EVERYONE),
    ("main.healthz", "GET"): ("/healthz", PUBLIC),
    ("main.favicon", "GET"): ("/favicon.ico", PUBLIC),
    ("auth.login", "GET"): ("/login", PUBLIC),
    ("auth.login", "POST"): ("/login", PUBLIC),
    ("auth.logout", "POST"): ("/logout", PUBLIC),
    ("auth.set_language", "POST"): ("/lang/zh_CN", PUBLIC),
    ("admin.units", "GET"): ("/admin/units", ADMIN_VIEWERS),
    ("admin.users", "GET"): ("/admin/users", ADMIN_VIEWERS),
    ("admin.cameras", "GET"): ("/admin/cameras", ADMIN_VIEWERS | {"duty"}),
    ("admin.parcels", "GET"): ("/admin/parcels", ADMIN_VIEWERS | {"duty"}),
    # Changes are the admin's alone (issue 9 item 10); camera 999999 exists nowhere.
    ("admin.user_new", "GET"): ("/admin/users/new", {"admin"}),
    ("admin.user_new", "POST"): ("/admin/users/new", {"admin"}),
    ("admin.user_active", "POST"): ("/admin/users/1/active", {"admin"}),
    ("admin.user_password", "POST"): ("/admin/users/1/password", {"admin"}),
    ("admin.user_edit", "GET"): ("/admin/users/1/edit", {"admin"}),
    ("admin.tokens", "GET"): ("/admin/tokens", {"admin"}),
    ("admin.token_new", "POST"): ("/admin/tokens/new", {"admin"}),
    ("admin.token_revoke", "POST"): ("/admin/tokens/999999/revoke", {"admin"}),
    ("admin.user_edit", "POST"): ("/admin/users/1/edit", {"admin"}),
    ("admin.unit_edit", "GET"): ("/admin/units/{unit}/edit", {"admin"}),
    ("admin.unit_edit", "POST"): ("/admin/units/{unit}/edit", {"admin"}),
    ("admin.camera_edit", "GET"): ("/admin/cameras/999999/edit", {"admin"}),
    ("admin.camera_edit", "POST"): ("/admin/cameras/999999/edit", {"admin"}),
    ("alerts.export_queue", "GET"): ("/alerts/export.xlsx", DUTY),
    ("orders.export_orders", "GET"): ("/orders/export.xlsx", OFFICE_LISTS),
    ("orders.export_backlog", "GET"): ("/orders/backlog.xlsx", OFFICE_LISTS),
    ("alerts.console", "GET"): ("/alerts/", DUTY),
    ("alerts.queue", "GET"): ("/alerts/queue", DUTY),
    ("alerts.detail", "GET"): ("/alerts/{alert}", SEE_ALL),
    ("alerts.new_manual", "GET"): ("/alerts/new", DUTY),
    ("alerts.new_manual", "POST"): ("/alerts/new", DUTY),
    ("alerts.acknowledge", "POST"): ("/alerts/{alert}/acknowledge", DUTY),
    ("alerts.claim", "POST"): ("/alerts/{alert}/claim", DUTY),
    ("alerts.correct", "POST"): ("/alerts/{alert}/correct", DUTY),
    ("alerts.release", "POST"): ("/alerts/{alert}/release", DUTY),
    ("alerts.verdict", "POST"): ("/alerts/{alert}/verdict", DUTY),
    ("api.openapi_document", "GET"): (f"{A}/openapi.json", PUBLIC),
    ("api.me", "GET"): (f"{A}/me", EVERYONE),
    ("alerts_api.post_alert", "POST"): (f"{A}/alerts", EVERYONE - {"leader"}),
    ("alerts_api.get_alert", "GET"): (f"{A}/alerts/{{alert}}", ORDER_SEERS),
    ("alerts_api.acknowledge_alert", "POST"): (f"{A}/alerts/{{alert}}/acknowledge", DUTY),
    ("alerts_api.claim_alert", "POST"): (f"{A}/alerts/{{alert}}/claim", DUTY),
    ("alerts_api.correct_alert", "POST"): (f"{A}/alerts/{{alert}}/correct", DUTY),
    ("alerts_api.review_alert", "POST"): (f"{A}/alerts/{{alert}}/review", DUTY),
    ("alerts_api.dispatch_plan", "GET"): (f"{A}/alerts/{{alert}}/dispatch", DUTY),
    ("alerts_api.dispatch", "POST"): (f"{A}/alerts/{{alert}}/dispatch", DUTY),
    ("orders_api.list_orders", "GET"): (f"{A}/orders", EVERYONE),
    ("orders_api.get_order", "GET"): (f"{A}/orders/{{order}}", ORDER_SEERS),
    ("print.api_order_pdf", "GET"): (f"{A}/orders/{{order}}/pdf", ORDER_SEERS),
    ("files.evidence_file", "GET"): ("/files/{file}", ORDER_SEERS),
    ("notify.channels", "GET"): ("/notify/channels", ADMIN_VIEWERS),
    ("notify.channel_new", "GET"): ("/notify/channels/new", CHANNEL_EDITORS),
    ("notify.channel_new", "POST"): ("/notify/channels/new", CHANNEL_EDITORS),
    ("notify.channel_edit", "GET"): ("/notify/channels/{channel}/edit", CHANNEL_EDITORS),
    ("notify.channel_edit", "POST"): ("/notify/channels/{channel}/edit", CHANNEL_EDITORS),
    ("notify.channel_test", "POST"): ("/notify/channels/{channel}/test", CHANNEL_EDITORS),
    ("notify.channel_toggle", "POST"): ("/notify/channels/{channel}/toggle", CHANNEL_EDITORS),
    ("orders.office", "GET"): ("/orders/", OFFICE_LISTS),
    ("orders.search", "GET"): ("/orders/search", OFFICE_LISTS),
    ("orders.backlog", "GET"): ("/orders/backlog", OFFICE_LISTS),
    ("orders.detail", "GET"): ("/orders/{order}", ORDER_SEERS),
    ("orders.review", "GET"): ("/orders/{order}/review", SEE_ALL),
    ("orders.evidence_file", "GET"): ("/orders/{order}/files/{file}", ORDER_SEERS),
    ("orders.act", "POST"): ("/orders/{order}/act/supervise", ORDER_ACTORS),
    ("orders.dispatch_form", "GET"): ("/orders/dispatch/{alert}", DUTY),
    ("orders.dispatch_form", "POST"): ("/orders/dispatch/{alert}", DUTY),
    ("print.order_pdf", "GET"): ("/orders/{order}/pdf", ORDER_SEERS),
    ("print.prepare_pdf", "GET"): ("/orders/{order}/pdf/prepare", ORDER_SEERS),
    # Batches: the office's roles and department leaders (their own orders); jobs are the requester's.
    ("print.batch_create", "POST"): ("/orders/pdf/batch", PRINTERS),
    ("print.batch_status", "GET"): ("/print-jobs/999999", PRINTERS),
    ("print.batch_download", "GET"): ("/print-jobs/999999/download", PRINTERS),
    ("print.deliveries", "GET"): ("/orders/{order}/deliveries", ORDER_SEERS),
    ("print.retry_delivery", "POST"): ("/orders/{order}/deliveries/{message}/retry", {"duty_lead", "office", "admin"}),
    ("unit.my_orders", "GET"): ("/unit/", UNIT_PAGES),
    ("unit.order", "GET"): ("/unit/orders/{order}", {"geo", "dept_leader", "admin"}),
}
# Cameras (webapp/cameras/views.py): viewers and drivers; "T-00" exists nowhere, so an
# allowed user meets a 404 after the role check and nothing is driven.
CAMERA_VIEWERS = SEE_ALL
CAMERA_DRIVERS = DUTY
RULES.update({
    ("cameras.static", "GET"): ("/cameras/static/cameras.css", PUBLIC),
    ("cameras.index", "GET"): ("/cameras/", CAMERA_VIEWERS),
    ("cameras.status_json", "GET"): ("/cameras/status.json", CAMERA_VIEWERS),
    ("cameras.live", "GET"): ("/cameras/T-00", CAMERA_VIEWERS),
    ("cameras.live_stream", "GET"): ("/cameras/T-00/live.mjpg", CAMERA_VIEWERS),
    ("cameras.snapshot", "GET"): ("/cameras/T-00/snapshot.jpg", CAMERA_VIEWERS),
    ("cameras.take", "POST"): ("/cameras/T-00/control", CAMERA_DRIVERS),
    ("cameras.release", "POST"): ("/cameras/T-00/release", CAMERA_DRIVERS),
    ("cameras.ptz_action", "POST"): ("/cameras/T-00/ptz", CAMERA_DRIVERS),
    ("cameras.record", "POST"): ("/cameras/T-00/record", CAMERA_DRIVERS),
    ("cameras.presets", "GET"): ("/cameras/T-00/presets", CAMERA_DRIVERS),
    ("cameras.preset_save", "POST"): ("/cameras/T-00/presets/save", CAMERA_DRIVERS),
    ("cameras.preset_goto", "POST"): ("/cameras/T-00/presets/1/goto", CAMERA_DRIVERS),
    ("cameras.preset_reference", "POST"): ("/cameras/T-00/presets/1/reference", CAMERA_DRIVERS),
    ("cameras.preset_masks", "POST"): ("/cameras/T-00/presets/1/masks", CAMERA_DRIVERS),
    ("cameras.passages", "GET"): ("/cameras/passages", CAMERA_VIEWERS),
    ("cameras.coverage", "GET"): ("/cameras/coverage", CAMERA_VIEWERS),
    ("cameras.coverage_png", "GET"): ("/cameras/coverage.png", CAMERA_VIEWERS),
    ("cameras.coverage_json", "GET"): ("/cameras/coverage.json", CAMERA_VIEWERS),
    ("cameras_api.api_cameras", "GET"): (f"{A}/cameras", CAMERA_VIEWERS),
    ("cameras_api.api_camera", "GET"): (f"{A}/cameras/T-00", CAMERA_VIEWERS),
})
for _action in ("accept", "arrive", "extension", "feedback", "forward", "return", "transfer-case"):
    endpoint = "unit.return_order" if _action == "return" else f"unit.{_action.replace('-', '_')}"
    RULES[(endpoint, "POST")] = (f"/unit/orders/{{order}}/{_action}", {"geo", "dept_leader", "admin"})
for _action in ("accept", "approve-extension", "arrive", "close", "emergency", "extend", "feedback", "forward",
                "redispatch", "reopen", "return", "return-decision", "rework", "spot-check", "supervise",
                "transfer-case"):
    RULES[(f"orders_api.order_{_action.replace('-', '_')}", "POST")] = (f"{A}/orders/{{order}}/{_action}",
                                                                       ORDER_ACTORS)


# Assessment (webapp/assessment/views.py): {unit} is 自然资源局, the world's lead; its
# offices' staff and its leader see its page, other units only their own.
ASSESS_ALL = ADMIN_VIEWERS
ASSESS_NR = ASSESS_ALL | {"geo", "enf", "dept_leader"}
RULES.update({
    ("assessment.leaderboard", "GET"): ("/assessment/?period=2026-11", ASSESS_ALL | UNIT_PAGES),
    ("assessment.unit_detail", "GET"): ("/assessment/2026-11/unit/{unit}", ASSESS_NR),
    ("assessment.drilldown", "GET"): ("/assessment/2026-11/unit/{unit}/on_time_accept", ASSESS_NR),
    ("assessment.trend", "GET"): ("/assessment/trend?unit={unit}&year=2026", ASSESS_NR),
    ("assessment.close", "POST"): ("/assessment/2026-11/close", CHANNEL_EDITORS),
    ("assessment.adjust", "POST"): ("/assessment/2026-11/adjust", CHANNEL_EDITORS),
    ("assessment.bulletin_file", "GET"): ("/assessment/2026-11/bulletin.xlsx", ASSESS_ALL),
    ("assessment.rules_page", "GET"): ("/assessment/rules", CHANNEL_EDITORS),
    ("assessment.rules_page", "POST"): ("/assessment/rules", CHANNEL_EDITORS),
    ("assessment.rules_export", "GET"): ("/assessment/rules/export", CHANNEL_EDITORS),
    ("assessment.dispatch_pack", "GET"): ("/assessment/dispatch-pack", ASSESS_ALL),
    ("assessment.dispatch_pack_xlsx", "GET"): ("/assessment/dispatch-pack.xlsx", ASSESS_ALL),
    ("assessment.overview", "GET"): ("/assessment/overview?period=2026-11", ASSESS_ALL),
})

# The integrators' API (issue 9 item 11): every token reads the domains and lists
# the alerts it may see (filtered, never refused); the duty desk reports and releases.
RULES.update({
    ("api.domains", "GET"): (f"{A}/domains", EVERYONE),
    ("alerts_api.list_alerts", "GET"): (f"{A}/alerts", EVERYONE),
    ("alerts_api.post_manual_alert", "POST"): (f"{A}/alerts/manual", DUTY),
    ("alerts_api.release_alert", "POST"): (f"{A}/alerts/{{alert}}/release", DUTY),
})
# Learning from verdicts and the models (webapp/detection/views.py): preset 999999 and
# model "nope" exist nowhere, so an allowed user meets a 404 after the role check.
LEARNING_LEADS = {"duty_lead", "admin"}
RULES.update({
    ("detection.precision", "GET"): ("/detection/precision", LEARNING_LEADS),
    ("detection.export_zip", "GET"): ("/detection/export.zip", LEARNING_LEADS),
    ("detection.mask_alert", "POST"): ("/detection/alerts/{alert}/mask", DUTY),
    ("detection.delete_mask", "POST"): ("/detection/presets/999999/masks/delete", CAMERA_DRIVERS),
    ("detection.reset_threshold", "POST"): ("/detection/presets/999999/thresholds/reset", {"admin"}),
    ("detection.models", "GET"): ("/detection/models", {"admin"}),
    ("detection.switch_model", "POST"): ("/detection/models/nope/switch", {"admin"}),
})


def test_every_route_has_a_rule(app):
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in RULES:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert missing == [], "routes without an access rule in this matrix: " + ", ".join(missing)


@pytest.fixture
def world(app, org, dispatched, people, make_user, with_photo):
    """One drill order led by natural_resources with the geology office as
    handling office, a check-in photo, a channel and an outbox message; a
    browser session and a token per user."""
    from webapp.platform.security import create_api_token
    order = dispatched()
    oid = order["id"]
    assert people.nr.post(f"/api/v1/orders/{oid}/accept").status_code == 200
    assert people.nr.post(f"/api/v1/orders/{oid}/arrive",
                          data=with_photo(lat=37.141, lon=106.35, accuracy_m=8)).status_code == 200
    file_id = db.session.scalar(select(EvidenceFile.id).where(EvidenceFile.order_id == oid))
    channel = NotificationChannel(channel="wecom", target="https://qyapi.weixin.qq.com/x?key=K", active=True)
    db.session.add(channel)
    db.session.commit()
    message = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.order_id == oid))
    ids = {"order": oid, "alert": order["alert_id"], "file": file_id, "channel": channel.id, "message": message,
           "unit": db.session.scalar(select(Unit.id).where(Unit.code == "natural_resources"))}
    sessions, tokens = {"anon": Browser(app.test_client())}, {"anon": None}
    for label, (role, unit) in USERS.items():
        user = make_user(role, unit, login=f"m_{label}")
        b = Browser(app.test_client())
        assert b.login(user.login).status_code == 302
        sessions[label] = b
        _row, tokens[label] = create_api_token(user=user)
    db.session.commit()
    return SimpleNamespace(ids=ids, sessions=sessions, tokens=tokens)


def _request(world, label: str, method: str, url: str):
    if url.startswith("/api/"):
        client = world.sessions["anon"].client
        headers = {"Authorization": f"Bearer {world.tokens[label]}"} if world.tokens[label] else {}
        if method == "GET":
            return client.get(url, headers=headers)
        return client.post(url, json={}, headers=headers)
    browser = world.sessions[label]
    return browser.get(url) if method == "GET" else browser.post(url, data={})


def _refused(resp) -> bool:
    if resp.status_code in (401, 403, 404):
        return True
    return resp.status_code == 302 and resp.headers.get("Location", "").startswith("/login")


def test_matrix(world):
    problems = []
    for (endpoint, method), (template, allowed) in RULES.items():
        url = template.format(**world.ids)
        for label in ["anon", *USERS]:
            if method == "POST" and label in allowed:
                continue  # never change state in the matrix
            resp = _request(world, label, method, url)
            if label in allowed:
                if resp.status_code in (401, 403) or (resp.status_code == 302 and
                                                      resp.headers.get("Location", "").startswith("/login")):
                    problems.append(f"{label} refused {method} {url} ({resp.status_code})")
                elif resp.status_code >= 500:
                    problems.append(f"{label} got {resp.status_code} on {method} {url}")
            elif not _refused(resp):
                problems.append(f"{label} let in on {method} {url} ({resp.status_code})")
    assert problems == [], "\n".join(problems)
