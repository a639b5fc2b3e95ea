"""Pan/tilt/zoom conventions: the one place every camera, the simulator and
geolocation agree on what the numbers mean.

Conventions (all angles in degrees):

* **pan** — ``0 <= pan < 360``, clockwise seen from above. Pan zero points at the
  camera's ``pan_zero_azimuth_deg`` (azimuth from true north, clockwise), so the
  compass direction of a pan is ``azimuth(pan_zero_azimuth_deg, pan)``.
* **tilt** — ``TILT_MIN_DEG (-90) .. TILT_MAX_DEG (+30)``; negative looks down below
  the horizon, 0 is horizontal, -90 straight down.
* **zoom** — optical multiplier ``1 .. max_zoom`` (1 = widest).
* **ONVIF** absolute PTZ uses normalised spaces: pan ``x in [-1, 1]`` maps to
  ``pan = (x + 1) * 180``; tilt ``y in [-1, 1]`` maps linearly onto the tilt range
  (-1 → -90, +1 → +30); zoom ``z in [0, 1]`` maps linearly onto ``1 .. max_zoom``.
* **FOV table** — ``[{"zoom": 1, "hfov_deg": 60, "vfov_deg": 34}, ...]`` ordered by
  zoom; values in between follow an ideal zoom lens (see :func:`fov_at_zoom`).
* **Coordinates** — WGS84 degrees. Functions take and return ``(lat, lon)``;
  :func:`view_cone` returns ``[(lat, lon), ...]`` ready for ``L.polygon``.

Geolocation here is flat-earth: the aim point is where the optical axis meets a
horizontal plane ``height`` metres below the lens. Good enough at tower ranges
(a few km); curvature adds ~0.8 m of drop at 3.5 km. Any pixel, over the DEM or
the curved Earth with refraction: :mod:`webapp.geometry.projection`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

TILT_MIN_DEG = -90.0
TILT_MAX_DEG = 30.0
DEFAULT_MAX_ZOOM = 30.0
# Beyond this an aim point is not trusted (near-horizontal rays); clamp to it.
MAX_AIM_DISTANCE_M = 15_000.0
EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
# A typical 1/2.8" 30x PTZ module, used when a camera has no table of its own.
DEFAULT_FOV_TABLE: tuple[dict[str, float], ...] = (
    {"zoom": 1.0, "hfov_deg": 60.0, "vfov_deg": 34.0},
    {"zoom": 30.0, "hfov_deg": 2.2, "vfov_deg": 1.24},
)


class Fov(NamedTuple):
    hfov_deg: float
    vfov_deg: float


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# --- pan / tilt / zoom -------------------------------------------------------

def normalize_pan(pan_deg: float) -> float:
    """Any angle → ``[0, 360)``."""
    result = math.fmod(pan_deg, 360.0)
    if result < 0:
        result += 360.0
    return 0.0 if result >= 360.0 else result


def clamp_tilt(tilt_deg: float) -> float:
    return _clamp(tilt_deg, TILT_MIN_DEG, TILT_MAX_DEG)


def clamp_zoom(zoom: float, max_zoom: float = DEFAULT_MAX_ZOOM) -> float:
    return _clamp(zoom, 1.0, max_zoom)


def azimuth(camera_pan_zero: float, pan: float) -> float:
    """Compass azimuth (clockwise from true north) the camera looks at."""
    return normalize_pan(camera_pan_zero + pan)


def pan_for_azimuth(camera_pan_zero: float, azimuth_deg: float) -> float:
    """The pan that makes the camera look at ``azimuth_deg``."""
    return normalize_pan(azimuth_deg - camera_pan_zero)


def max_zoom_of(fov_table: Sequence[dict[str, float]] | None) -> float:
    """The camera's largest zoom according to its FOV table."""
    zooms = [float(row["zoom"]) for row in (fov_table or ()) if "zoom" in row]
    return max(zooms) if zooms else DEFAULT_MAX_ZOOM


# --- ONVIF normalised spaces <-> degrees ------------------------------------

def pan_from_onvif(x: float) -> float:
    """ONVIF pan ``x in [-1, 1]`` → degrees ``[0, 360)``: x=-1 → 0°, x=0 → 180°,
    x=1 → 360° which is 0° again."""
    return normalize_pan((_clamp(x, -1.0, 1.0) + 1.0) * 180.0)


def pan_to_onvif(pan_deg: float) -> float:
    """Degrees → ONVIF pan in ``[-1, 1)``."""
    return normalize_pan(pan_deg) / 180.0 - 1.0


def tilt_from_onvif(y: float, tilt_min: float = TILT_MIN_DEG, tilt_max: float = TILT_MAX_DEG) -> float:
    """ONVIF tilt ``y in [-1, 1]`` → degrees, linear over ``tilt_min..tilt_max``."""
    return tilt_min + (_clamp(y, -1.0, 1.0) + 1.0) / 2.0 * (tilt_max - tilt_min)


def tilt_to_onvif(tilt_deg: float, tilt_min: float = TILT_MIN_DEG, tilt_max: float = TILT_MAX_DEG) -> float:
    return (_clamp(tilt_deg, tilt_min, tilt_max) - tilt_min) / (tilt_max - tilt_min) * 2.0 - 1.0


def zoom_from_onvif(z: float, max_zoom: float = DEFAULT_MAX_ZOOM) -> float:
    """ONVIF zoom ``z in [0, 1]`` → optical multiplier ``1..max_zoom``."""
    return 1.0 + _clamp(z, 0.0, 1.0) * (max_zoom - 1.0)


def zoom_to_onvif(zoom: float, max_zoom: float = DEFAULT_MAX_ZOOM) -> float:
    if max_zoom <= 1.0:
        return 0.0
    return (clamp_zoom(zoom, max_zoom) - 1.0) / (max_zoom - 1.0)


def from_onvif(x: float, y: float, z: float, max_zoom: float = DEFAULT_MAX_ZOOM) -> tuple[float, float, float]:
    """ONVIF ``(x, y, z)`` → ``(pan_deg, tilt_deg, zoom)``."""
    return pan_from_onvif(x), tilt_from_onvif(y), zoom_from_onvif(z, max_zoom)


def to_onvif(pan_deg: float, tilt_deg: float, zoom: float,
             max_zoom: float = DEFAULT_MAX_ZOOM) -> tuple[float, float, float]:
    """``(pan_deg, tilt_deg, zoom)`` → ONVIF ``(x, y, z)``."""
    return pan_to_onvif(pan_deg), tilt_to_onvif(tilt_deg), zoom_to_onvif(zoom, max_zoom)


# --- geodesy -----------------------------------------------------------------

def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def destination(lat: float, lon: float, azimuth_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` metres from ``(lat, lon)`` along ``azimuth_deg``."""
    p1, l1 = math.radians(lat), math.radians(lon)
    theta, delta = math.radians(azimuth_deg), distance_m / EARTH_RADIUS_M
    p2 = math.asin(math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(theta))
    l2 = l1 + math.atan2(math.sin(theta) * math.sin(delta) * math.cos(p1),
                         math.cos(delta) - math.sin(p1) * math.sin(p2))
    lon2 = (math.degrees(l2) + 540.0) % 360.0 - 180.0
    return math.degrees(p2), lon2


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial azimuth from the first point to the second, ``[0, 360)``."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return normalize_pan(math.degrees(math.atan2(y, x)))


def ground_distance_m(height_m: float, tilt_deg: float,
                      max_distance_m: float = MAX_AIM_DISTANCE_M) -> float | None:
    """Horizontal distance at which a ray ``tilt_deg`` below horizontal, from
    ``height_m`` above the ground, meets it; None if it never does."""
    if tilt_deg >= 0 or height_m <= 0:
        return None
    if tilt_deg <= -90:
        return 0.0
    return min(height_m / math.tan(math.radians(-tilt_deg)), max_distance_m)


def aim_point(lat: float, lon: float, mount_height_m: float, pan_zero_azimuth_deg: float,
              pan_deg: float, tilt_deg: float, ground_elevation_m: float = 0.0,
              target_elevation_m: float | None = None,
              max_distance_m: float = MAX_AIM_DISTANCE_M) -> tuple[float, float] | None:
    """Where the optical axis meets the ground, as ``(lat, lon)``.

    ``ground_elevation_m`` is the elevation of the ground at the camera's foot and
    ``target_elevation_m`` that of the ground looked at (None: the same — flat
    ground), so the lens sits ``mount_height_m + ground - target`` metres above it.
    Returns None when the camera looks at or above the horizon (no ground hit).
    Distances beyond ``max_distance_m`` are clamped to it.
    """
    target = ground_elevation_m if target_elevation_m is None else target_elevation_m
    distance = ground_distance_m(mount_height_m + ground_elevation_m - target, tilt_deg, max_distance_m)
    if distance is None:
        return None
    return destination(lat, lon, azimuth(pan_zero_azimuth_deg, pan_deg), distance)


def aim_point_of(camera: Any, preset: Any) -> tuple[float, float] | None:
    """:func:`aim_point` for a camera and a preset (ORM rows or dicts with the
    model's field names; a preset's stored ``aim_lat/aim_lon`` are not consulted)."""
    return aim_point(float(_get(camera, "lat")), float(_get(camera, "lon")),
                     float(_get(camera, "mount_height_m", 0.0) or 0.0),
                     float(_get(camera, "pan_zero_azimuth_deg", 0.0) or 0.0),
                     float(_get(preset, "pan_deg", 0.0) or 0.0), float(_get(preset, "tilt_deg", 0.0) or 0.0),
                     ground_elevation_m=float(_get(camera, "ground_elevation_m", 0.0) or 0.0))


# --- field of view -----------------------------------------------------------

def _focal(fov_deg: float) -> float:
    # An ideal zoom lens: tan(fov/2) is inversely proportional to focal length,
    # and focal length is proportional to zoom; interpolate in that space.
    return 1.0 / math.tan(math.radians(fov_deg) / 2.0)


def _fov(focal: float) -> float:
    return math.degrees(2.0 * math.atan(1.0 / focal))


def fov_at_zoom(fov_table: Sequence[dict[str, float]] | None, zoom: float) -> Fov:
    """Horizontal and vertical FOV at ``zoom`` from the camera's table.

    Between two rows the lens is treated as ideal (focal length linear in zoom,
    so ``1/tan(fov/2)`` is interpolated linearly); outside the table the nearest
    row's value is used. An empty table uses :data:`DEFAULT_FOV_TABLE`.
    """
    rows = sorted((dict(r) for r in (fov_table or DEFAULT_FOV_TABLE)), key=lambda r: float(r["zoom"]))
    if zoom <= float(rows[0]["zoom"]):
        return Fov(float(rows[0]["hfov_deg"]), float(rows[0]["vfov_deg"]))
    if zoom >= float(rows[-1]["zoom"]):
        return Fov(float(rows[-1]["hfov_deg"]), float(rows[-1]["vfov_deg"]))
    for low, high in zip(rows, rows[1:]):
        z0, z1 = float(low["zoom"]), float(high["zoom"])
        if z0 <= zoom <= z1:
            t = (zoom - z0) / (z1 - z0) if z1 > z0 else 0.0
            return Fov(*(
                _fov(_focal(float(low[key])) + t * (_focal(float(high[key])) - _focal(float(low[key]))))
                for key in ("hfov_deg", "vfov_deg")
            ))
    raise AssertionError("unreachable: zoom inside the table")


# --- map footprint -----------------------------------------------------------

def view_cone(camera: Any, preset: Any, arc_points: int = 8,
              max_distance_m: float = MAX_AIM_DISTANCE_M) -> list[tuple[float, float]]:
    """The preset's ground footprint as a polygon ``[(lat, lon), ...]`` (not closed).

    ``camera`` and ``preset`` may be ORM rows or dicts with the same field names
    (``lat, lon, mount_height_m, pan_zero_azimuth_deg, fov_table`` and
    ``pan_deg, tilt_deg, zoom``). The footprint spans the horizontal FOV between the
    near edge (lower edge of the image) and the far edge (upper edge, clamped to
    ``max_distance_m`` when it reaches the horizon). When the whole image is above the
    horizon the cone starts at the camera.
    """
    lat, lon = float(_get(camera, "lat")), float(_get(camera, "lon"))
    height = float(_get(camera, "mount_height_m", 0.0) or 0.0)
    pan_zero = float(_get(camera, "pan_zero_azimuth_deg", 0.0) or 0.0)
    pan = float(_get(preset, "pan_deg", 0.0) or 0.0)
    tilt = float(_get(preset, "tilt_deg", 0.0) or 0.0)
    zoom = float(_get(preset, "zoom", 1.0) or 1.0)
    fov = fov_at_zoom(_get(camera, "fov_table"), zoom)

    centre = azimuth(pan_zero, pan)
    far = ground_distance_m(height, tilt + fov.vfov_deg / 2, max_distance_m)
    far = max_distance_m if far is None else far
    near = ground_distance_m(height, tilt - fov.vfov_deg / 2, max_distance_m) or 0.0
    steps = max(1, arc_points)
    bearings = [centre - fov.hfov_deg / 2 + fov.hfov_deg * i / steps for i in range(steps + 1)]
    far_arc = [destination(lat, lon, b, far) for b in bearings]
    if near <= 0.0:
        return [(lat, lon), *far_arc]
    near_arc = [destination(lat, lon, b, near) for b in reversed(bearings)]
    return [*far_arc, *near_arc]
