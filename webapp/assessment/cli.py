"""``nrsc score PERIOD --out DIR`` (wired in webapp/cli.py)."""
from __future__ import annotations

import click

from webapp.assessment import bulletin, scoring
from webapp.assessment.periods import PeriodError


def score(period: str, out_dir: str) -> None:
    try:
        result = scoring.assess(period)
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(bulletin.text_table(result))
    pdf_path, xlsx_path = bulletin.write(result, out_dir)
    click.echo(f"wrote {pdf_path}")
    click.echo(f"wrote {xlsx_path}")
