"""Exact local East-North-Up coordinates around an origin (WGS84 via ECEF)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Transformer


@lru_cache(maxsize=2)
def _to_ecef() -> Transformer:
    # EPSG:4979 is WGS84 lon/lat/ellipsoidal height; EPSG:4978 is WGS84 ECEF.
    return Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


def _rotation(lat0: float, lon0: float) -> np.ndarray:
    p, lam = np.radians(lat0), np.radians(lon0)
    return np.array([
        [-np.sin(lam), np.cos(lam), 0.0],
        [-np.sin(p) * np.cos(lam), -np.sin(p) * np.sin(lam), np.cos(p)],
        [np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)],
    ])


def geodetic_to_enu(lat, lon, h, lat0: float, lon0: float, h0: float) -> np.ndarray:
    """``(lat, lon, h)`` (scalars or arrays) → ``[..., 3]`` east, north, up in metres
    from the origin ``(lat0, lon0, h0)``."""
    tr = _to_ecef()
    x, y, z = tr.transform(np.asarray(lon, float), np.asarray(lat, float), np.asarray(h, float))
    x0, y0, z0 = tr.transform(lon0, lat0, h0)
    d = np.stack([np.asarray(x) - x0, np.asarray(y) - y0, np.asarray(z) - z0], axis=-1)
    return d @ _rotation(lat0, lon0).T


def enu_to_geodetic(enu, lat0: float, lon0: float, h0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`geodetic_to_enu`: returns ``(lat, lon, h)``."""
    tr = _to_ecef()
    x0, y0, z0 = tr.transform(lon0, lat0, h0)
    d = np.asarray(enu, float) @ _rotation(lat0, lon0)
    lon, lat, h = tr.transform(d[..., 0] + x0, d[..., 1] + y0, d[..., 2] + z0, direction="INVERSE")
    return np.asarray(lat), np.asarray(lon), np.asarray(h)
