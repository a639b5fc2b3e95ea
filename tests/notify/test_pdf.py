"""PDF work orders: real PDF bytes checked with poppler's pdftotext/pdftoppm."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from webapp.printing import pdf


def pdftotext(data: bytes, tmp_path: Path) -> str:
    source = tmp_path / "order.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True,
                          capture_output=True, timeout=60).stdout.decode()


def page_count(data: bytes, tmp_path: Path) -> int:
    source = tmp_path / "count.pdf"
    source.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(source)], check=True, capture_output=True, timeout=60).stdout.decode()
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_single_order_pdf_has_the_form_in_chinese_and_renders_to_png(make_order, tmp_path):
    order = make_order()
    data = pdf.render_order_pdf(order)
    assert data.startswith(b"%PDF-")
    text = pdftotext(data, tmp_path)
    for expected in ("HSB-2026-000731", "预警信息处置办理工单", "大河乡", "林业和草原局", "资源管理室",
                     "森林草原防火", "火情", "T-17", "北山天然草地", "已扑灭", "值守员03", "37.490000"):
        assert expected in text, expected
    keep = os.environ.get("NRSC_KEEP_PDF")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "order.pdf").write_bytes(data)
    (tmp_path / "order.pdf").write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(tmp_path / "order.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    png = next(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def _three_orders(make_order):
    a = make_order("HSB-2026-000101")
    b = make_order("HSB-2026-000102", lat=37.48, lon=106.25)
    c = make_order("HSB-2026-000103", lead="natural_resources",
                   offices=("natural_resources.geology_mining_office",),
                   cooperating=("town.liuquan", "emergency_management"), township="liuquan",
                   lat=37.14, lon=106.35, domain="geohazard", event_type="landslide", with_feedback=False)
    return a, b, c


def test_batch_pdf_has_every_order_each_on_its_own_pages(make_order, tmp_path):
    orders = _three_orders(make_order)
    data = pdf.render_orders_pdf(orders)
    text = pdftotext(data, tmp_path)
    assert text.count("预警信息处置办理工单") == 3
    for order in orders:
        assert order.number in text
    assert "柳泉乡" in text and "自然资源局" in text and "地质矿产管理室" in text and "应急管理局" in text
    single_pages = sum(page_count(pdf.render_order_pdf(o), tmp_path) for o in orders)
    assert page_count(data, tmp_path) == single_pages
    # Each order starts on a fresh page: the form title heads a page three times.
    heads = ["\n".join([line for line in page.splitlines() if line.strip()][:3]) for page in text.split("\f")]
    assert sum("预警信息处置办理工单" in head for head in heads) == 3


def test_routes_print_only_orders_the_user_may_see(make_order, login_as, tmp_path, clock):
    a, b, c = _three_orders(make_order)
    office, _ = login_as("office_staff")
    resp = office.get(f"/orders/{a.id}/pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert f'filename="{a.number}.pdf"' in resp.headers["Content-Disposition"]
    assert a.number in pdftotext(resp.data, tmp_path)

    township, _ = login_as("unit_handler", "town.liuquan")
    assert township.get(f"/orders/{c.id}/pdf").status_code == 200
    assert township.get(f"/orders/{a.id}/pdf").status_code == 404
    assert township.get(f"/orders/{a.id}/pdf/prepare").status_code == 404

    # An office inside a department sees the department's orders.
    office_staff, _ = login_as("unit_handler", "natural_resources.geology_mining_office")
    assert office_staff.get(f"/orders/{c.id}/pdf").status_code == 200
    assert office_staff.get(f"/orders/{a.id}/pdf").status_code == 404

    anonymous = office.client.application.test_client()
    assert anonymous.get(f"/orders/{a.id}/pdf").status_code == 302


def test_api_pdf_with_a_user_token(make_order, make_user, app, tmp_path):
    from webapp.extensions import db
    from webapp.platform.security import create_api_token

    a, _b, c = _three_orders(make_order)
    forestry = make_user("unit_handler", "forestry_grassland")
    _row, token = create_api_token(user=forestry)
    _row, source_token = create_api_token(source="nvr-1")
    db.session.commit()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    resp = client.get(f"/api/v1/orders/{a.id}/pdf", headers=auth)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert a.number in pdftotext(resp.data, tmp_path)
    missing = client.get(f"/api/v1/orders/{c.id}/pdf", headers=auth)
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    assert client.get(f"/api/v1/orders/{a.id}/pdf").status_code == 401
    assert client.get(f"/api/v1/orders/{a.id}/pdf",
                      headers={"Authorization": f"Bearer {source_token}"}).status_code == 403
    spec = client.get("/api/v1/openapi.json").json
    assert "application/pdf" in spec["paths"]["/orders/{id}/pdf"]["get"]["responses"]["200"]["content"]


def test_domain_plugin_template_fills_the_details_block(app_config, clock, tmp_path):
    """A plugin's template extends the base and its block appears in the PDF."""
    from jinja2 import ChoiceLoader, DictLoader

    from webapp import create_app
    from webapp.demo.data import load_organisation
    from webapp.extensions import db
    from webapp.models import WorkOrder
    from webapp.plugin_api import Clock, Domain, EventType, SlaClocks, hookimpl

    class PrintPlugin:
        # The host asks for a domain's template only the plugin that declared it.
        @hookimpl
        def register_domains(self):
            return [Domain("testdomain", "试验领域", "Test domain", "#123456", "x", 1,
                           (EventType("test", "试验", "Test"),), SlaClocks(*(Clock(30),) * 4))]

        @hookimpl
        def workorder_template(self, domain):
            return "orders/pdf/testdomain.html"

    application = create_app(app_config, plugins=[PrintPlugin()], load_entrypoints=False)
    application.jinja_env.loader = ChoiceLoader([DictLoader({"orders/pdf/testdomain.html": (
        '{% extends "orders/pdf/base.html" %}{% block domain_details %}'
        '<h3>试验领域现场核查记录</h3>{% endblock %}')}), application.jinja_env.loader])
    with application.app_context():
        load_organisation()
        order = WorkOrder(number="HSB-2026-000900", title="试验", domain="testdomain")
        other = WorkOrder(number="HSB-2026-000901", title="试验", domain="unknown")
        db.session.add_all([order, other])
        db.session.commit()
        assert "试验领域现场核查记录" in pdftotext(pdf.render_order_pdf(order), tmp_path)
        plain = pdftotext(pdf.render_order_pdf(other), tmp_path)
        assert "预警信息处置办理工单" in plain and "试验领域现场核查记录" not in plain
        db.session.remove()
        db.engine.dispose()


def test_order_map_svg_draws_the_shared_map_features_as_escaped_text(make_order):
    """The PDF's map is the pages' map (webapp/gis/maps.py) drawn as SVG."""
    from webapp.extensions import db
    from webapp.gis import maps
    from webapp.models import Parcel, Township

    order = make_order()
    town = db.session.get(Township, order.township_id)
    town.name = "大河乡<script>"
    db.session.add(Parcel(layer="forest_grassland", code="LC-9", name="<img src=x onerror=alert(1)>",
                          geometry={"type": "Polygon", "coordinates": [[[106.229, 37.489], [106.232, 37.489],
                                                                        [106.232, 37.492], [106.229, 37.489]]]},
                          min_lon=106.229, max_lon=106.232, min_lat=37.489, max_lat=37.492))
    db.session.commit()
    data = maps.order_payload(order)
    assert [p["kind"] for p in data["points"]] == ["event", "checkin"]
    assert data["cameras"][0]["code"] == "T-17" and data["cameras"][0]["azimuth"] is not None
    assert data["legend"] == [{"layer": "forest_grassland", "name": "林地／草地", "colour": data["legend"][0]["colour"]}]
    svg = str(maps.svg(data))
    assert svg.startswith("<svg") and "<script>" not in svg and "<img" not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg and "林地／草地" in svg
    assert 'fill="#c53030"' in svg and "T-17" in svg and ("m</text>" in svg or "km</text>" in svg)
