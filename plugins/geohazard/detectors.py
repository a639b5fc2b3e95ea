"""Geohazard: fresh scars (slides, collapses) as change against the reference."""
from __future__ import annotations

from typing import Any

from webapp.vision import ReferenceChange



class ScarChange(ReferenceChange):
    name = "geohazard_scar"
    domain, event_type = "geohazard", "landslide"
    defaults = {**ReferenceChange.defaults, "min_area_m2": 300.0}


def detectors(settings: Any) -> list:
    return [ScarChange(settings)]
