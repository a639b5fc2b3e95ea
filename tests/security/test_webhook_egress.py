"""Webhook targets: an allow-list of hosts; loopback, link-local and private
addresses refused unless listed; redirects never followed."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp.notify import egress
from webapp.notify.notifiers import WeComNotifier
from webapp.plugin_api import Message


@pytest.fixture
def defaults(app):
    app.config.pop("NRSC_WEBHOOK_ALLOW", None)
    return app


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5000/api/v1/alerts", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest",
    "http://10.0.0.5/hook", "http://192.168.1.1/x", "http://172.16.0.1/x", "https://example.com/hook",
    "http://0.0.0.0/x", "http://[::ffff:127.0.0.1]/x"])
def test_default_allow_list_refuses_inside_and_unknown_hosts(defaults, url):
    with pytest.raises(egress.EgressRefused):
        egress.check_target(url)


def test_robot_hosts_are_allowed_by_default(defaults):
    for url in ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "https://oapi.dingtalk.com/robot/send"):
        assert egress.check_host(url)


def test_allow_listed_hostname_resolving_inside_is_refused(app):
    app.config["NRSC_WEBHOOK_ALLOW"] = "localhost"
    with pytest.raises(egress.EgressRefused, match="internal address"):
        egress.check_target("http://localhost/x")
    app.config["NRSC_WEBHOOK_ALLOW"] = "localhost,127.0.0.0/8,::1"
    egress.check_target("http://localhost/x")


def test_channel_form_refuses_a_host_off_the_list(defaults, org, login_as):
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import NotificationChannel, Unit
    browser, _user = login_as("office_staff", "natural_resources")
    unit = db.session.scalar(select(Unit).where(Unit.code == "natural_resources"))
    resp = browser.post("/notify/channels/new", data={"unit_id": str(unit.id), "domain": "", "channel": "wecom",
                                                     "target": "http://127.0.0.1:8000/api/v1/alerts", "active": "1"})
    assert resp.status_code == 400
    assert "允许名单" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(NotificationChannel)) == 0


def test_send_refuses_loopback_and_never_follows_redirects(app):
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    message = Message(channel="wecom", target=url, title="t", body="b", link=None, idempotency_key="k")
    try:
        app.config["NRSC_WEBHOOK_ALLOW"] = "qyapi.weixin.qq.com"
        refused = WeComNotifier().send(message)
        assert not refused.ok and refused.retry is False and hits == []
        app.config["NRSC_WEBHOOK_ALLOW"] = "127.0.0.1"
        redirected = WeComNotifier().send(message)
        assert not redirected.ok and redirected.detail == "HTTP 302" and hits == ["/hook"]
    finally:
        server.shutdown()
        server.server_close()
