"""``nrsc models …`` and ``nrsc eval`` (added to the main group in webapp/cli.py)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("models")
def models() -> None:
    """Learned detector models (weights from registry packages)."""


@models.command("install")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="download and convert again even when up to date")
def models_install(names: tuple[str, ...], force: bool) -> None:
    """Install the models (all by default) into NRSC_DATA_DIR/models."""
    from webapp.detection import models as m
    outcomes = m.install(list(names) or None, force=force, log=lambda s: click.echo(f"  {s}", err=True))
    for name, outcome in outcomes.items():
        click.echo(f"{name}: {outcome}")
    if any(o.startswith("FAILED") for o in outcomes.values()):
        sys.exit(1)


@models.command("list")
def models_list() -> None:
    """Installed models with source, licence and hash."""
    from webapp.detection import models as m
    rows = m.listing()
    if not rows:
        click.echo("no models installed; run `nrsc models install`")
    for r in rows:
        click.echo(f"{r['name']:<18} {'on ' if r['enabled'] else 'off'} {r['source']:<40} "
                   f"{r['classes']:>3} classes  {r['licence']}  sha256 {str(r['sha256'])[:12]}")


def _toggle(name: str, enabled: bool) -> None:
    from webapp.detection import models as m
    from webapp.extensions import db
    from webapp.platform import audit, dbtools
    try:
        dbtools.require_current_schema()
    except dbtools.SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        m.set_enabled(name, enabled)
    except m.ModelError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record("model_toggled", "detector_model", None, actor_label="cli",
                 to_state="on" if enabled else "off", data={"model": name})
    db.session.commit()
    click.echo(f"{name}: {'on' if enabled else 'off'}")


@models.command("enable")
@click.argument("name")
@with_appcontext
def models_enable(name: str) -> None:
    """Switch an installed model on (audited)."""
    _toggle(name, True)


@models.command("disable")
@click.argument("name")
@with_appcontext
def models_disable(name: str) -> None:
    """Switch an installed model off (audited; kept across reinstalls)."""
    _toggle(name, False)


@click.command("eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--detector", "name", required=True,
              help="a detector's name, or a domain (its deployed detectors with confirmation)")
@click.option("--threshold", type=float, default=None, help="score an image or box must reach")
@click.option("--sweep", is_flag=True, help="print precision/recall/F1 over thresholds")
@click.option("--iou", type=float, default=0.5, show_default=True, help="box match for labelled boxes")
def eval_command(directory: str, name: str, threshold: float | None, sweep: bool, iou: float) -> None:
    """Measure a detector on a labelled folder: DIR/positive + DIR/negative,
    or DIR/images + DIR/labels (YOLO txt)."""
    from webapp.detection import evaluate
    try:
        detector = evaluate.resolve(name)
        report = evaluate.run(directory, detector, threshold=threshold, iou=iou)
    except evaluate.EvalError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.text(sweep=sweep))


@click.group("detection")
def detection() -> None:
    """Learning from verdicts: labelled frames, thresholds."""


@detection.command("export-yolo")
@click.argument("out", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--detector", default=None, help="only alerts this detector raised")
@click.option("--domain", default=None, help="only alerts of this domain")
@with_appcontext
def export_yolo(out: str, detector: str | None, domain: str | None) -> None:
    """Write confirmed and false-alarm frames as a YOLO data set: OUT a folder
    (images/, labels/, data.yaml) or OUT.zip."""
    from pathlib import Path

    from webapp.detection import learning
    from webapp.extensions import db
    from webapp.platform import audit, dbtools
    try:
        dbtools.require_current_schema()
    except dbtools.SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    target = Path(out)
    if target.suffix.lower() == ".zip":
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            summary = learning.export_zip(fh, detector=detector, domain=domain)
    else:
        if target.exists() and any(target.iterdir()):
            raise click.ClickException(f"{target} is not empty; give an empty or new folder")
        summary = learning.export_dir(target, detector=detector, domain=domain)
    audit.record("dataset_exported", "detection", None, actor_label="cli",
                 data={"detector": detector, "domain": domain, "format": "yolo", "positives": summary.positives,
                       "negatives": summary.negatives, "skipped": summary.skipped})
    db.session.commit()
    click.echo(f"{target}: {summary.positives} confirmed, {summary.negatives} false alarms (negatives), "
               f"{summary.skipped} skipped (no image, or confirmed without a box); "
               f"classes: {', '.join(summary.classes) or '—'}")


@detection.command("raise-thresholds")
@with_appcontext
def raise_thresholds_command() -> None:
    """Look at every preset and detector once now (the worker's schedule looks
    only at those with new verdicts)."""
    from webapp.detection import learning
    click.echo(f"raised: {learning.raise_thresholds(full=True)}")
