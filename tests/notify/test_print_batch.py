"""Printing at speed: print-size photo copies, the per-version PDF cache, the
page that shows progress, and batches as background jobs (real PDF bytes,
real HTTP requests, real ZIP files)."""
from __future__ import annotations

import io
import re
import subprocess
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import select

from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import AuditEvent, EvidenceFile, Feedback, PrintJob
from webapp.platform import imaging
from webapp.printing import pdf

from tests.notify.test_pdf import _three_orders

FEEDBACK = ("现场核查：火点位于北山坡天然草地，已组织扑救，过火面积约两亩，无人员伤亡。" * 60)[:2000]


def phone_photo(seed: int, size=(4000, 3000)) -> bytes:
    """A 12-megapixel JPEG, as a phone takes it."""
    img = Image.new("RGB", size, (30 + 40 * seed, 90, 60))
    ImageDraw.Draw(img).ellipse((1000, 800, 3000, 2200), outline=(255, 255, 255), width=30)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def with_phone_feedback(order) -> Feedback:
    lead = order.participants[0]
    fb = Feedback(order_id=order.id, participant_id=lead.id, result="resolved", text=FEEDBACK)
    db.session.add(fb)
    db.session.flush()
    for i in range(4):
        evidence.store_image(phone_photo(i), f"IMG_{i}.jpg", kind="feedback", order_id=order.id,
                             participant_id=lead.id, feedback_id=fb.id)
    db.session.commit()
    return fb


def pdf_image_sizes(data: bytes, tmp_path: Path) -> list[tuple[int, int]]:
    source = tmp_path / "images.pdf"
    source.write_bytes(data)
    listing = subprocess.run(["pdfimages", "-list", str(source)], check=True, capture_output=True,
                             timeout=60).stdout.decode().splitlines()[2:]
    return [(int(line.split()[3]), int(line.split()[4])) for line in listing if line.split()[2] == "image"]


def pdftotext(data: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", str(source), "-"], check=True, capture_output=True,
                          timeout=60).stdout.decode()


def test_phone_photos_get_print_copies_when_stored_and_the_pdf_embeds_only_those(app, make_order, tmp_path):
    order = make_order()
    with_phone_feedback(order)
    root = evidence.files_root()
    rows = db.session.scalars(select(EvidenceFile).where(EvidenceFile.kind == "feedback",
                                                         EvidenceFile.width == 4000)).all()
    assert len(rows) == 4
    for row in rows:
        copy = imaging.print_copy_path(root, row.sha256)
        assert copy.is_file()  # made when stored, before any PDF
        with Image.open(copy) as img:
            assert max(img.size) == imaging.PRINT_MAX_PX
        assert (root / row.path).read_bytes()[:2] == b"\xff\xd8"  # the original stays as evidence
        with Image.open(root / row.path) as original:
            assert original.size == (4000, 3000)

    data = pdf.render_order_pdf(order)
    sizes = pdf_image_sizes(data, tmp_path)
    assert len(sizes) >= 6  # snapshot, check-in, four feedback photos
    assert max(max(s) for s in sizes) <= imaging.PRINT_MAX_PX
    assert (1200, 900) in sizes
    text = pdftotext(data, tmp_path).replace("\n", "")
    assert "现场核查：火点位于北山坡天然草地" in text and "无人员伤亡" in text


def test_snapshots_stored_before_get_their_copy_lazily_once(app, make_order, tmp_path):
    order = make_order()
    snapshot = db.session.scalar(select(EvidenceFile).where(EvidenceFile.alert_id == order.alert_id))
    copy = imaging.print_copy_path(evidence.files_root(), snapshot.sha256)
    assert not copy.exists()  # camera snapshots: no copy at intake
    pdf.render_order_pdf(order)
    assert copy.is_file()
    made = copy.stat().st_mtime_ns
    pdf.render_order_pdf(order)
    assert copy.stat().st_mtime_ns == made


def test_the_cache_returns_identical_bytes_until_the_order_changes(app, make_order, login_as, clock):
    order = make_order()
    office, _ = login_as("office_staff")
    first = office.get(f"/orders/{order.id}/pdf")
    second = office.get(f"/orders/{order.id}/pdf")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data

    # Any change to the order makes a new PDF: here a supervision through the page.
    version = order.version
    resp = office.post(f"/orders/{order.id}/act/supervise", data={"version": version, "note": "请加快处置进度"})
    assert resp.status_code in (200, 302, 303)
    db.session.refresh(order)
    assert order.version == version + 1
    third = office.get(f"/orders/{order.id}/pdf")
    assert third.data != first.data
    assert office.get(f"/orders/{order.id}/pdf").data == third.data
    # One file per order: the old version is gone.
    folder = Path(app.config["NRSC_DATA_DIR"]) / "cache" / "pdf" / str(order.id)
    assert len(list(folder.glob("*.pdf"))) == 1

    # A new photo changes it too, and so does a deadline passing.
    data, cached = pdf.cached_order_pdf(order)
    assert cached and data == third.data
    evidence.store_image(phone_photo(9, (800, 600)), "more.jpg", kind="checkin", order_id=order.id,
                         participant_id=order.participants[0].id)
    db.session.commit()
    assert pdf.cached_order_pdf(order)[1] is False
    assert pdf.cached_order_pdf(order)[1] is True
    clock.advance(minutes=10)  # past the cooperating units' accept deadline
    assert pdf.cached_order_pdf(order)[1] is False


def test_the_order_page_shows_progress_and_then_the_link(app, make_order, login_as):
    order = make_order()
    office, _ = login_as("office_staff")
    page = office.get(f"/orders/{order.id}").get_data(as_text=True)
    assert f'hx-get="/orders/{order.id}/pdf/prepare"' in page and 'id="pdf-progress"' in page
    assert "正在生成 PDF 工单" in page
    made = office.get(f"/orders/{order.id}/pdf/prepare", headers={"HX-Request": "true"})
    text = made.get_data(as_text=True)
    assert made.status_code == 200 and "data-pdf-ready" in text and "已生成" in text
    again = office.get(f"/orders/{order.id}/pdf/prepare", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "已就绪" in again


def _zip_names(resp) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(resp.data)) as archive:
        for name in archive.namelist():
            assert archive.read(name).startswith(b"%PDF-")
        return set(archive.namelist())


def test_batch_print_is_a_job_with_a_download_of_every_visible_order(app, make_order, login_as, tmp_path):
    a, b, c = _three_orders(make_order)
    office, user = login_as("office_staff")
    listing = office.get("/orders/search?state=all").get_data(as_text=True)
    assert 'action="/orders/pdf/batch"' in listing
    resp = office.post("/orders/pdf/batch", data={"state": "all", "domain": "fire"})
    assert resp.status_code == 302
    job_url = resp.headers["Location"]
    job = db.session.scalar(select(PrintJob))
    assert job_url.endswith(f"/print-jobs/{job.id}") and job.requested_by_id == user.id
    page = office.get(job_url).get_data(as_text=True)
    assert "已打印 2 份工单" in page
    link = re.search(r'href="([^"]+/download)"', page).group(1)
    download = office.get(link)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert _zip_names(download) == {f"{a.number}.pdf", f"{b.number}.pdf"}
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "print_job")))
    assert actions == {"print_batch_requested", "print_batch_done", "print_batch_download"}

    # The job and its file are the requester's alone.
    other, _ = login_as("office_staff")
    assert other.get(job_url).status_code == 404
    assert other.get(link).status_code == 404


def test_batch_print_respects_roles_and_units(app, make_order, login_as):
    a, b, c = _three_orders(make_order)
    leader, _ = login_as("leader_viewer")
    assert "/orders/pdf/batch" not in leader.get("/orders/search?state=all").get_data(as_text=True)
    assert leader.post("/orders/pdf/batch", data={"state": "all"}).status_code == 403
    handler, _ = login_as("unit_handler", "town.liuquan")
    assert handler.post("/orders/pdf/batch", data={"state": "all"}).status_code == 403
    assert db.session.scalar(select(PrintJob)) is None

    # A department's leader gets only the department's orders, whatever the filters say.
    dept, _ = login_as("unit_leader", "natural_resources")
    resp = dept.post("/orders/pdf/batch", data={"state": "all"})
    page = dept.get(resp.headers["Location"]).get_data(as_text=True)
    link = re.search(r'href="([^"]+/download)"', page).group(1)
    assert _zip_names(dept.get(link)) == {f"{c.number}.pdf"}


def test_a_batch_with_nothing_or_too_much_is_refused_in_chinese_and_stores_nothing(app, make_order, login_as):
    _three_orders(make_order)
    office, _ = login_as("office_staff")
    resp = office.post("/orders/pdf/batch", data={"state": "all", "domain": "ecology"}, follow_redirects=True)
    assert "没有符合筛选条件的工单" in resp.get_data(as_text=True)
    app.config["NRSC_PDF_BATCH_MAX"] = 2
    resp = office.post("/orders/pdf/batch", data={"state": "all"}, follow_redirects=True)
    assert resp.status_code == 200 and "共 3 个工单符合条件" in resp.get_data(as_text=True)
    assert db.session.scalar(select(PrintJob)) is None


def test_closing_makes_the_pdf_ahead_for_the_office(app, make_order, login_as, make_user):
    """NRSC_PDF_PRERENDER (on by default; off in the other tests): closing
    through the page or the API has the worker make the closed order's PDF,
    which the office then gets from the cache."""
    from webapp.platform.security import create_api_token
    app.config["NRSC_PDF_PRERENDER"] = True
    duty, _user = login_as("duty_officer", "duty")
    office, _ = login_as("office_staff")
    by_page, by_api, not_ahead = (make_order(f"HSB-2026-00090{n}") for n in range(3))

    resp = duty.post(f"/orders/{by_page.id}/act/close", data={"version": by_page.version, "confirm_unfinished": "1"})
    assert resp.status_code == 302
    _row, token = create_api_token(user=make_user("duty_officer", "duty", login="duty_api"))
    db.session.commit()
    resp = app.test_client().post(f"/api/v1/orders/{by_api.id}/close", json={"confirm_unfinished": True},
                                  headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "closed"

    for order in (by_page, by_api):
        db.session.expire_all()
        order = db.session.get(type(order), order.id)
        ahead = pdf.cached_pdf_if_any(order)
        assert ahead is not None and ahead.startswith(b"%PDF-")
        served = office.get(f"/orders/{order.id}/pdf")
        assert served.status_code == 200 and served.data == ahead

    # Switched off, closing makes nothing; the PDF is made when first asked for.
    app.config["NRSC_PDF_PRERENDER"] = False
    resp = duty.post(f"/orders/{not_ahead.id}/act/close", data={"version": not_ahead.version,
                                                                 "confirm_unfinished": "1"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert pdf.cached_pdf_if_any(db.session.get(type(not_ahead), not_ahead.id)) is None
