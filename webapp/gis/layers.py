"""The GIS layers the platform knows: whatever the installed plugins declare
(hook ``register_gis_layers``). The core names no layer itself, so a new
domain that reads a new layer needs no core change."""
from __future__ import annotations

from flask import Flask, current_app, has_app_context
from flask_babel import get_locale

from webapp.plugin_api import GisLayer


class UnknownLayer(ValueError):
    """A layer code no installed plugin declares."""


def declared() -> dict[str, GisLayer]:
    """The app's layers by code, in the order plugins declared them."""
    return current_app.extensions["nrsc.plugins"].gis_layers


def codes() -> tuple[str, ...]:
    return tuple(declared())


def require(code: str) -> GisLayer:
    """The layer ``code``, or :class:`UnknownLayer` naming the known ones."""
    layer = declared().get(code)
    if layer is None:
        known = ", ".join(declared()) or "none: no plugin declares a layer"
        raise UnknownLayer(f"unknown layer {code!r}; choose one of {known}")
    return layer


def _english() -> bool:
    try:
        return str(get_locale() or "").startswith("en")
    except RuntimeError:  # no request: the platform's language
        return False


def name(code: str) -> str:
    """The layer's name in the page's language; the code for an undeclared
    layer (parcels imported before their plugin was uninstalled)."""
    layer = declared().get(code) if has_app_context() else None
    if layer is None:
        return code
    return layer.name_en if _english() else layer.name_zh


def colour(code: str, default: str = "#555555") -> str:
    layer = declared().get(code) if has_app_context() else None
    return layer.colour if layer else default


def init_app(app: Flask) -> None:
    """Offer ``layer_name`` and ``layer_colour`` to templates."""
    app.jinja_env.globals["layer_name"] = name
    app.jinja_env.globals["layer_colour"] = colour
