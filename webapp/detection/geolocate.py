"""Where a detection is on the ground, and how sure we are (monoplotting and
two-camera triangulation).

* :func:`monoplot` — one camera: the detection's pixel (bottom centre of a
  box, the base of a plume) → viewing ray (:class:`CameraModel`) → ground over
  the DEM, or over the curved Earth with refraction at a reference height.
* :func:`triangulate` — two cameras' bearings to the same event intersected on
  the ellipsoid (Pyronear's approach: each camera gives a direction, the event
  is where the directions cross), refined by Newton's method on pyproj
  geodesic azimuths so the result agrees with a geodesic reference to well
  under a millimetre.

The 95% uncertainty ellipse comes from the configured pointing errors — pan
and tilt repeatability of the head (σ, degrees) and the detection's pixel
error (σ, pixels) — propagated through the *actual* ray–ground intersection:
the ray is perturbed by ±k·σ in azimuth and in elevation (k = √χ²₂(0.95) =
2.448) and re-intersected, so range error grows with distance²/height × tilt
error as the terrain dictates, and cross-range with pan error and pixel size.
Of each pair of perturbed points the farther one is kept (the far side of a
grazing ray is longer than the near side), which makes the ellipse
conservative where the intersection is not linear.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from webapp.geometry.projection import DEFAULT_MAX_RANGE_M, GEOD, CameraModel

# sqrt of the 95% quantile of chi-square with 2 degrees of freedom.
K95 = math.sqrt(-2.0 * math.log(0.05))
DEFAULT_PAN_SIGMA_DEG = 0.1
DEFAULT_TILT_SIGMA_DEG = 0.05
DEFAULT_PIXEL_SIGMA = 2.0
# Bearings crossing at less than this are too parallel to triangulate.
MIN_CROSSING_DEG = 5.0


class GeolocationError(ValueError):
    """No ground position for a pixel; the message says why (sky, DEM coverage)."""


@dataclass(frozen=True)
class Sigmas:
    """One-sigma pointing errors: the head's pan and tilt repeatability
    (degrees) and the detection's pixel error (pixels, horizontal and vertical)."""

    pan_deg: float = DEFAULT_PAN_SIGMA_DEG
    tilt_deg: float = DEFAULT_TILT_SIGMA_DEG
    pixel_u: float = DEFAULT_PIXEL_SIGMA
    pixel_v: float = DEFAULT_PIXEL_SIGMA

    @classmethod
    def from_config(cls, config: Any) -> "Sigmas":
        get = config.get
        px = float(get("NRSC_GEO_PIXEL_SIGMA", DEFAULT_PIXEL_SIGMA))
        return cls(float(get("NRSC_GEO_PAN_SIGMA_DEG", DEFAULT_PAN_SIGMA_DEG)),
                   float(get("NRSC_GEO_TILT_SIGMA_DEG", DEFAULT_TILT_SIGMA_DEG)), px, px)

    def with_pixels(self, u: float, v: float) -> "Sigmas":
        return Sigmas(self.pan_deg, self.tilt_deg, max(self.pixel_u, u), max(self.pixel_v, v))


@dataclass(frozen=True)
class Bearing:
    """A camera's direction to an event: geodesic azimuth and its σ (degrees)."""

    lat: float
    lon: float
    azimuth_deg: float
    sigma_deg: float
    camera: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "lat": self.lat, "lon": self.lon,
                "azimuth_deg": round(self.azimuth_deg, 6), "sigma_deg": round(self.sigma_deg, 6)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Bearing":
        return cls(float(raw["lat"]), float(raw["lon"]), float(raw["azimuth_deg"]), float(raw["sigma_deg"]),
                   raw.get("camera"))


@dataclass
class Fix:
    """A ground position with its 95% ellipse (metres; orientation of the major
    axis in degrees clockwise from north, 0..180)."""

    lat: float
    lon: float
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float
    method: str  # "monoplot" | "triangulated"
    bearings: tuple[Bearing, ...] = ()
    height_m: float | None = None
    distance_m: float | None = None
    covariance: np.ndarray | None = field(default=None, repr=False)  # east/north, m²

    @property
    def cameras(self) -> list[Any]:
        return [b.camera for b in self.bearings if b.camera is not None]

    @property
    def area_m2(self) -> float:
        return math.pi * self.semi_major_m * self.semi_minor_m

    def uncertainty(self) -> dict[str, Any]:
        """The alert's ``uncertainty`` JSON (plus the bearings, for a later triangulation)."""
        return {"semi_major_m": round(self.semi_major_m, 2), "semi_minor_m": round(self.semi_minor_m, 2),
                "orientation_deg": round(self.orientation_deg, 2), "confidence": 0.95,
                "bearings": [b.as_json() for b in self.bearings]}

    def offset(self, lat: float, lon: float) -> tuple[float, float]:
        """East, north metres from this fix to a point (local tangent, exact distance)."""
        az, _back, dist = GEOD.inv(self.lon, self.lat, lon, lat)
        a = math.radians(az)
        return dist * math.sin(a), dist * math.cos(a)

    def mahalanobis2(self, lat: float, lon: float) -> float:
        """Squared distance of a point in ellipse units: ≤ 1 inside the 95% ellipse."""
        e, n = self.offset(lat, lon)
        t = math.radians(self.orientation_deg)
        major = e * math.sin(t) + n * math.cos(t)
        minor = e * math.cos(t) - n * math.sin(t)
        return (major / max(self.semi_major_m, 1e-9)) ** 2 + (minor / max(self.semi_minor_m, 1e-9)) ** 2

    def contains(self, lat: float, lon: float) -> bool:
        return self.mahalanobis2(lat, lon) <= 1.0

    def polygon(self, points: int = 48) -> dict[str, Any]:
        """The ellipse as a GeoJSON Polygon (lon, lat), for the map."""
        t = math.radians(self.orientation_deg)
        ring = []
        for i in range(points):
            a = 2 * math.pi * i / points
            major, minor = self.semi_major_m * math.cos(a), self.semi_minor_m * math.sin(a)
            e = major * math.sin(t) + minor * math.cos(t)
            n = major * math.cos(t) - minor * math.sin(t)
            lon, lat, _ = GEOD.fwd(self.lon, self.lat, math.degrees(math.atan2(e, n)), math.hypot(e, n))
            ring.append([round(lon, 7), round(lat, 7)])
        ring.append(ring[0])
        return {"type": "Polygon", "coordinates": [ring]}


def ellipse_of(covariance: np.ndarray) -> tuple[float, float, float]:
    """(semi_major, semi_minor, orientation_deg) of the 95% ellipse of an
    east/north covariance."""
    values, vectors = np.linalg.eigh(np.asarray(covariance, float))
    values = np.clip(values, 0.0, None)
    major = vectors[:, 1]
    orientation = math.degrees(math.atan2(major[0], major[1])) % 180.0
    return K95 * math.sqrt(values[1]), K95 * math.sqrt(values[0]), orientation


def ray_sigmas(cam: CameraModel, sigmas: Sigmas) -> tuple[float, float]:
    """(σ azimuth, σ elevation) in degrees of a viewing ray: head error and
    the pixel error through the focal length at the current zoom."""
    fx, fy = cam.focal()
    s_az = math.hypot(sigmas.pan_deg, math.degrees(sigmas.pixel_u / fx))
    s_el = math.hypot(sigmas.tilt_deg, math.degrees(sigmas.pixel_v / fy))
    return s_az, s_el


def _why_no_ground(cam: CameraModel, az: float, el: float, dem: Any, max_range_m: float) -> str:
    if dem is not None:
        step = max(30.0, float(getattr(dem, "cell_size_m", 30.0)))
        s = np.arange(0.0, max_range_m + step, step)
        lat, lon = cam.destination(np.full_like(s, az), s)
        ground = np.asarray(dem.sample(lat, lon), float)
        gaps = np.nonzero(np.isnan(ground))[0]
        if gaps.size:
            return (f"the DEM does not cover the viewing ray (azimuth {az:.1f}°, elevation {el:.2f}°): "
                    f"it leaves the DEM's coverage {s[gaps[0]] / 1000:.1f} km from the camera before meeting the ground")
    return (f"the viewing ray (azimuth {az:.1f}°, elevation {el:.2f}°) meets no ground within "
            f"{max_range_m / 1000:.0f} km (sky or beyond the horizon)")


def _hit(cam: CameraModel, az: float, el: float, dem: Any, reference_elevation_m: float | None,
         max_range_m: float, tolerance_m: float = 0.005):
    return cam.ray_to_ground(az % 360.0, el, dem, reference_elevation_m=reference_elevation_m,
                             max_range_m=max_range_m, tolerance_m=tolerance_m)


def monoplot(cam: CameraModel, u: float, v: float, dem: Any = None, sigmas: Sigmas | None = None, *,
             reference_elevation_m: float | None = None, max_range_m: float = DEFAULT_MAX_RANGE_M,
             camera_id: Any = None) -> Fix:
    """Geolocate pixel ``(u, v)`` of a frame taken at ``cam``'s pose.

    Raises :class:`GeolocationError` when the ray meets no ground (sky) or
    leaves the DEM's coverage first."""
    sigmas = sigmas or Sigmas()
    az, el = (float(x) for x in cam.pixel_to_ray(u, v))
    hit = _hit(cam, az, el, dem, reference_elevation_m, max_range_m)
    if hit is None:
        raise GeolocationError(_why_no_ground(cam, az, el, dem, max_range_m))
    lat, lon, h, dist = hit
    s_az, s_el = ray_sigmas(cam, sigmas)
    centre = Fix(lat, lon, 0.0, 0.0, 0.0, "monoplot")
    columns = []
    for d_az, d_el in ((K95 * s_az, 0.0), (0.0, K95 * s_el)):
        sides = []
        for sign in (1.0, -1.0):
            # Half a metre is plenty for an error estimate (and halves the bisection).
            other = _hit(cam, az + sign * d_az, el + sign * d_el, dem, reference_elevation_m, max_range_m, 0.5)
            if other is None:
                # The raised ray misses the ground: the range is open to the
                # end of the search; say so with the longest honest figure.
                far = max_range_m - dist
                a = math.radians(az + sign * d_az)
                sides.append(np.array([far * math.sin(a), far * math.cos(a)]))
            else:
                sides.append(np.array(centre.offset(other[0], other[1])))
        columns.append(max(sides, key=lambda s: float(np.hypot(*s))) / K95)
    cov = sum(np.outer(c, c) for c in columns)
    major, minor, orientation = ellipse_of(cov)
    bearing = Bearing(cam.lat, cam.lon, az, s_az, camera_id)
    return Fix(lat, lon, major, minor, orientation, "monoplot", (bearing,), h, dist, cov)


def _azimuth_to(b: Bearing, lat: float, lon: float) -> float:
    az, _back, _dist = GEOD.inv(b.lon, b.lat, lon, lat)
    return float(az)


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def _planar_guess(a: Bearing, b: Bearing) -> tuple[float, float] | None:
    """Intersection in a local azimuthal projection: a first guess for Newton."""
    az_ab, _back, dist = GEOD.inv(a.lon, a.lat, b.lon, b.lat)
    bx, by = dist * math.sin(math.radians(az_ab)), dist * math.cos(math.radians(az_ab))
    da = np.array([math.sin(math.radians(a.azimuth_deg)), math.cos(math.radians(a.azimuth_deg))])
    db = np.array([math.sin(math.radians(b.azimuth_deg)), math.cos(math.radians(b.azimuth_deg))])
    m = np.column_stack([da, -db])
    if abs(np.linalg.det(m)) < 1e-9:
        return None
    t = np.linalg.solve(m, np.array([bx, by]))
    if t[0] <= 0 or t[1] <= 0:
        return None  # the bearings cross behind a camera
    lon, lat, _ = GEOD.fwd(a.lon, a.lat, a.azimuth_deg, float(t[0]))
    return float(lat), float(lon)


def triangulate(a: Bearing, b: Bearing, *, max_range_m: float = DEFAULT_MAX_RANGE_M,
                min_crossing_deg: float = MIN_CROSSING_DEG, tolerance_m: float = 1e-4) -> Fix | None:
    """Where two bearings cross, with the 95% ellipse from their σ; None when
    they do not cross in front of both cameras within range, or cross at
    less than ``min_crossing_deg`` (too parallel to tell range)."""
    guess = _planar_guess(a, b)
    if guess is None:
        return None
    lat, lon = guess
    jac = np.eye(2)
    for _ in range(30):
        r = np.radians([_wrap(_azimuth_to(a, lat, lon) - a.azimuth_deg),
                        _wrap(_azimuth_to(b, lat, lon) - b.azimuth_deg)])
        # Jacobian of the residuals in east/north metres, by central differences.
        h = 0.5
        cols = []
        for de, dn in ((h, 0.0), (0.0, h)):
            pts = []
            for sign in (1.0, -1.0):
                az_p = math.degrees(math.atan2(sign * de, sign * dn))
                lo, la, _ = GEOD.fwd(lon, lat, az_p, h)
                pts.append(np.radians([_wrap(_azimuth_to(a, la, lo) - a.azimuth_deg),
                                       _wrap(_azimuth_to(b, la, lo) - b.azimuth_deg)]))
            cols.append((pts[0] - pts[1]) / (2 * h))
        jac = np.column_stack(cols)
        try:
            step = -np.linalg.solve(jac, r)
        except np.linalg.LinAlgError:
            return None
        norm = float(np.hypot(*step))
        lo, la, _ = GEOD.fwd(lon, lat, math.degrees(math.atan2(step[0], step[1])), norm)
        lat, lon = float(la), float(lo)
        if norm < tolerance_m:
            break
    else:
        return None
    back_a = GEOD.inv(a.lon, a.lat, lon, lat)
    back_b = GEOD.inv(b.lon, b.lat, lon, lat)
    # The angle between the two lines of sight at the event.
    at_event = abs(_wrap(back_a[1] - back_b[1]))
    crossing = min(at_event, 180.0 - at_event)
    if crossing < min_crossing_deg or max(back_a[2], back_b[2]) > max_range_m:
        return None
    if abs(_wrap(back_a[0] - a.azimuth_deg)) > 1e-3 or abs(_wrap(back_b[0] - b.azimuth_deg)) > 1e-3:
        return None  # converged on the antipodal crossing
    inv = np.linalg.inv(jac)
    sig = np.diag(np.radians([a.sigma_deg, b.sigma_deg]) ** 2)
    cov = inv @ sig @ inv.T
    major, minor, orientation = ellipse_of(cov)
    return Fix(lat, lon, major, minor, orientation, "triangulated", (a, b), None,
               None, cov)


def consistent(fix: Fix, other: Fix, scale: float = 1.6) -> bool:
    """Whether ``other`` lies within ``scale`` × the 95% ellipse of ``fix``
    (1.6 × the 95% radius is about the 99.99% contour)."""
    return fix.mahalanobis2(other.lat, other.lon) <= scale ** 2


def best(fixes: Sequence[Fix | None]) -> Fix | None:
    """The estimate with the smallest ellipse."""
    found = [f for f in fixes if f is not None]
    return min(found, key=lambda f: f.area_m2) if found else None


__all__ = ["Bearing", "Fix", "GeolocationError", "K95", "Sigmas", "best", "consistent", "ellipse_of",
           "monoplot", "ray_sigmas", "triangulate"]
