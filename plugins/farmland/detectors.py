"""Farmland: occupation or digging seen as change against the reference."""
from __future__ import annotations

from typing import Any

from webapp.vision import ReferenceChange



class FarmlandChange(ReferenceChange):
    name = "farmland_change"
    domain, event_type = "farmland", "illegal_occupation"
    defaults = {**ReferenceChange.defaults, "min_area_m2": 100.0}


def detectors(settings: Any) -> list:
    return [FarmlandChange(settings)]
