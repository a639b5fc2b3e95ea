"""Evidence storage: files appear on commit, vanish on rollback, equal content once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.alerts import evidence
from webapp.extensions import db
from webapp.models import EvidenceFile


def test_file_is_published_on_commit_only(app, kit):
    data = kit.jpeg()
    row = evidence.store_image(data, "../../etc/a.jpg", "feedback_photo")
    db.session.flush()
    assert kit.stored_files(app) != [] and all(p.parent.name == "tmp" for p in kit.stored_files(app))
    db.session.commit()
    assert [p.read_bytes() for p in kit.stored_files(app)] == [data]
    assert evidence.absolute_path(row).read_bytes() == data
    assert (row.original_name, row.kind, row.width, row.height) == ("a.jpg", "feedback_photo", 64, 48)


def test_rollback_deletes_staged_files(app, kit):
    evidence.store_image(kit.jpeg(colour=(5, 5, 5)), "x.jpg")
    db.session.rollback()
    assert kit.stored_files(app) == []
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == 0


def test_equal_content_is_stored_once(app, kit):
    data = kit.jpeg(colour=(7, 7, 7))
    evidence.store_image(data, "a.jpg")
    db.session.commit()
    evidence.store_image(data, "b.jpg")
    db.session.commit()
    assert len(kit.stored_files(app)) == 1
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == 2


def test_png_and_webp_accepted_gif_refused(app):
    import io

    from PIL import Image
    for fmt, ctype in (("PNG", "image/png"), ("WEBP", "image/webp")):
        buf = io.BytesIO()
        Image.new("RGB", (10, 10)).save(buf, fmt)
        assert evidence.check_image(buf.getvalue(), "x").content_type == ctype
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "GIF")
    with pytest.raises(evidence.EvidenceError) as err:
        evidence.check_image(buf.getvalue(), "x.gif")
    assert err.value.code == "unsupported_image"
