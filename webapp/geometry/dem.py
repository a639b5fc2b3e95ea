"""Digital elevation model: a GeoTIFF read with rasterio, sampled bilinearly.

A real DEM (SRTM, Copernicus GLO-30 …) covering the district can be dropped in
through the ``NRSC_DEM_PATH`` setting; any CRS rasterio understands works (points
are transformed from WGS84). Without one, :func:`ensure_synthetic_dem` writes the
deterministic synthetic DEM of the district (:func:`synthetic_elevation`) into the
data dir: invented but plausible terrain — loess plains, low hills, valleys —
between 1,300 and 1,900 m at 1 arc-second (~30 m, GLO-30's spacing there).
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

# The demo district's outline bounds (webapp.demo.DISTRICT_OUTLINE; repeated here
# because this package must not import the rest of webapp), south, west, north, east.
DISTRICT_BOUNDS = (37.02, 105.90, 37.58, 106.58)
MARGIN_M = 20_000.0
DEFAULT_DEM_SEED = 20260318
SYNTHETIC_MIN_M, SYNTHETIC_MAX_M = 1300.0, 1900.0
_CENTRE = (37.30, 106.24)
_KM_PER_DEG_LAT = 110.95
_KM_PER_DEG_LON = 111.32 * math.cos(math.radians(_CENTRE[0]))


class OutsideCoverage(ValueError):
    """A point outside the DEM (or on its no-data cells)."""


class Dem:
    """Heights from a raster; :meth:`sample` is vectorised and gives NaN outside."""

    def __init__(self, array: np.ndarray, west: float, north: float, dx: float, dy: float,
                 transformer=None, source: str = "array"):
        self.array = np.asarray(array, np.float32)
        self.west, self.north, self.dx, self.dy = west, north, dx, dy
        self.rows, self.cols = self.array.shape
        self._transformer = transformer  # WGS84 lon/lat -> raster CRS, None if geographic
        self.source = source
        if transformer is None:  # degrees: metres at the centre latitude
            lat_c = north - dy * self.rows / 2
            self.cell_size_m = min(dy * 111_000.0, dx * 111_000.0 * math.cos(math.radians(lat_c)))
        else:
            self.cell_size_m = min(abs(dx), abs(dy))

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Dem":
        import rasterio
        from pyproj import CRS, Transformer
        with rasterio.open(path) as ds:
            band = ds.read(1, masked=True).astype(np.float32)
            array = band.filled(np.nan)
            t = ds.transform
            if abs(t.b) > 1e-12 or abs(t.d) > 1e-12:
                raise ValueError(f"{path}: rotated rasters are not supported")
            crs = CRS.from_user_input(ds.crs) if ds.crs else CRS.from_epsg(4326)
        transformer = None if crs.is_geographic else Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        return cls(array, t.c, t.f, t.a, -t.e, transformer, source=str(path))

    # -- coverage ---------------------------------------------------------------
    def _xy(self, lat, lon):
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        if self._transformer is None:
            return lon, lat
        x, y = self._transformer.transform(lon, lat)
        return np.asarray(x), np.asarray(y)

    def bounds(self) -> tuple[float, float, float, float]:
        """Raster bounds in its own CRS: (west, south, east, north)."""
        return self.west, self.north - self.dy * self.rows, self.west + self.dx * self.cols, self.north

    def covers(self, lat, lon) -> np.ndarray:
        return ~np.isnan(self.sample(lat, lon))

    # -- sampling -----------------------------------------------------------------
    def sample(self, lat, lon) -> np.ndarray:
        """Bilinear heights (m) at WGS84 points; NaN outside the raster or on no-data."""
        x, y = self._xy(lat, lon)
        # Cell centres sit at half-integer indices; within half a cell of the edge
        # the edge value is extended (clamped), beyond the edge there is no data.
        col = (x - self.west) / self.dx - 0.5
        row = (self.north - y) / self.dy - 0.5
        outside = (col < -0.5) | (col > self.cols - 0.5) | (row < -0.5) | (row > self.rows - 0.5)
        col = np.clip(col, 0.0, self.cols - 1.0)
        row = np.clip(row, 0.0, self.rows - 1.0)
        c0 = np.minimum(np.floor(col).astype(np.intp), self.cols - 2)
        r0 = np.minimum(np.floor(row).astype(np.intp), self.rows - 2)
        fc, fr = col - c0, row - r0
        a = self.array
        top = a[r0, c0] * (1 - fc) + a[r0, c0 + 1] * fc
        bottom = a[r0 + 1, c0] * (1 - fc) + a[r0 + 1, c0 + 1] * fc
        value = top * (1 - fr) + bottom * fr
        return np.where(outside, np.nan, value)

    def fractional_index(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of WGS84 points in cell-centre index space (for bulk sampling)."""
        x, y = self._xy(lat, lon)
        return (self.north - y) / self.dy - 0.5, (x - self.west) / self.dx - 0.5

    def elevation(self, lat: float, lon: float) -> float:
        """One height; raises :class:`OutsideCoverage` naming the point and the raster."""
        value = float(self.sample(lat, lon))
        if math.isnan(value):
            w, s, e, n = self.bounds()
            raise OutsideCoverage(f"({lat:.5f}, {lon:.5f}) is outside the DEM {self.source} "
                                  f"(bounds W {w:.4f} S {s:.4f} E {e:.4f} N {n:.4f}) or on no-data")
        return value


_open_cache: dict[tuple[str, float], Dem] = {}


def open_cached(path: str | os.PathLike) -> Dem:
    """:meth:`Dem.open` once per file version (path and mtime): a 1″ district DEM is
    ~55 MB in memory and takes about a second to read."""
    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime)
    dem = _open_cache.get(key)
    if dem is None:
        for old in [k for k in _open_cache if k[0] == key[0]]:
            del _open_cache[old]
        dem = _open_cache[key] = Dem.open(path)
    return dem


# --- the synthetic district DEM ----------------------------------------------

def synthetic_bounds(margin_m: float = MARGIN_M) -> tuple[float, float, float, float]:
    """(south, west, north, east) of the district plus the margin, rounded outward to 0.01°."""
    s, w, n, e = DISTRICT_BOUNDS
    dlat = margin_m / 1000.0 / _KM_PER_DEG_LAT
    dlon = margin_m / 1000.0 / _KM_PER_DEG_LON
    return (math.floor((s - dlat) * 100) / 100, math.floor((w - dlon) * 100) / 100,
            math.ceil((n + dlat) * 100) / 100, math.ceil((e + dlon) * 100) / 100)


def _terrain_params(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p: dict[str, np.ndarray] = {}
    # Hills: waves of 2–25 km, amplitude growing with wavelength (a rough fractal).
    lam = np.exp(rng.uniform(math.log(2.0), math.log(25.0), 22))
    ang = rng.uniform(0, math.pi, lam.size)
    p["hills"] = np.stack([np.cos(ang) * 2 * math.pi / lam, np.sin(ang) * 2 * math.pi / lam,
                           rng.uniform(0, 2 * math.pi, lam.size), 9.0 * lam ** 0.8], axis=1)
    # Where hills are (vs plains): very long waves.
    lam = rng.uniform(35.0, 80.0, 4)
    ang = rng.uniform(0, math.pi, 4)
    p["mask"] = np.stack([np.cos(ang) * 2 * math.pi / lam, np.sin(ang) * 2 * math.pi / lam,
                          rng.uniform(0, 2 * math.pi, 4), np.ones(4)], axis=1)
    # Fine texture: 150–600 m, a few metres.
    lam = rng.uniform(0.15, 0.6, 5)
    ang = rng.uniform(0, math.pi, 5)
    p["fine"] = np.stack([np.cos(ang) * 2 * math.pi / lam, np.sin(ang) * 2 * math.pi / lam,
                          rng.uniform(0, 2 * math.pi, 5), rng.uniform(1.0, 3.0, 5)], axis=1)
    # Meandering valleys: direction, offset (km), meander amplitude/wavelength (km), phase, depth, width.
    n = 4
    p["valleys"] = np.stack([rng.uniform(0, math.pi, n), rng.uniform(-35, 35, n), rng.uniform(1.0, 3.0, n),
                             rng.uniform(8.0, 16.0, n), rng.uniform(0, 2 * math.pi, n),
                             rng.uniform(35.0, 80.0, n), rng.uniform(0.5, 1.2, n)], axis=1)
    p["trend"] = np.array([rng.uniform(-1.8, 1.8), rng.uniform(-1.8, 1.8)])  # m per km east / north
    return p


def _waves(x, y, rows) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
    for kx, ky, ph, amp in rows:
        out += np.float32(amp) * np.cos(np.float32(kx) * x + np.float32(ky) * y + np.float32(ph))
    return out


def synthetic_elevation(lat, lon, seed: int = DEFAULT_DEM_SEED) -> np.ndarray:
    """The synthetic terrain (m) at WGS84 points, analytic and deterministic for a seed."""
    p = _terrain_params(seed)
    x = ((np.asarray(lon, float) - _CENTRE[1]) * _KM_PER_DEG_LON).astype(np.float32)
    y = ((np.asarray(lat, float) - _CENTRE[0]) * _KM_PER_DEG_LAT).astype(np.float32)
    x, y = np.broadcast_arrays(x, y)
    mask = _waves(x, y, p["mask"]) / 4.0  # -1..1
    hilly = np.clip((mask + 0.15) / 0.6, 0.0, 1.0)
    hilly = hilly * hilly * (3 - 2 * hilly)  # smoothstep: plains where 0
    hills = _waves(x, y, p["hills"])
    h = 1520.0 + p["trend"][0] * x + p["trend"][1] * y + (0.12 + 0.88 * hilly) * hills
    for theta, offset, amp, lam, ph, depth, width in p["valleys"]:
        u = x * math.cos(theta) + y * math.sin(theta)
        v = -x * math.sin(theta) + y * math.cos(theta)
        d = v - offset - amp * np.sin(u * (2 * math.pi / lam) + ph)
        h -= np.float32(depth) * np.exp(-(d / np.float32(width)) ** 2)
    h += _waves(x, y, p["fine"])
    # Squash into the district's range smoothly rather than clipping flat tops.
    mid, half = (SYNTHETIC_MIN_M + SYNTHETIC_MAX_M) / 2, (SYNTHETIC_MAX_M - SYNTHETIC_MIN_M) / 2
    return (mid + half * np.tanh((h - mid) / half)).astype(np.float32)


def write_synthetic_dem(path: str | os.PathLike, seed: int = DEFAULT_DEM_SEED,
                        resolution_arcsec: float = 1.0, margin_m: float = MARGIN_M) -> Path:
    """Write the synthetic DEM as a tiled, compressed float32 GeoTIFF (EPSG:4326)."""
    import rasterio
    from affine import Affine
    south, west, north, east = synthetic_bounds(margin_m)
    res = resolution_arcsec / 3600.0
    rows, cols = int(round((north - south) / res)), int(round((east - west) / res))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".tif", dir=path.parent)
    os.close(fd)
    profile = dict(driver="GTiff", width=cols, height=rows, count=1, dtype="float32", crs="EPSG:4326",
                   transform=Affine(res, 0.0, west, 0.0, -res, north), tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate", predictor=3, nodata=float("nan"))
    lon = west + (np.arange(cols) + 0.5) * res
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            ds.update_tags(source="NRSC synthetic DEM (invented terrain, demo only)", seed=str(seed))
            for r0 in range(0, rows, 256):
                r1 = min(rows, r0 + 256)
                lat = north - (np.arange(r0, r1) + 0.5) * res
                block = synthetic_elevation(lat[:, None], lon[None, :], seed)
                ds.write(block, 1, window=rasterio.windows.Window(0, r0, cols, r1 - r0))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def ensure_synthetic_dem(path: str | os.PathLike, seed: int = DEFAULT_DEM_SEED) -> Path:
    """The DEM at ``path``, written first if it does not exist (a real one is kept)."""
    path = Path(path)
    if not path.exists():
        write_synthetic_dem(path, seed)
    return path


def synthetic_dem(seed: int = DEFAULT_DEM_SEED, resolution_arcsec: float = 3.0,
                  bounds: tuple[float, float, float, float] | None = None) -> Dem:
    """An in-memory synthetic DEM (coarser by default): for tests and quick tools."""
    south, west, north, east = bounds or synthetic_bounds()
    res = resolution_arcsec / 3600.0
    rows, cols = int(round((north - south) / res)), int(round((east - west) / res))
    lat = north - (np.arange(rows) + 0.5) * res
    lon = west + (np.arange(cols) + 0.5) * res
    return Dem(synthetic_elevation(lat[:, None], lon[None, :], seed), west, north, res, res, source="synthetic")
