"""The pinhole camera at a pose: pixel ↔ viewing ray ↔ ground point.

Conventions (on top of those of :mod:`webapp.geometry.ptz`):

* **Pixels** — ``u`` to the right, ``v`` down, origin at the top-left corner of
  the image, pixel ``(i, j)`` covers ``[i, i+1) × [j, j+1)`` so its centre is
  ``(i + 0.5, j + 0.5)``. The principal point is the image centre. The focal
  lengths come from the FOV table at the current zoom and the image size:
  ``fx = (W/2) / tan(hfov/2)``, ``fy = (H/2) / tan(vfov/2)`` (independently: a
  table whose hfov:vfov is not the image's aspect means non-square pixels).
* **Pose** — no roll; the optical axis points at compass azimuth
  ``ptz.azimuth(pan_zero_azimuth_deg, pan)`` and ``tilt`` degrees above the local
  horizontal. The lens sits ``mount_height_m`` above ``ground_elevation_m``.
* **Rays** — a viewing ray is ``(azimuth_deg, elevation_deg)``: geodesic azimuth
  on WGS84 from the camera, clockwise from true north, and the angle above the
  local horizontal plane at the lens.
* **Earth** — ground positions are WGS84 latitude/longitude plus a height (the
  DEM's, metres). Along a ray's azimuth the vertical geometry is that of a sphere
  of effective radius ``R / (1 - k)`` (``R`` the WGS84 radius of curvature in that
  azimuth at the camera, ``k`` the refraction coefficient, 0.13 by default), the
  textbook way to bend a ray by refraction: in that frame the ray is straight. A
  point at geodesic distance ``s`` and height ``h`` is seen at elevation
  ``atan2((Re+h)·cos φ − (Re+Hc), (Re+h)·sin φ)`` with ``φ = s/Re``. The flat model
  (``EarthModel(curved=False)``) drops curvature and refraction altogether.

The forward (ground → pixel) and inverse (pixel → ground) directions use the
same functions, so a round trip agrees to numerical precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
from pyproj import Geod

from webapp.geometry import ptz

GEOD = Geod(ellps="WGS84")
_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694379990141317e-3
REFRACTION_K = 0.13
DEFAULT_MAX_RANGE_M = 40_000.0


@dataclass(frozen=True)
class EarthModel:
    """Curved Earth with refraction coefficient ``k``, or flat (``curved=False``)."""

    curved: bool = True
    k: float = REFRACTION_K

    def effective_radius(self, lat_deg: float, azimuth_deg) -> Any:
        """Effective radius (m) of the vertical section at ``azimuth_deg``; inf if flat."""
        az = np.radians(np.asarray(azimuth_deg, float))
        if not self.curved:
            return np.full_like(az, np.inf)
        s2 = math.sin(math.radians(lat_deg)) ** 2
        w = math.sqrt(1.0 - _WGS84_E2 * s2)
        m = _WGS84_A * (1.0 - _WGS84_E2) / w ** 3  # meridian radius of curvature
        n = _WGS84_A / w  # prime vertical radius of curvature
        r = 1.0 / (np.cos(az) ** 2 / m + np.sin(az) ** 2 / n)  # Euler
        return r / (1.0 - self.k)


FLAT = EarthModel(curved=False)
CURVED = EarthModel()


def elevation_angle(s, h, lens_h, radius) -> np.ndarray:
    """Elevation (radians) at which a point at geodesic distance ``s`` and height ``h``
    is seen from a lens at height ``lens_h`` (``radius`` = effective radius, inf: flat)."""
    s, h, radius = np.asarray(s, float), np.asarray(h, float), np.asarray(radius, float)
    if np.isinf(radius).all():
        return np.arctan2(h - lens_h, s)
    if np.isinf(radius).any():
        raise ValueError("mixed flat and curved radii")
    phi = s / radius
    rh = radius + h
    return np.arctan2(rh * np.cos(phi) - (radius + lens_h), rh * np.sin(phi))


def ray_height(s, elevation_rad, lens_h, radius) -> np.ndarray:
    """Height of a ray leaving the lens at ``elevation_rad`` above the point at
    geodesic distance ``s`` (inf where the ray never gets that far)."""
    s = np.asarray(s, float)
    e = np.asarray(elevation_rad, float)
    if np.isinf(radius):
        return lens_h + s * np.tan(e)
    phi = s / radius
    c = np.cos(e + phi)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 1e-12, (radius + lens_h) * np.cos(e) / c - radius, np.inf)


@dataclass
class CameraModel:
    """A camera (position, mount, lens) at a pose (pan, tilt, zoom) and image size."""

    lat: float
    lon: float
    ground_elevation_m: float = 0.0
    mount_height_m: float = 0.0
    pan_zero_azimuth_deg: float = 0.0
    fov_table: Sequence[dict[str, float]] | None = None
    width: int = 1920
    height: int = 1080
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 1.0
    earth: EarthModel = field(default_factory=EarthModel)

    @classmethod
    def of(cls, camera: Any, width: int = 1920, height: int = 1080, pan: float = 0.0, tilt: float = 0.0,
           zoom: float = 1.0, earth: EarthModel | None = None, ground_elevation_m: float | None = None) -> "CameraModel":
        """From an ORM row, a dict or a dataclass with the Camera model's field names."""
        def get(name, default=None):
            return camera.get(name, default) if isinstance(camera, dict) else getattr(camera, name, default)
        ground = get("ground_elevation_m", 0.0) if ground_elevation_m is None else ground_elevation_m
        return cls(lat=float(get("lat")), lon=float(get("lon")), ground_elevation_m=float(ground or 0.0),
                   mount_height_m=float(get("mount_height_m", 0.0) or 0.0),
                   pan_zero_azimuth_deg=float(get("pan_zero_azimuth_deg", 0.0) or 0.0),
                   fov_table=get("fov_table"), width=width, height=height, pan=pan, tilt=tilt, zoom=zoom,
                   earth=earth or EarthModel())

    def at(self, pan: float | None = None, tilt: float | None = None, zoom: float | None = None,
           width: int | None = None, height: int | None = None) -> "CameraModel":
        """A copy at another pose or image size."""
        return replace(self, pan=self.pan if pan is None else pan, tilt=self.tilt if tilt is None else tilt,
                       zoom=self.zoom if zoom is None else zoom, width=width or self.width,
                       height=height or self.height)

    # -- intrinsics / extrinsics ------------------------------------------------
    @property
    def lens_height(self) -> float:
        return self.ground_elevation_m + self.mount_height_m

    @property
    def heading(self) -> float:
        return ptz.azimuth(self.pan_zero_azimuth_deg, self.pan)

    def fov(self) -> ptz.Fov:
        return ptz.fov_at_zoom(self.fov_table, self.zoom)

    def focal(self) -> tuple[float, float]:
        fov = self.fov()
        return (self.width / 2.0 / math.tan(math.radians(fov.hfov_deg) / 2.0),
                self.height / 2.0 / math.tan(math.radians(fov.vfov_deg) / 2.0))

    def axes(self) -> np.ndarray:
        """Rows: right, up, forward unit vectors of the camera in local ENU."""
        a, t = math.radians(self.heading), math.radians(self.tilt)
        forward = [math.sin(a) * math.cos(t), math.cos(a) * math.cos(t), math.sin(t)]
        right = [math.cos(a), -math.sin(a), 0.0]
        up = [-math.sin(a) * math.sin(t), -math.cos(a) * math.sin(t), math.cos(t)]
        return np.array([right, up, forward])

    # -- pixel <-> ray --------------------------------------------------------------
    def pixel_to_ray(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates → ``(azimuth_deg, elevation_deg)`` of the viewing ray."""
        fx, fy = self.focal()
        x = (np.asarray(u, float) - self.width / 2.0) / fx
        y = (self.height / 2.0 - np.asarray(v, float)) / fy
        r, up, f = self.axes()
        d = x[..., None] * r + y[..., None] * up + f
        az = np.degrees(np.arctan2(d[..., 0], d[..., 1])) % 360.0
        el = np.degrees(np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1])))
        return az, el

    def ray_to_pixel(self, azimuth_deg, elevation_deg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(u, v, in_front)``: where a ray lands on the image plane (``in_front`` is
        False for rays behind the camera; u, v are then meaningless)."""
        a, e = np.radians(np.asarray(azimuth_deg, float)), np.radians(np.asarray(elevation_deg, float))
        d = np.stack([np.sin(a) * np.cos(e), np.cos(a) * np.cos(e), np.sin(e)], axis=-1)
        xc, yc, zc = (d @ self.axes().T)[..., 0], (d @ self.axes().T)[..., 1], (d @ self.axes().T)[..., 2]
        fx, fy = self.focal()
        front = zc > 1e-9
        zs = np.where(front, zc, 1.0)
        return self.width / 2.0 + xc / zs * fx, self.height / 2.0 - yc / zs * fy, front

    def in_image(self, u, v, front) -> np.ndarray:
        u, v = np.asarray(u), np.asarray(v)
        return np.asarray(front) & (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)

    # -- ground <-> ray ---------------------------------------------------------
    def ground_to_ray(self, lat, lon, h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground point(s) → ``(azimuth_deg, elevation_deg, distance_m)``."""
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        az, _back, s = GEOD.inv(np.full_like(lon, self.lon), np.full_like(lat, self.lat), lon, lat)
        az = np.asarray(az) % 360.0
        radius = self.earth.effective_radius(self.lat, az)
        el = np.degrees(elevation_angle(s, h, self.lens_height, radius))
        return az, el, np.asarray(s)

    def ground_to_pixel(self, lat, lon, h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forward projection: ground point(s) → ``(u, v, in_front)``."""
        az, el, _s = self.ground_to_ray(lat, lon, h)
        return self.ray_to_pixel(az, el)

    def destination(self, azimuth_deg, distance_m) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` at a geodesic distance along an azimuth from the camera."""
        az = np.asarray(azimuth_deg, float)
        s = np.asarray(distance_m, float)
        az, s = np.broadcast_arrays(az, s)
        lon, lat, _ = GEOD.fwd(np.full(az.shape, self.lon), np.full(az.shape, self.lat), az, s)
        return np.asarray(lat), np.asarray(lon)

    def ray_to_ground(self, azimuth_deg: float, elevation_deg: float, dem: Any = None,
                      reference_elevation_m: float | None = None,
                      max_range_m: float = DEFAULT_MAX_RANGE_M, tolerance_m: float = 0.005,
                      ) -> tuple[float, float, float, float] | None:
        """Where one viewing ray meets the ground: ``(lat, lon, h, distance_m)`` or None.

        With ``dem`` (anything with ``sample(lat, lon)`` returning heights, NaN where
        it has no data, and ``cell_size_m``) the ray is marched in steps of half a
        cell and the first crossing refined by bisection to ``tolerance_m`` of
        distance; a ray that leaves the DEM's coverage before meeting the ground
        returns None. Without one, the ground is the surface at
        ``reference_elevation_m`` (default: the camera's ground elevation), curved
        (with refraction) or flat according to the camera's Earth model.
        """
        e = math.radians(elevation_deg)
        radius = float(self.earth.effective_radius(self.lat, azimuth_deg))
        hc = self.lens_height
        if dem is None:
            h0 = self.ground_elevation_m if reference_elevation_m is None else reference_elevation_m
            if hc <= h0:
                return None
            if math.isinf(radius):
                if e >= 0:
                    return None
                s = (hc - h0) / math.tan(-e)
            else:
                rhs = (radius + hc) * math.cos(e) / (radius + h0)
                if rhs > 1.0:
                    return None  # the ray passes above that surface
                s = (-e - math.acos(rhs)) * radius
                if s < 0:
                    return None
            if s > max_range_m:
                return None
            lat, lon = self.destination(azimuth_deg, s)
            return float(lat), float(lon), h0, s

        step = max(1.0, float(getattr(dem, "cell_size_m", 30.0)) / 2.0)
        s = np.arange(0.0, max_range_m + step, step)
        lat, lon = self.destination(np.full_like(s, azimuth_deg), s)
        ground = np.asarray(dem.sample(lat, lon), float)
        above = ray_height(s, e, hc, radius) - ground
        below = np.nonzero(~(above > 0))[0]  # NaN (no data) stops the march too
        if below.size == 0 or below[0] == 0:
            return None
        i = int(below[0])
        if np.isnan(above[i]):
            return None  # left the DEM's coverage before meeting the ground
        lo, hi = float(s[i - 1]), float(s[i])
        while hi - lo > tolerance_m:
            mid = 0.5 * (lo + hi)
            la, lo_ = self.destination(azimuth_deg, mid)
            g = float(np.asarray(dem.sample(la, lo_), float))
            if float(ray_height(mid, e, hc, radius)) - g > 0:
                lo = mid
            else:
                hi = mid
        s_hit = 0.5 * (lo + hi)
        la, lo_ = self.destination(azimuth_deg, s_hit)
        h = float(np.asarray(dem.sample(la, lo_), float))
        return float(la), float(lo_), h, s_hit

    def pixel_to_ground(self, u: float, v: float, dem: Any = None, **kw: Any):
        """Geolocate one pixel: ``(lat, lon, h, distance_m)`` or None (sky / no data)."""
        az, el = self.pixel_to_ray(u, v)
        return self.ray_to_ground(float(az), float(el), dem, **kw)

    def visible(self, lat: float, lon: float, h: float, dem: Any, tolerance_m: float = 30.0) -> bool:
        """True when a ground point is in the image and not hidden behind terrain."""
        u, v, front = self.ground_to_pixel(lat, lon, h)
        if not bool(self.in_image(u, v, front)):
            return False
        az, el, s = self.ground_to_ray(lat, lon, h)
        hit = self.ray_to_ground(float(az), float(el), dem, max_range_m=float(s) + 4 * tolerance_m)
        return hit is not None and hit[3] >= float(s) - tolerance_m
