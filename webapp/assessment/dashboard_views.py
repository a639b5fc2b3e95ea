"""The leaders' overview dashboard page (/assessment/overview). views.py puts
it on the assessment blueprint (this module imports nothing from views, so
the two make no import cycle). Leaders, the office, the duty lead and admins
only."""
from __future__ import annotations

import json

from flask import abort, current_app, render_template, request

from webapp.assessment import dashboard
from webapp.assessment.periods import PeriodError, parse_period
from webapp.gis import maps
from webapp.platform import clock
from webapp.platform.security import roles_required

SEERS = ("leader_viewer", "office_staff", "duty_lead", "admin")


@roles_required(*SEERS)
def overview():
    try:
        period = parse_period(request.args.get("period") or f"{clock.local(clock.now()):%Y-%m}")
    except PeriodError as exc:
        abort(400, str(exc))
    domains = current_app.extensions["nrsc.plugins"].domains
    names = {code: d.name_zh for code, d in domains.items()}
    data = dashboard.build(period, names)
    charts = {key: json.dumps(dashboard.chart_data(data[key])) for key in ("by_domain", "by_township", "by_source")}
    heat = maps.payload(cells=data["heat"], fit="district")
    rates = json.dumps({"labels": [f"{d['source']} {d['label']}".strip() for d in data["detectors"]],
                        "values": [d["rate"] for d in data["detectors"]]})
    camera_rates = json.dumps({"labels": [c["name"] for c in data["cameras"]],
                               "values": [c["rate"] for c in data["cameras"]]})
    return render_template("assessment/overview.html", d=data, period=period, charts=charts, heat=heat,
                           rates=rates, camera_rates=camera_rates)
