"""The period's bulletin (通报): a PDF (WeasyPrint, the CJK print font of
webapp/printing/pdf.py) and the same tables as an Excel workbook."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import render_template
from sqlalchemy import or_, select

from webapp.assessment.rules import INDICATORS
from webapp.extensions import db
from webapp.models import EvidenceFile, OrderParticipant, Unit, WorkOrder
from webapp.platform import clock
from webapp.printing import pdf as printing

TYPICAL_CASES = 5


def overdue_orders(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every overdue participant record behind the period's scores, one line each."""
    ids = sorted({oid for row in result["rows"] for oid in row["overdue_orders"]})
    if not ids:
        return []
    units = {u.id: u for u in db.session.scalars(select(Unit))}
    lines = []
    for chunk in range(0, len(ids), 500):
        q = (select(WorkOrder.id, WorkOrder.number, WorkOrder.title, OrderParticipant.unit_id,
                    OrderParticipant.overdue)
             .join(OrderParticipant, OrderParticipant.order_id == WorkOrder.id)
             .where(WorkOrder.id.in_(ids[chunk:chunk + 500])))
        for r in db.session.execute(q):
            if r.overdue:
                unit = units.get(r.unit_id)
                lines.append({"order_id": r.id, "number": r.number, "title": r.title,
                              "unit": unit.name if unit else "", "stages": "、".join(
                                  {"accept": "签收", "arrive": "到场", "feedback": "反馈"}.get(s, s)
                                  for s in sorted(r.overdue))})
    lines.sort(key=lambda x: (x["number"], x["unit"]))
    return lines


def typical_cases(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Orders that failed a spot check or were reworked, worst first."""
    failed = {oid for row in result["rows"] for oid in row["indicators"].get("spot_check_pass", {}).get("fail", [])}
    reworked = {oid for row in result["rows"] for oid in row["indicators"].get("no_rework", {}).get("fail", [])}
    ids = sorted(failed | reworked)[:200]
    if not ids:
        return []
    orders = db.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids))).all()
    orders.sort(key=lambda o: (o.id not in failed, -o.rework_count, o.number))
    cases = []
    for o in orders[:TYPICAL_CASES]:
        lead = o.lead
        what = []
        if o.id in failed:
            what.append(f"核查未通过：{o.spot_check_note or ''}")
        if o.rework_count:
            what.append(f"退回重办 {o.rework_count} 次")
        cases.append({"order_id": o.id, "number": o.number, "title": o.title,
                      "unit": lead.unit.name if lead else "", "what": "；".join(what), "photo": _case_photo(o)})
    return cases


def _case_photo(order: WorkOrder) -> printing.Photo | None:
    """The alert's snapshot, else the order's latest photo (feedback, arrival)."""
    clauses = [EvidenceFile.order_id == order.id]
    if order.alert_id:
        clauses.append(EvidenceFile.alert_id == order.alert_id)
    rows = db.session.scalars(select(EvidenceFile).where(or_(*clauses)).order_by(EvidenceFile.id)).all()
    rows.sort(key=lambda f: (f.kind != "snapshot", -f.id))
    for row in rows:
        shot = printing.photo(row)
        if shot.uri:
            return shot
    return None


def context(result: dict[str, Any]) -> dict[str, Any]:
    return {"result": result, "indicators": INDICATORS, "overdue": overdue_orders(result),
            "cases": typical_cases(result), "printed_at": clock.local(clock.now())}


def render_pdf(result: dict[str, Any]) -> bytes:
    html = printing._in_request(lambda: render_template("assessment/bulletin_pdf.html", **context(result)))
    return printing._renderer().document(html).write_pdf()


def render_xlsx(result: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    ctx = context(result)
    wb = Workbook()
    ws = wb.active
    ws.title = "排名"
    codes = list(result["rules"]["indicators"])
    ws.append(["排名", "单位", "得分", "等级", "应办工单", "基础分", "超期扣分", "核减/申诉", "小样本"])
    for row in result["rows"]:
        ws.append([row["rank"], row["unit"], row["score"], row["grade"], row["due_orders"], row["base"],
                   row["deduction"], row["adjustment"], "是" if row["small_sample"] else ""])
    if result["apart"]:
        ws.append([])
        ws.append(["本期无应办工单的单位（不参与排名）"])
        for a in result["apart"]:
            ws.append(["", a["unit"]])
    ws2 = wb.create_sheet("指标")
    ws2.append(["单位"] + [f"{INDICATORS[c]}（{result['rules']['indicators'][c]:g}分）" for c in codes]
               + ["通过/应计"])
    for row in result["rows"] + result["offices"]:
        ind = row["indicators"]
        ws2.append([row["unit"]] + [ind[c]["points"] for c in codes]
                   + ["; ".join(f"{INDICATORS[c]} {ind[c]['passed']}/{ind[c]['counted']}" for c in codes)])
    ws3 = wb.create_sheet("超期工单")
    ws3.append(["工单编号", "标题", "单位", "超期环节"])
    for line in ctx["overdue"]:
        ws3.append([line["number"], line["title"], line["unit"], line["stages"]])
    ws4 = wb.create_sheet("典型案例")
    ws4.append(["工单编号", "标题", "牵头单位", "情况"])
    for case in ctx["cases"]:
        ws4.append([case["number"], case["title"], case["unit"], case["what"]])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def text_table(result: dict[str, Any]) -> str:
    lines = [f"考核期 {result['period']}（规则版本 {result['rules_version']}"
             f"{'，已结算' if result.get('closed') else ''}）"]
    if not result["rows"]:
        lines.append("本期没有应办工单：没有单位参与排名。")
    for row in result["rows"]:
        flag = "（小样本）" if row["small_sample"] else ""
        lines.append(f"{row['rank']:>3}  {row['unit']}  {row['score']:.2f}  {row['grade']}  "
                     f"应办 {row['due_orders']}{flag}")
    if result["apart"]:
        lines.append("无应办工单：" + "、".join(a["unit"] for a in result["apart"]))
    return "\n".join(lines)


def file_stem(period_label: str) -> str:
    return f"bulletin-{period_label.replace('..', '_')}"


def write(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(result["period"])
    pdf_path, xlsx_path = out / f"{stem}.pdf", out / f"{stem}.xlsx"
    pdf_path.write_bytes(render_pdf(result))
    xlsx_path.write_bytes(render_xlsx(result))
    return pdf_path, xlsx_path
