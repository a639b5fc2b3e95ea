"""What only the seven built-in domain plugins share.

Plugins see the core only through ``webapp.plugin_api``, which also holds the
helpers any plugin needs (local dates, permit validity, distances, township
notes). Left here: the SLA tiers of DESIGN §6, the GIS layers the built-in
rules read (each plugin declares the ones it reads; identical declarations
merge) and the template naming of the built-in work orders.
"""
from __future__ import annotations

from webapp.plugin_api import Clock, GisContext, GisLayer, SlaClocks, label

# DESIGN §6: three tiers of clocks. Emergency domains count natural time.
EMERGENCY_CLOCKS = SlaClocks(
    review=Clock.parse("5m"), accept=Clock.parse("10m"), arrive=Clock.parse("60m"),
    feedback=Clock.parse("24h"), basis="natural")
PROMPT_CLOCKS = SlaClocks(
    review=Clock.parse("15m"), accept=Clock.parse("30m"), arrive=Clock.parse("4h"),
    feedback=Clock.parse("1wd"), basis="working")
ROUTINE_CLOCKS = SlaClocks(
    review=Clock.parse("30m"), accept=Clock.parse("2h"), arrive=Clock.parse("1wd"),
    feedback=Clock.parse("3wd"), basis="working")

LAYERS: dict[str, GisLayer] = {layer.code: layer for layer in (
    GisLayer("basic_farmland", "永久基本农田", "Basic farmland", "#f9a825"),
    GisLayer("cultivated_land", "耕地", "Cultivated land", "#c0ca33"),
    GisLayer("mining_permit", "采矿权", "Mining permit", "#6d4c41"),
    GisLayer("construction_approval", "建设审批", "Construction approval", "#8e24aa"),
    GisLayer("land_use_plan", "用地规划分区", "Land-use plan zone", "#546e7a"),
    GisLayer("geohazard_point", "地质灾害隐患点", "Geohazard point", "#d84315"),
    GisLayer("grazing_ban_zone", "禁牧区", "Grazing-ban zone", "#2e7d32"),
    GisLayer("key_enterprise", "重点企业", "Key enterprise", "#1565c0"),
    GisLayer("forest_grassland", "林地／草地", "Forest / grassland", "#43a047"),
)}


def layers(*codes: str) -> list[GisLayer]:
    """The built-in layers a plugin reads, for its ``register_gis_layers``."""
    return [LAYERS[code] for code in codes]


def land_use(context: GisContext) -> list[str]:
    """The land-use plan zone at the point, as a reason line."""
    return [f"用地规划：{f.attributes.get('zone') or label(f)}"
            for f in context.layer("land_use_plan", inside=True)]


def template_for(domain: str) -> str:
    """Each plugin's work-order template lives under its own templates/ folder."""
    return f"orders/pdf/{domain}.html"
