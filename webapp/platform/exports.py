"""Excel workbooks of the lists people work from (the console's alerts, the
office's orders, the backlog): one sheet, a bold header row in the reader's
language, codes already turned into words, times as real Excel dates in
local time, and a line saying which filters made the list.

The list views build the rows (they know their filters and labels); this
module only writes the workbook, answers the download and audits it.
"""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any, Iterable, Sequence

from flask import Response
from flask_babel import gettext as _

from webapp.platform import audit, clock

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A list longer than this is cut: the sheet says so (a year of alerts is
# about 30,000 rows; Excel copes, the web worker's memory should too).
MAX_ROWS = 20_000
DATE_FORMAT = "yyyy-mm-dd hh:mm"
# Characters Excel refuses in a cell (openpyxl raises on them).
_ILLEGAL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def local_time(value: datetime | None) -> datetime | None:
    """An aware time as the naive local time Excel shows (it has no time zones)."""
    return clock.local(value).replace(tzinfo=None) if value else None


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return local_time(value) if value.tzinfo else value
    if isinstance(value, str):
        return value.translate(_ILLEGAL)
    return value


def workbook(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
             caption: str = "") -> tuple[bytes, int]:
    """The xlsx bytes and the number of data rows written. ``caption`` (the
    filters, who exported it and when) goes above the header row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    start = 1
    if caption:
        ws.append([caption])
        ws.append([])
        start = 3
    ws.append(list(headers))
    for cell in ws[start]:
        cell.font = Font(bold=True)
    widths = [max(6, len(str(h)) * 2 + 2) for h in headers]
    count = 0
    for row in rows:
        if count >= MAX_ROWS:
            ws.append([_("Only the first %(n)s rows were exported: narrow the filters.", n=MAX_ROWS)])
            break
        values = [_cell(v) for v in row]
        ws.append(values)
        count += 1
        for i, v in enumerate(values):
            if isinstance(v, datetime):
                ws.cell(row=start + count, column=i + 1).number_format = DATE_FORMAT
                widths[i] = max(widths[i], 17)
            elif isinstance(v, str) and v.startswith("="):
                # Typed text (a title, a feedback) is never run as a formula.
                ws.cell(row=start + count, column=i + 1).data_type = "s"
            elif v is not None and i < len(widths):
                # CJK characters are about two columns wide.
                text = str(v)
                widths[i] = min(60, max(widths[i], len(text) + sum(1 for c in text if ord(c) > 0x2E80) + 2))
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = ws.cell(row=start + 1, column=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), count


def caption(list_name: str, filters: Sequence[str]) -> str:
    """"工单列表 · 筛选：逾期、乡镇 太阳山镇 · 导出 2026-11-20 02:13"."""
    stamp = local_time(clock.now()).strftime("%Y-%m-%d %H:%M")
    shown = "、".join(f for f in filters if f) or _("none")
    return _("%(list)s · Filters: %(filters)s · Exported %(when)s", list=list_name, filters=shown, when=stamp)


def response(content: bytes, filename: str) -> Response:
    resp = Response(content, mimetype=MIMETYPE)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def export(list_code: str, list_name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
           filters: Sequence[str], query: dict[str, Any], filename: str) -> Response:
    """Write the workbook, audit who took which list with which filters, and
    answer the download (the audit row is committed before the bytes leave)."""
    from webapp.extensions import db

    content, count = workbook(list_name, headers, rows, caption=caption(list_name, filters))
    audit.record("list_exported", "export", None, note=list_code,
                 data={"list": list_code, "rows": count, "filters": query})
    db.session.commit()
    stamp = local_time(clock.now()).strftime("%Y%m%d-%H%M")
    return response(content, f"{filename}-{stamp}.xlsx")
