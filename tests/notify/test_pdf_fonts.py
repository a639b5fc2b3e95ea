"""The PDF's reduced Chinese font (webapp/printing/fonts.py): embedded when
set-up built it, the full Noto Sans CJK SC for what it lacks, and the full font
alone when it is missing. Checked in real PDF bytes with poppler's pdffonts
and pdftotext."""
from __future__ import annotations

import gc
import subprocess
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from webapp.extensions import db
from webapp.printing import fonts, pdf

RARE = "张䶮、王𠀀"  # U+4DAE (CJK extension A) and U+20000 (extension B): not in GB2312
# A few characters only: the real reduced fonts (all of GB2312) take a minute to build.
SMALL = "预警信息处置办理工单大河乡草原火情北山坡见烟雾及明火"


def poppler(tool: str, data: bytes, tmp_path: Path) -> str:
    source = tmp_path / f"{tool}.pdf"
    source.write_bytes(data)
    args = [tool, str(source)] + (["-"] if tool == "pdftotext" else [])
    return subprocess.run(args, check=True, capture_output=True, timeout=60).stdout.decode()


@pytest.fixture(scope="module")
def small_fonts(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fonts")
    points = sorted({ord(c) for c in SMALL} | set(range(0x20, 0x7F)))
    assert fonts.ensure_reduced_fonts(folder, points) is not None, "Noto Sans CJK SC is not installed"
    return folder


def test_the_reduced_set_is_gb2312_with_punctuation_and_not_rarer_characters():
    points = set(fonts.codepoints())
    assert len([p for p in points if 0x4E00 <= p <= 0x9FFF]) == 6763  # every GB2312 hanzi
    assert {ord(c) for c in "，。、：；（）“”《》ＡＢ０１é·—…①℃"} <= points
    assert ord("䶮") not in points and ord("𠀀") not in points
    assert 7000 < len(points) < 8500


def test_reduced_fonts_are_renamed_cover_their_characters_and_are_built_once(small_fonts):
    built = fonts.reduced_fonts(small_fonts)
    assert set(built) == {"regular", "bold"}
    for weight, path in built.items():
        font = TTFont(str(path))
        assert font["name"].getDebugName(1) == "NRSC Sans GB"
        assert font["name"].getDebugName(6) == f"NRSCSansGB-{'Bold' if weight == 'bold' else 'Regular'}"
        cmap = font.getBestCmap()
        assert all(ord(c) in cmap for c in SMALL) and ord("䶮") not in cmap and ord("林") not in cmap
    stamps = {p: p.stat().st_mtime_ns for p in built.values()}
    assert fonts.ensure_reduced_fonts(small_fonts, sorted({ord(c) for c in SMALL} | set(range(0x20, 0x7F))))
    assert {p: p.stat().st_mtime_ns for p in built.values()} == stamps  # idempotent: not rebuilt


def test_pdf_embeds_the_reduced_font_and_the_full_font_prints_what_it_lacks(make_order, app, small_fonts,
                                                                          tmp_path):
    order = make_order()
    order.description = f"北山坡见烟雾及明火，报告人{RARE}"
    db.session.commit()
    app.config["NRSC_PDF_FONT_DIR"] = str(small_fonts)
    data = pdf.render_order_pdf(order)
    embedded = poppler("pdffonts", data, tmp_path)
    assert "+NRSC-Sans-GB " in embedded and "+NRSC-Sans-GB-Bold " in embedded
    # Characters outside the reduced font (here most of the form, and the rare
    # ones) come from the full font, glyph by glyph.
    assert "+Noto-Sans-CJK-SC " in embedded
    text = poppler("pdftotext", data, tmp_path)
    for expected in ("预警信息处置办理工单", "大河乡", "林业和草原局", RARE, "HSB-2026-000731"):
        assert expected in text, expected


def test_without_the_reduced_font_the_pdf_uses_the_full_font(make_order, app, tmp_path):
    order = make_order()
    order.description = f"报告人{RARE}"
    db.session.commit()
    app.config["NRSC_PDF_FONT_DIR"] = str(tmp_path / "not-built")
    data = pdf.render_order_pdf(order)
    embedded = poppler("pdffonts", data, tmp_path)
    assert "NRSC" not in embedded and "+Noto-Sans-CJK-SC " in embedded
    text = poppler("pdftotext", data, tmp_path)
    assert "预警信息处置办理工单" in text and RARE in text


def test_garbage_collection_is_paused_only_while_rendering(make_order, app):
    order = make_order()
    assert gc.isenabled()
    during: list[bool] = []  # per collection: did it run inside a paused render?

    def watch(phase, info):
        if phase == "start":
            during.append(pdf._gc_state["holders"] > 0)

    gc.callbacks.append(watch)
    try:
        pdf.render_order_pdf(order)
        assert not any(during) and gc.isenabled()  # none inside the render, back on after it
        gc.disable()  # whoever switched it off keeps it off
        pdf.render_order_pdf(order)
        assert not gc.isenabled()
        gc.enable()
        app.config["NRSC_PDF_GC_PAUSE"] = False
        during.clear()
        pdf.render_order_pdf(order)
        assert len(during) > 10  # a render allocates enough to set off many collections
    finally:
        gc.enable()
        gc.callbacks.remove(watch)
