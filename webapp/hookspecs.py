"""Every hook a plugin may implement.

Each docstring follows one template: purpose, parameters, returns, and whether
the first non-None result wins. Hooks are always called with keyword
arguments; new parameters may be added, none removed.
"""
from __future__ import annotations

from typing import Any, Mapping

import pluggy

from webapp.plugin_api import (
    PROJECT_NAME,
    AlertView,
    Detector,
    Domain,
    GisContext,
    Notifier,
    Prejudgement,
    Routing,
    RoutingContext,
)

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def register_domains() -> list[Domain]:
    """Declare the supervision domains this plugin owns.

    Parameters: none.
    Returns: a list of :class:`Domain` (code, names, colour, icon, working
    group, event types, SLA clocks, urgency).
    Results: all plugins' lists are joined; a code declared twice stops start-up.
    """


@hookspec
def register_detectors(settings: Mapping[str, Any]) -> list[Detector]:
    """Provide image detectors for patrol frames.

    Parameters: ``settings`` — the ``NRSC_DETECTORS`` configuration mapping.
    Returns: a list of objects with ``name``, ``domains``, ``params`` and
    ``detect(frames, context) -> list[Detection]``; detectors are pure
    functions of pixels and context.
    Results: all plugins' lists are joined; a name declared twice stops start-up.
    """


@hookspec(firstresult=True)
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    """Decide who handles a confirmed alert.

    Parameters: ``alert`` — the confirmed alert; ``context`` — its township and
    the unit answering for that township.
    Returns: a :class:`Routing` (lead unit and offices, cooperating units, units
    the lead forwards to, working group, clocks) or None when the alert is not
    of this plugin's domain.
    Results: first non-None wins; the core's default answers last.
    """


@hookspec(firstresult=True)
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    """Give a first opinion on an alert from its GIS context.

    Parameters: ``alert`` — the new alert; ``context`` — the township and the
    parcels and zones at or near its point.
    Returns: a :class:`Prejudgement` (level low/medium/high and reasons in
    Chinese) or None when the alert is not of this plugin's domain.
    Results: first non-None wins; the core's default answers last.
    """


@hookspec
def review_checklist(alert: AlertView) -> list[str]:
    """List what the duty officer should check before a verdict.

    Parameters: ``alert`` — the alert under review.
    Returns: checklist lines in Chinese, or an empty list when the alert is
    not of this plugin's domain.
    Results: all plugins' lines are joined in registration order.
    """


@hookspec(firstresult=True)
def workorder_template(domain: str) -> str | None:
    """Name the template that renders a domain's PDF work order.

    Parameters: ``domain`` — a domain code.
    Returns: a Jinja template name that extends ``orders/pdf/base.html``, or
    None when the domain is not this plugin's.
    Results: first non-None wins; the core's base template answers last.
    """


@hookspec
def register_notifiers(settings: Mapping[str, Any]) -> list[Notifier]:
    """Provide notification channels (WeCom, DingTalk, SMS…).

    Parameters: ``settings`` — the ``NRSC_NOTIFIERS`` configuration mapping.
    Returns: a list of objects with ``channel`` and ``send(message) -> Delivery``.
    Results: all plugins' lists are joined; a channel declared twice stops start-up.
    """
