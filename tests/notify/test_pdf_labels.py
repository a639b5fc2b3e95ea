"""The PDF names priorities, actors and participants' unfinished steps in
words, not codes (issue 9 item 2)."""
from __future__ import annotations

from webapp.extensions import db
from webapp.printing import pdf


def test_pdf_html_has_labels_not_codes(make_order, app):
    order = make_order()
    order.priority = "urgent"
    db.session.commit()
    with app.test_request_context("/"):
        html = pdf.render_order_html(order)
    assert "紧急程度" in html or "优先级" in html
    assert ": urgent" not in html and ">urgent<" not in html
    assert "紧急" in html
    assert ">system<" not in html
