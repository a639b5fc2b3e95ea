"""Coverage: each camera's viewshed over the DEM and the share of the
district the cameras see (the plan cites 75%).

A viewshed is computed by radial line of sight: rays every ``AZ_STEP_DEG``
from the lens (ground elevation + mount height), samples every
``STEP_M`` out to the useful range; a sample is seen when a target of
``target_height_m`` standing there rises above every nearer ground sample, as
seen along the curved Earth with refraction (webapp.geometry.projection). A
tower covers 360° (it pans); a checkpoint camera only its field of view.

Useful range and target height depend on what one looks for
(``NRSC_COVERAGE_PROFILES``): smoke is seen far and stands high, machinery
is small. Results are cached per profile until cameras or the DEM change.
"""
from __future__ import annotations

import io
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Camera, Township

AZ_STEP_DEG = 0.5
STEP_M = 50.0
CELL_M = 200.0
DEFAULT_PROFILES: dict[str, dict[str, float]] = {
    "smoke": {"range_m": 5000.0, "target_height_m": 20.0},
    "machinery": {"range_m": 2000.0, "target_height_m": 3.0},
    "people": {"range_m": 1000.0, "target_height_m": 1.7},
}
M_PER_DEG_LAT = 111_132.0


@dataclass
class Coverage:
    profile: str
    range_m: float
    share: float
    covered_km2: float
    district_km2: float
    bounds: tuple[float, float, float, float]  # south, west, north, east
    seen: np.ndarray  # bool grid, row 0 = north
    inside: np.ndarray  # bool grid of the district
    per_camera: dict[str, float]  # camera code → km² seen inside the district
    seconds: float
    viewsheds: dict[str, np.ndarray]  # camera code → its own seen cells

    def png(self, camera: str | None = None) -> bytes:
        """Seen cells green, blind spots of the district red, the rest clear;
        with ``camera``, that camera's viewshed alone (in blue)."""
        from PIL import Image
        rgba = np.zeros(self.seen.shape + (4,), np.uint8)
        if camera is not None:
            rgba[self.inside] = (120, 120, 120, 50)
            rgba[self.viewsheds[camera]] = (30, 90, 220, 140)
        else:
            rgba[self.inside & self.seen] = (30, 170, 60, 110)
            rgba[self.inside & ~self.seen] = (220, 40, 40, 120)
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, "PNG", optimize=True)
        return buf.getvalue()


def profiles() -> dict[str, dict[str, float]]:
    return dict(current_app.config.get("NRSC_COVERAGE_PROFILES") or DEFAULT_PROFILES)


_result_cache: dict[tuple, Coverage] = {}
_lock = threading.Lock()


def load_dem() -> Any:
    """The platform's DEM (NRSC_DEM_PATH; the synthetic one is written if missing)."""
    from webapp.geometry.dem import ensure_synthetic_dem, open_cached
    return open_cached(ensure_synthetic_dem(current_app.config["NRSC_DEM_PATH"]))


def district_shape() -> Any:
    from shapely.geometry import box, shape
    from shapely.ops import unary_union
    polys = [shape(t.geometry) for t in db.session.scalars(select(Township)) if t.geometry]
    if polys:
        return unary_union(polys)
    from webapp.geometry.dem import DISTRICT_BOUNDS
    s, w, n, e = DISTRICT_BOUNDS
    return box(w, s, e, n)


def viewshed_points(camera: Any, dem: Any, range_m: float, target_height_m: float,
                    az_step: float = AZ_STEP_DEG, step_m: float = STEP_M) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) arrays of the samples this camera sees."""
    from webapp.geometry import ptz
    from webapp.geometry.projection import CURVED, elevation_angle
    ground = camera.ground_elevation_m or float(np.nan_to_num(dem.sample(camera.lat, camera.lon), nan=0.0))
    lens = ground + (camera.mount_height_m or 0.0)
    if camera.kind == "checkpoint":
        hfov = ptz.fov_at_zoom(camera.fov_table, 1.0).hfov_deg
        centre = camera.pan_zero_azimuth_deg or 0.0
        azs = np.arange(centre - hfov / 2, centre + hfov / 2 + 1e-9, az_step)
    else:
        azs = np.arange(0.0, 360.0, az_step)
    dists = np.arange(step_m, range_m + 1e-9, step_m)
    az_r = np.radians(azs)[:, None]
    # Local flat offsets are fine for placing samples within a few km.
    lat = camera.lat + (dists[None, :] * np.cos(az_r)) / M_PER_DEG_LAT
    lon = camera.lon + (dists[None, :] * np.sin(az_r)) / (M_PER_DEG_LAT * math.cos(math.radians(camera.lat)))
    h = dem.sample(lat, lon)
    h = np.where(np.isnan(h), -1e4, h)
    radius = float(np.mean(CURVED.effective_radius(camera.lat, 0.0)))
    ground_angle = elevation_angle(dists[None, :], h, lens, radius)
    target_angle = elevation_angle(dists[None, :], h + target_height_m, lens, radius)
    horizon = np.maximum.accumulate(ground_angle, axis=1)
    blocked_by = np.concatenate([np.full((len(azs), 1), -np.inf), horizon[:, :-1]], axis=1)
    seen = target_angle >= blocked_by
    return lat[seen], lon[seen]


def _revision() -> tuple:
    row = db.session.execute(select(func.count(Camera.id), func.max(Camera.id), func.sum(Camera.lat + Camera.lon),
                                    func.sum(Camera.mount_height_m)).where(Camera.active.is_(True))).one()
    return tuple(row)


def compute(profile: str = "smoke", *, use_cache: bool = True) -> Coverage:
    prof = profiles().get(profile)
    if prof is None:
        raise KeyError(profile)
    dem = load_dem()
    key = (profile, prof["range_m"], prof["target_height_m"], _revision(), dem.source)
    if use_cache and key in _result_cache:
        return _result_cache[key]
    started = time.perf_counter()
    district = district_shape()
    w, s, e, n = district.bounds
    lat_c = (s + n) / 2
    dlat = CELL_M / M_PER_DEG_LAT
    dlon = CELL_M / (M_PER_DEG_LAT * math.cos(math.radians(lat_c)))
    rows, cols = int(math.ceil((n - s) / dlat)), int(math.ceil((e - w) / dlon))
    clat = n - (np.arange(rows) + 0.5) * dlat
    clon = w + (np.arange(cols) + 0.5) * dlon
    import shapely
    inside = shapely.contains_xy(district, clon[None, :].repeat(rows, 0), clat[:, None].repeat(cols, 1))
    seen = np.zeros((rows, cols), bool)
    per_camera, viewsheds = {}, {}
    cell_km2 = (CELL_M / 1000.0) ** 2
    for camera in db.session.scalars(select(Camera).where(Camera.active.is_(True)).order_by(Camera.id)):
        lat, lon = viewshed_points(camera, dem, prof["range_m"], prof["target_height_m"])
        r = ((n - lat) / dlat).astype(int)
        c = ((lon - w) / dlon).astype(int)
        ok = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        mine = np.zeros_like(seen)
        mine[r[ok], c[ok]] = True
        per_camera[camera.code] = round(float((mine & inside).sum()) * cell_km2, 2)
        viewsheds[camera.code] = mine
        seen |= mine
    district_cells = int(inside.sum())
    covered = int((seen & inside).sum())
    result = Coverage(profile=profile, range_m=prof["range_m"],
                      share=covered / district_cells if district_cells else 0.0,
                      covered_km2=round(covered * cell_km2, 1), district_km2=round(district_cells * cell_km2, 1),
                      bounds=(n - rows * dlat, w, n, w + cols * dlon), seen=seen, inside=inside,
                      per_camera=per_camera, seconds=time.perf_counter() - started, viewsheds=viewsheds)
    with _lock:
        _result_cache.clear()
        _result_cache[key] = result
    return result
