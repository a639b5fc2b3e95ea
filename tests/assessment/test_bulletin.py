"""`nrsc score PERIOD --out DIR`: the printed table, the PDF (pdftotext) and the workbook (openpyxl)."""
from __future__ import annotations

import subprocess

from openpyxl import load_workbook

from webapp.cli import main


def test_score_command_writes_pdf_and_workbook(history, tmp_path):
    from flask import current_app
    out = tmp_path / "out"
    cli = current_app.test_cli_runner().invoke(main, ["score", "2026-11", "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert "应急管理局" in cli.output and "75.25  合格" in cli.output
    pdf, xlsx = out / "bulletin-2026-11.pdf", out / "bulletin-2026-11.xlsx"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "考核通报" in text and "自然资源局" in text and "柳泉乡" in text and "75.25" in text
    assert history.orders[1].number in text  # overdue and typical case
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) >= 3  # header lines + the typical case's photo
    wb = load_workbook(xlsx)
    ranking = [row for row in wb["排名"].iter_rows(values_only=True)]
    assert ranking[0][:4] == ("排名", "单位", "得分", "等级")
    by_unit = {r[1]: r for r in ranking[1:] if r and r[0]}
    nr = next(r for name, r in by_unit.items() if "自然资源局" in name)
    assert (nr[2], nr[3], nr[4], nr[6]) == (75.25, "合格", 3, 1.0)
    assert [r[0] for r in wb["超期工单"].iter_rows(min_row=2, values_only=True)].count(history.orders[1].number) == 2
    indicators = list(wb["指标"].iter_rows(values_only=True))
    nr_ind = next(r for r in indicators if r[0] and "自然资源局" in r[0])
    assert nr_ind[1:9] == (6.67, 25.0, 10.0, 10.0, 11.25, 3.33, 5.0, 5.0)


def test_score_command_with_no_due_orders(org, tmp_path):
    from flask import current_app
    cli = current_app.test_cli_runner().invoke(main, ["score", "2026-10", "--out", str(tmp_path)])
    assert cli.exit_code == 0, cli.output
    assert "本期没有应办工单" in cli.output
    assert (tmp_path / "bulletin-2026-10.pdf").stat().st_size > 1000


def test_score_command_refuses_bad_period(org, tmp_path):
    from flask import current_app
    cli = current_app.test_cli_runner().invoke(main, ["score", "2026-13", "--out", str(tmp_path)])
    assert cli.exit_code != 0 and "2026-13" in cli.output
