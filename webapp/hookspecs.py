"""Every hook a plugin may implement.

Each docstring follows one template: a one-line purpose, then
``Parameters:``, ``Returns:``, ``Called:`` (when, and on which plugins) and
``Results:`` (how the answers are combined). Hooks are always called with
keyword arguments; new parameters may be added, none removed.

Domain-scoped hooks (``route_alert``, ``prejudge_alert``, ``review_checklist``,
``workorder_template``) are called only on the plugin that declared the domain
in ``register_domains``, then on the core's defaults: a plugin never sees, and
can never answer for, another plugin's alerts.
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
    GisLayer,
    Notifier,
    Prejudgement,
    Routing,
    RoutingContext,
)

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

# The hooks whose answers depend on an alert's domain; the host calls them on
# the domain's owner only (see webapp.plugins.PluginHost).
DOMAIN_SCOPED = ("route_alert", "prejudge_alert", "review_checklist", "workorder_template")


@hookspec
def register_domains() -> list[Domain]:
    """Declare the supervision domains this plugin owns.

    Parameters: none.
    Returns: a list of :class:`Domain` (code, names, colour, icon, working
    group, event types with their external labels, SLA clocks, urgency).
    Called: once at start-up, on every plugin.
    Results: all plugins' lists are joined; a code declared twice stops
    start-up, and so does an external label claimed by two event types.
    """


@hookspec
def register_gis_layers() -> list[GisLayer]:
    """Declare the GIS layers this plugin's rules read.

    Parameters: none.
    Returns: a list of :class:`GisLayer` (code, names, map colour, geometry
    kind). Parcels can be imported only into declared layers; the admin
    parcels page, the map and the PDF show their names and colours.
    Called: once at start-up, on every plugin.
    Results: all plugins' lists are joined; identical declarations of one code
    are merged, different ones stop start-up.
    """


@hookspec
def register_detectors(settings: Mapping[str, Any]) -> list[Detector]:
    """Provide image detectors for patrol frames.

    Parameters: ``settings`` — the ``NRSC_DETECTORS`` configuration mapping.
    Returns: a list of objects with ``name``, ``domains``, ``params`` and
    ``detect(frames, context) -> list[Detection]``; detectors are pure
    functions of pixels and context. A detector that says nothing without
    the preset's reference image sets ``needs_reference = True`` (the
    pipeline then skips it on presets without one and says so on the visit);
    one that raises is contained by the pipeline and named on the visit.
    Called: once at start-up, on every plugin.
    Results: all plugins' lists are joined; a name declared twice stops start-up.
    """


@hookspec(firstresult=True)
def route_alert(alert: AlertView, context: RoutingContext) -> Routing | None:
    """Decide who handles a confirmed alert.

    Parameters: ``alert`` — the confirmed alert; ``context`` — its township and
    the unit answering for that township.
    Returns: a :class:`Routing` (lead unit and offices, cooperating units, units
    the lead forwards to, working group, clocks), or None to leave it to the
    core's default.
    Called: only on the plugin that declared ``alert.domain``.
    Results: the owner's answer; the core's default answers when it gives None
    or raises.
    """


@hookspec(firstresult=True)
def prejudge_alert(alert: AlertView, context: GisContext) -> Prejudgement | None:
    """Give a first opinion on an alert from its GIS context.

    Parameters: ``alert`` — the new alert; ``context`` — the township and the
    parcels and zones at or near its point.
    Returns: a :class:`Prejudgement` (level low/medium/high and reasons in
    Chinese), or None to leave it to the core's default.
    Called: only on the plugin that declared ``alert.domain``.
    Results: the owner's answer; the core's default (medium) answers when it
    gives None or raises.
    """


@hookspec
def review_checklist(alert: AlertView) -> list[str]:
    """List what the duty officer should check before a verdict.

    Parameters: ``alert`` — the alert under review.
    Returns: checklist lines in Chinese.
    Called: only on the plugin that declared ``alert.domain``.
    Results: the owner's lines, in its implementations' registration order.
    """


@hookspec(firstresult=True)
def workorder_template(domain: str) -> str | None:
    """Name the template that renders a domain's PDF work order.

    Parameters: ``domain`` — a domain code.
    Returns: a Jinja template name that extends ``orders/pdf/base.html``, or
    None for the core's base template.
    Called: only on the plugin that declared ``domain``.
    Results: the owner's answer; the core's base template answers when it
    gives None or raises.
    """


@hookspec
def register_notifiers(settings: Mapping[str, Any]) -> list[Notifier]:
    """Provide notification channels (WeCom, DingTalk, SMS…).

    Parameters: ``settings`` — the ``NRSC_NOTIFIERS`` configuration mapping.
    Returns: a list of objects with ``channel`` and ``send(message) -> Delivery``.
    Called: once at start-up, on every plugin.
    Results: all plugins' lists are joined; a channel declared twice stops start-up.
    """
