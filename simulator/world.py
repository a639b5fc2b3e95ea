"""The simulated world: terrain from the DEM plus seeded roads, villages and
fields, and the static terrain render of a camera pose.

Rendering a new pose (cold; then cached per pose), at most 768 pixels wide
(1080p: 1/2.5, upsampled), everything vectorised in float32:

1. Rays: per pixel, the azimuth relative to the heading and the tangent of the
   elevation, from the pinhole conventions of :mod:`webapp.geometry.projection`
   (cached per tilt, zoom and size).
2. March: per azimuth column (one per pixel column), ~1,000 geometric distance
   samples out to 40 km; DEM heights by one ``cv2.remap``; the terrain's
   elevation tangent over the curved Earth with refraction (the formula of
   ``projection.elevation_angle``, expanded so float32 keeps its precision) and
   its running maximum, the column's horizon.
3. Hit: per pixel, the first sample whose horizon reaches the ray, from a
   per-column lookup table over quantised tangents (a histogram and a
   cumulative sum, no per-pixel binary search) and a step or two forward; the
   hit distance is interpolated between the two samples. Rows wholly above the
   highest terrain are sky and skipped.
4. Ground point: (row, col) in the DEM by bilinear ``cv2.remap`` of the march's
   positions at (fractional step, fractional column), so every pixel keeps its
   own azimuth; the texture frame is affine in (row, col) for a geographic DEM.
5. Shading: a material code per pixel (loess/grass blend levels from seeded
   noise tables, field parcels and banks below the field line, then villages and
   roads painted from a per-tile index in one vectorised pass), an albedo by
   ``cv2.LUT``, light = hillshade × fine texture × furrows, haze by
   ``cv2.blendLinear``; the sky's gradient is part of the palette.

The first renderer (per-pixel ``searchsorted``, exact geodesics per pixel, per
tile feature loops; 3–4× slower) is kept in :mod:`simulator.reference` as the
baseline the tests and ``benchmarks/bench_simulator.py`` compare against.
"""
from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np
from pyproj import Transformer

from webapp.geometry.dem import Dem
from webapp.geometry.projection import CameraModel

MAX_RANGE_M = 40_000.0
# ~0.5 MB each (JPEG + coarse depth): every preset of the 38 demo cameras fits.
VIEW_CACHE_ENTRIES = 256
# Decoded frames of the hottest poses (streams, repeated snapshots with events): 6 MB each.
DECODED_ENTRIES = 8
VILLAGES = 260  # one every ~6 km on average, on the lower ground
TILE_M = 1000.0
VISIBILITY_M = 28_000.0  # winter haze on the Ningxia plateau
HAZE = np.array([196, 203, 212], np.float32)
SKY_ZENITH = np.array([88, 138, 200], np.float32)
SKY_HORIZON = np.array([200, 210, 222], np.float32)
SUN_AZIMUTH, SUN_ELEVATION = 200.0, 35.0
LOESS = np.array([192, 168, 126], np.float32)
DRY_GRASS = np.array([150, 142, 98], np.float32)
FIELD_PALETTE = np.array([[164, 138, 98], [128, 140, 78], [200, 182, 128], [140, 112, 86], [112, 132, 70]],
                         np.float32)
FIELD_BANK = np.array([176, 160, 122], np.float32)
YARD = np.array([168, 160, 150], np.float32)
RED_ROOF = np.array([150, 72, 60], np.float32)
GREY_ROOF = np.array([92, 98, 110], np.float32)
ASPHALT = np.array([86, 86, 92], np.float32)
GRAVEL = np.array([118, 112, 104], np.float32)
CENTRE_LINE = np.array([220, 220, 210], np.float32)
# Material codes (uint8 per pixel) and their albedo: 1..5 crops, then banks,
# village yards and roofs, roads; 32..63 loess blended with dry grass.
BANK_CODE, YARD_CODE, RED_ROOF_CODE, GREY_ROOF_CODE = 6, 7, 8, 9
ASPHALT_CODE, GRAVEL_CODE, CENTRE_LINE_CODE = 10, 11, 12
GRASS_CODE, GRASS_LEVELS = 32, 32
SKY_CODE, SKY_LEVELS = 128, 128  # sky: horizon to zenith colour by (elevation/35°)^0.6
_PALETTE = np.zeros((256, 1, 3), np.uint8)
_PALETTE[1:6, 0] = FIELD_PALETTE
for _code, _colour in ((BANK_CODE, FIELD_BANK), (YARD_CODE, YARD), (RED_ROOF_CODE, RED_ROOF),
                       (GREY_ROOF_CODE, GREY_ROOF), (ASPHALT_CODE, ASPHALT), (GRAVEL_CODE, GRAVEL),
                       (CENTRE_LINE_CODE, CENTRE_LINE)):
    _PALETTE[_code, 0] = _colour
_PALETTE[GRASS_CODE:GRASS_CODE + GRASS_LEVELS, 0] = np.rint(
    LOESS + (DRY_GRASS - LOESS) * np.linspace(0, 1, GRASS_LEVELS)[:, None])
_TEXTURE_LUT = (0.94 + 0.12 * np.arange(256) / 256.0).astype(np.float32)  # fine texture: light ×0.94..1.06
NOISE_N = 1024  # noise tables wrap every NOISE_N cells
BANK_SUB = 64  # sub-cells per parcel side in the banks' table
_NO_GROUND = -1.0e4  # height where the DEM has no data: rays pass over it
# Cached pixel rays (~8 MB each at 960×540): the poses of the moment.
PIXEL_CACHE_ENTRIES = 6
# Frames wider than this are rendered at this width and upsampled (1080p: 768×432,
# 1/2.5): the terrain's finest detail (1.6 m texture cells) is below a pixel beyond a
# few hundred metres anyway; events are drawn at full resolution on top.
INTERNAL_WIDTH = 768
KNOT_COLS = 8  # exact geodesics every KNOT_COLS azimuth columns
# Metres per degree in the world's texture frame (equirectangular about the district centre).
_CENTRE = (37.30, 106.24)
M_PER_DEG_LAT = 110_950.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(_CENTRE[0]))


def world_xy(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """Metres east/north of the district centre (texture frame, not for distances)."""
    return ((np.asarray(lon) - _CENTRE[1]) * M_PER_DEG_LON, (np.asarray(lat) - _CENTRE[0]) * M_PER_DEG_LAT)


def world_latlon(x, y) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y) / M_PER_DEG_LAT + _CENTRE[0], np.asarray(x) / M_PER_DEG_LON + _CENTRE[1]


def remap(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``grid`` at fractional (row, col) indices, NaN outside;
    OpenCV's remap (SIMD; positions quantised to 1/32 cell, fine for pictures —
    geometry uses :meth:`Dem.sample`)."""
    shape = rows.shape
    n = rows.size
    width = 4096
    pad = (-n) % width
    r = np.concatenate([rows.ravel().astype(np.float32), np.zeros(pad, np.float32)]).reshape(-1, width)
    c = np.concatenate([cols.ravel().astype(np.float32), np.zeros(pad, np.float32)]).reshape(-1, width)
    out = cv2.remap(grid, c, r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    return out.ravel()[:n].reshape(shape)


def _hash2(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic per-cell noise in [0, 1) from integer cell indices."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).astype(np.float32) / 65536.0


def _hash32(ix: np.ndarray, iy: np.ndarray, seed: int, base: float = 0.0, amp: float = 1.0) -> np.ndarray:
    """``base + amp * noise``, noise in [0, 1) per integer cell (int32 indices; uint32
    arithmetic that wraps), float32."""
    h = np.ascontiguousarray(ix, np.int32).view(np.uint32) * np.uint32(73856093)
    h ^= np.ascontiguousarray(iy, np.int32).view(np.uint32) * np.uint32(19349663)
    h ^= np.uint32((seed * 83492791) & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= np.uint32(1274126177)
    h ^= h >> np.uint32(16)
    out = (h & np.uint32(0xFFFF)).astype(np.float32)
    out *= np.float32(amp / 65536.0)
    if base:
        out += np.float32(base)
    return out


class _Rays:
    """The viewing rays of a pose's pixels relative to its heading, and the
    lookups the renderer derives from them; they depend on tilt, zoom and image
    size only. Pinhole, no roll (the conventions of
    :meth:`webapp.geometry.projection.CameraModel.pixel_to_ray`): in the frame of
    the heading a pixel's ray is ``(x, cos t - y sin t, y cos t + sin t)``."""

    def __init__(self, cam: CameraModel, w: int, h: int):
        fx, fy = cam.focal()
        x = ((np.arange(w) + 0.5) * (cam.width / w) - cam.width / 2.0) / fx
        y = (cam.height / 2.0 - (np.arange(h) + 0.5) * (cam.height / h)) / fy
        t = math.radians(cam.tilt)
        fwd = (math.cos(t) - y * math.sin(t)).astype(np.float32)[:, None]
        up = (y * math.cos(t) + math.sin(t)).astype(np.float32)[:, None]
        xs = x.astype(np.float32)[None, :]
        rel = np.degrees(np.arctan2(xs, fwd))  # azimuth relative to the heading
        self.tan_el = up / np.maximum(np.hypot(xs, fwd), np.float32(1e-9))
        self.lo, self.hi = float(rel.min()), float(rel.max())
        self.ncol = max(8, w)
        # Distance samples per column: small renders (slewing, tests) march less.
        budget = min(850_000, int(1.7 * w * h))
        self.nsteps = int(min(2000, max(300, budget // self.ncol)))
        self.col_step = max(self.hi - self.lo, 1e-9) / (self.ncol - 1)
        self.fc = ((rel - np.float32(self.lo)) * np.float32(1.0 / self.col_step)).astype(np.float32)
        col = np.clip(np.rint(self.fc), 0, self.ncol - 1).astype(np.int32).ravel()
        self.col_base = col * np.int32(self.nsteps)
        self.g0, self.g1 = float(self.tan_el.min()), float(self.tan_el.max())
        self.nk = h  # tangent levels of the per-column lookup (about a pixel)
        self.dg = max(self.g1 - self.g0, 1e-9) / self.nk
        kq = np.clip(np.floor((self.tan_el.ravel() - np.float32(self.g0)) * np.float32(1.0 / self.dg)), 0, self.nk)
        self.lut_index = col * np.int32(self.nk + 2) + kq.astype(np.int32)
        self._sky: np.ndarray | None = None
        self.row_min = self.tan_el.min(axis=1)  # rows above the terrain's top are sky

    def rel(self) -> np.ndarray:
        return np.float32(self.lo) + self.fc * np.float32(self.col_step)

    def sky_codes(self) -> np.ndarray:
        """Palette codes of the sky's gradient at these rays (uint8 H×W)."""
        if self._sky is None:  # code = rint(127 · clip(elevation / 35°, 0, 1) ^ 0.6), by a 1-D table
            grid = np.tan(np.radians(np.linspace(0.0, 35.0, 2048)))
            codes = SKY_CODE + (SKY_LEVELS - 1) * (np.linspace(0.0, 1.0, 2048) ** 0.6)
            self._sky = np.rint(np.interp(self.tan_el, grid, codes)).astype(np.uint8)
        return self._sky


class _Features:
    """Villages and roads per 1 km tile, flattened (CSR over a dense tile grid) so
    that painting them is a few vectorised passes over (pixel, feature) pairs."""

    def __init__(self, tiles: dict[int, tuple[list[int], list[int]]], villages: np.ndarray, roads: np.ndarray,
                 seed: int):
        self.source, self.seed = tiles, seed
        self.nv = len(villages)
        keys = list(tiles)
        txs = [round(k / 1_000_003) for k in keys]
        tys = [k - tx * 1_000_003 for k, tx in zip(keys, txs)]
        self.tx0, self.ty0 = (min(txs), min(tys)) if keys else (0, 0)
        self.nx = (max(txs) - self.tx0 + 1) if keys else 1
        self.ny = (max(tys) - self.ty0 + 1) if keys else 1
        per_tile: dict[int, list[int]] = {}
        for key, tx, ty in zip(keys, txs, tys):
            vil, rd = tiles[key]
            per_tile[(tx - self.tx0) * self.ny + (ty - self.ty0)] = list(vil) + [self.nv + r for r in rd]
        self.counts = np.zeros(self.nx * self.ny + 1, np.int64)  # the last tile: outside, empty
        for tid, codes in per_tile.items():
            self.counts[tid] = len(codes)
        self.start = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        # 1 where a tile has features: rows north-going ty, columns tx (for cv2.remap).
        self.raster = (self.counts[:-1].reshape(self.nx, self.ny).T > 0).astype(np.uint8)
        self.codes = np.zeros(int(self.counts.sum()), np.int64)
        for tid, codes in per_tile.items():
            self.codes[self.start[tid]:self.start[tid] + len(codes)] = codes
        v = np.asarray(villages, np.float64).reshape(-1, 3)
        self.vx, self.vy, self.vr2 = v[:, 0].astype(np.float32), v[:, 1].astype(np.float32), (v[:, 2] ** 2).astype(np.float32)
        r = np.asarray(roads, np.float64).reshape(-1, 6)
        sx, sy = r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]
        ll = sx * sx + sy * sy
        self.rx0, self.ry0 = r[:, 0].astype(np.float32), r[:, 1].astype(np.float32)
        self.rsx, self.rsy = sx.astype(np.float32), sy.astype(np.float32)
        self.rinv = np.where(ll > 0, 1.0 / np.where(ll > 0, ll, 1.0), 0.0).astype(np.float32)
        self.rhw2 = np.where(ll > 0, (r[:, 4] / 2) ** 2, -1.0).astype(np.float32)  # degenerate: never on
        self.rasphalt = r[:, 5] == 0

    def paint(self, mat: np.ndarray, x: np.ndarray, y: np.ndarray, sky: np.ndarray) -> None:
        """Paint villages then roads (later roads over earlier ones) as material codes
        into ``mat`` (H×W uint8) at texture-frame points ``x, y`` (not on sky)."""
        # Pixels in tiles with features: one nearest lookup in the tiles' raster.
        inv = np.float32(1.0 / TILE_M)
        has = cv2.remap(self.raster, x * inv - np.float32(self.tx0 + 0.5), y * inv - np.float32(self.ty0 + 0.5),
                        cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        has[sky] = 0
        pixels = np.flatnonzero(has)
        mat, xf, yf = mat.reshape(-1), x.reshape(-1), y.reshape(-1)
        if pixels.size == 0:
            return
        tx = np.floor(xf[pixels] * inv).astype(np.int64) - self.tx0
        ty = np.floor(yf[pixels] * inv).astype(np.int64) - self.ty0
        inside = (tx >= 0) & (tx < self.nx) & (ty >= 0) & (ty < self.ny)
        tid = np.where(inside, tx * self.ny + ty, self.nx * self.ny)
        cnt = self.counts[tid]
        keep = cnt > 0
        pixels, tid, cnt = pixels[keep], tid[keep], cnt[keep]
        if pixels.size == 0:
            return
        c = cnt
        pix = np.repeat(pixels, c)
        first = self.start[tid] - (np.cumsum(c) - c)
        code = self.codes[np.repeat(first, c) + np.arange(pix.size)]
        is_village = code < self.nv
        if is_village.any():
            pv, vi = pix[is_village], code[is_village]
            dx, dy = xf[pv] - self.vx[vi], yf[pv] - self.vy[vi]
            hit = dx * dx + dy * dy < self.vr2[vi]
            pv, dx, dy = pv[hit], dx[hit] * np.float32(1 / 24.0), dy[hit] * np.float32(1 / 18.0)
            bx, by = np.floor(dx), np.floor(dy)
            fx, fy = dx - bx, dy - by
            roof = (fx > 0.12) & (fx < 0.88) & (fy > 0.15) & (fy < 0.62)
            red = _hash32(bx.astype(np.int32), by.astype(np.int32), self.seed + 3) > 0.55
            mat[pv] = np.where(roof, np.where(red, RED_ROOF_CODE, GREY_ROOF_CODE), YARD_CODE)
        road = ~is_village
        if road.any():
            pr, ri = pix[road], code[road] - self.nv
            qx, qy = xf[pr] - self.rx0[ri], yf[pr] - self.ry0[ri]
            sx, sy = self.rsx[ri], self.rsy[ri]
            t = np.clip((qx * sx + qy * sy) * self.rinv[ri], 0, 1)
            ex, ey = qx - t * sx, qy - t * sy
            d2 = ex * ex + ey * ey
            on = d2 < self.rhw2[ri]
            pr, ri, d2 = pr[on], ri[on], d2[on]
            asphalt = self.rasphalt[ri]
            codes = np.where(asphalt, ASPHALT_CODE, GRAVEL_CODE)
            codes[asphalt & (d2 < 0.15 ** 2)] = CENTRE_LINE_CODE
            mat[pr] = codes


class LocalFrame:
    """(azimuth, geodesic distance) from a camera → (lat, lon), exact geodesics on a
    coarse azimuthal-equidistant grid (pyproj) interpolated bilinearly (mm errors)."""

    STEP_M = 500.0

    def __init__(self, lat: float, lon: float, radius_m: float = MAX_RANGE_M + 2000.0):
        tr = Transformer.from_crs(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m", "EPSG:4326",
                                  always_xy=True)
        self.n = int(math.ceil(radius_m / self.STEP_M))
        ticks = np.arange(-self.n, self.n + 1) * self.STEP_M
        gx, gy = np.meshgrid(ticks, ticks)
        glon, glat = tr.transform(gx, gy)
        self.lat0, self.lon0 = lat, lon
        self.dlat = np.asarray(glat) - lat
        self.dlon = np.asarray(glon) - lon

    def latlon(self, azimuth_deg, distance_m) -> tuple[np.ndarray, np.ndarray]:
        a = np.radians(azimuth_deg)
        fx = np.asarray(distance_m) * np.sin(a) / self.STEP_M + self.n
        fy = np.asarray(distance_m) * np.cos(a) / self.STEP_M + self.n
        last = 2 * self.n
        ix = np.clip(np.floor(fx).astype(np.intp), 0, last - 1)
        iy = np.clip(np.floor(fy).astype(np.intp), 0, last - 1)
        tx, ty = fx - ix, fy - iy
        out = []
        for grid, base in ((self.dlat, self.lat0), (self.dlon, self.lon0)):
            top = grid[iy, ix] * (1 - tx) + grid[iy, ix + 1] * tx
            bot = grid[iy + 1, ix] * (1 - tx) + grid[iy + 1, ix + 1] * tx
            out.append(base + top * (1 - ty) + bot * ty)
        return out[0], out[1]


@dataclass
class TerrainView:
    """A cached static render, kept small: the image as JPEG and a coarse depth map."""

    jpeg: bytes  # full-resolution image, JPEG (served as is when no event is in view)
    depth: np.ndarray  # float16 metres (inf: sky), ``depth_scale`` image pixels per cell
    depth_scale: float
    JPEG_QUALITY = 90

    @classmethod
    def make(cls, image: np.ndarray, depth: np.ndarray, bgr: bool = False) -> TerrainView:
        """From an RGB image (BGR with ``bgr``) and its depth map."""
        if not bgr:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, cls.JPEG_QUALITY])
        step = max(1, int(math.ceil(depth.shape[1] / 480)))
        coarse = depth[::step, ::step].astype(np.float16)
        return cls(buf.tobytes(), coarse, image.shape[1] / coarse.shape[1])

    def image(self) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class World:
    def __init__(self, dem: Dem, seed: int = 1):
        self.dem = dem
        self.seed = seed
        rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._hillshade_lock = threading.Lock()
        self._render_slots = threading.BoundedSemaphore(max(1, min(4, os.cpu_count() or 1)))
        self._frames: dict[tuple[float, float], LocalFrame] = {}
        self._pixel_cache: OrderedDict = OrderedDict()
        self._view_cache: OrderedDict = OrderedDict()
        self._decoded: OrderedDict = OrderedDict()
        self._hillshade: np.ndarray | None = None
        self._tiles: dict[int, tuple[list[int], list[int]]] | None = None
        self._features: _Features | None = None
        self._has_nan: bool | None = None
        self._margin: np.ndarray | None = None
        self._tables: dict = {}
        west, south, east, north = dem.bounds() if dem._transformer is None else (105.7, 36.85, 106.8, 37.75)
        x0, y0 = world_xy(south, west)
        x1, y1 = world_xy(north, east)
        # Villages: seeded, preferring low ground (valleys and plains, where people live).
        cand_x = rng.uniform(x0 + 3000, x1 - 3000, 1500)
        cand_y = rng.uniform(y0 + 3000, y1 - 3000, 1500)
        lat, lon = world_latlon(cand_x, cand_y)
        h = dem.sample(lat, lon)
        order = np.argsort(np.nan_to_num(h, nan=9e9))
        keep = order[:VILLAGES]
        self.villages = np.stack([cand_x[keep], cand_y[keep], rng.uniform(250, 600, keep.size)], axis=1)
        # Roads: a national highway across the district, county roads linking
        # neighbouring villages, and straight field tracks.
        roads: list[tuple[float, float, float, float, float, int]] = []  # x0, y0, x1, y1, width, kind
        hx = np.linspace(x0, x1, 40)
        hy = 0.25 * (y1 + y0) + 6000 * np.sin(hx / 17000.0 + rng.uniform(0, 6))
        for i in range(len(hx) - 1):
            roads.append((hx[i], hy[i], hx[i + 1], hy[i + 1], 14.0, 0))
        vx, vy = self.villages[:, 0], self.villages[:, 1]
        for i in range(len(vx)):
            d = np.hypot(vx - vx[i], vy - vy[i])
            d[i] = np.inf
            for j in np.argsort(d)[:2]:
                if i < j or d[j] > 0:
                    # A slight dog-leg so roads are not ruler-straight.
                    mx = (vx[i] + vx[j]) / 2 + rng.uniform(-400, 400)
                    my = (vy[i] + vy[j]) / 2 + rng.uniform(-400, 400)
                    roads.append((vx[i], vy[i], mx, my, 7.0, 1))
                    roads.append((mx, my, vx[j], vy[j], 7.0, 1))
        self.roads = np.array(roads, np.float64)

    def add_road(self, x0: float, y0: float, x1: float, y1: float, width: float, kind: int) -> None:
        """A road segment in texture-frame metres (kind 0 asphalt with centre line, 1 county)."""
        with self._lock:
            self.roads = np.vstack([self.roads, [[x0, y0, x1, y1, width, kind]]])
            self._tiles = None
            self._features = None
            self._view_cache.clear()

    def _tile_index(self) -> dict[int, tuple[list[int], list[int]]]:
        """1 km tile → (village indices, road indices) touching it."""
        tiles = self._tiles
        if tiles is not None:
            return tiles
        tiles = {}

        def add(x_lo, x_hi, y_lo, y_hi, slot, i):
            for tx in range(int(math.floor(x_lo / TILE_M)), int(math.floor(x_hi / TILE_M)) + 1):
                for ty in range(int(math.floor(y_lo / TILE_M)), int(math.floor(y_hi / TILE_M)) + 1):
                    tiles.setdefault(tx * 1_000_003 + ty, ([], []))[slot].append(i)

        for i, (vx, vy, r) in enumerate(self.villages):
            add(vx - r, vx + r, vy - r, vy + r, 0, i)
        for i, (x0, y0, x1, y1, width, _kind) in enumerate(self.roads):
            # Walk the segment in short pieces so a long diagonal road does not claim its whole box.
            n = max(1, int(math.hypot(x1 - x0, y1 - y0) / (TILE_M / 4)))
            seen = set()
            for k in range(n):
                ax, ay = x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n
                bx, by = x0 + (x1 - x0) * (k + 1) / n, y0 + (y1 - y0) * (k + 1) / n
                box = (min(ax, bx) - width, max(ax, bx) + width, min(ay, by) - width, max(ay, by) + width)
                for tx in range(int(math.floor(box[0] / TILE_M)), int(math.floor(box[1] / TILE_M)) + 1):
                    for ty in range(int(math.floor(box[2] / TILE_M)), int(math.floor(box[3] / TILE_M)) + 1):
                        if (tx, ty) not in seen:
                            seen.add((tx, ty))
                            tiles.setdefault(tx * 1_000_003 + ty, ([], []))[1].append(i)
        self._tiles = tiles
        return tiles

    # -- static layers ------------------------------------------------------------
    def warm(self) -> None:
        """Compute the shared layers (shading, field line, feature index, noise) ahead of the first frame."""
        self.hillshade()
        self._field_margin()
        self._feature_csr()

    def hillshade(self) -> np.ndarray:
        """Lambertian shading of the DEM for the sun (computed once)."""
        with self._hillshade_lock:  # not self._lock: cache lookups must not wait on this
            if self._hillshade is None:
                a = self.dem.array
                lat_c = self.dem.north - self.dem.dy * self.dem.rows / 2
                if self.dem._transformer is None:
                    cy, cx = self.dem.dy * M_PER_DEG_LAT, self.dem.dx * 111_320.0 * math.cos(math.radians(lat_c))
                else:
                    cy, cx = self.dem.dy, self.dem.dx
                gy, gx = np.gradient(np.nan_to_num(a, nan=1500.0), cy, cx)
                az, el = math.radians(SUN_AZIMUTH), math.radians(SUN_ELEVATION)
                sun = (math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el))
                # Normal of z = f(x east, y north) with rows running south: n = (-dz/dx, +dz/drow..)
                nx, ny, nz = -gx, gy, np.ones_like(gx)
                shade = (nx * sun[0] + ny * sun[1] + nz * sun[2]) / np.sqrt(nx * nx + ny * ny + 1.0)
                self._hillshade = np.clip(shade / math.sin(el), 0.0, 1.6).astype(np.float32)
            return self._hillshade

    def _sample_grid(self, grid: np.ndarray, lat, lon) -> np.ndarray:
        d = self.dem
        x, y = d._xy(lat, lon)
        col = np.clip((x - d.west) / d.dx - 0.5, 0, d.cols - 1.001)
        row = np.clip((d.north - y) / d.dy - 0.5, 0, d.rows - 1.001)
        c0, r0 = col.astype(np.intp), row.astype(np.intp)
        fc, fr = col - c0, row - r0
        top = grid[r0, c0] * (1 - fc) + grid[r0, c0 + 1] * fc
        bot = grid[r0 + 1, c0] * (1 - fc) + grid[r0 + 1, c0 + 1] * fc
        return top * (1 - fr) + bot * fr

    def frame(self, lat: float, lon: float) -> LocalFrame:
        key = (round(lat, 7), round(lon, 7))
        with self._lock:
            if key not in self._frames:
                self._frames[key] = LocalFrame(lat, lon)
            return self._frames[key]

    # -- land cover -----------------------------------------------------------------
    def _field_line(self, x, y) -> np.ndarray:
        """Fields lie below this elevation (varies slowly so plains and valleys are farmed)."""
        return 1490.0 + 60.0 * np.sin(x / 23000.0 + self.seed) * np.cos(y / 19000.0)

    # -- rendering --------------------------------------------------------------------
    def _pixel_rays(self, cam: CameraModel, w: int, h: int) -> _Rays:
        """The viewing rays of a pose's internal-resolution pixels relative to its
        heading (they depend on tilt, zoom and size only, so they are cached)."""
        fx, fy = cam.focal()
        key = (w, h, round(cam.tilt, 6), fx, fy, cam.width, cam.height)
        with self._lock:
            hit = self._pixel_cache.get(key)
            if hit is not None:
                self._pixel_cache.move_to_end(key)
                return hit
        rays = _Rays(cam, w, h)
        with self._lock:
            self._pixel_cache[key] = rays
            while len(self._pixel_cache) > PIXEL_CACHE_ENTRIES:
                self._pixel_cache.popitem(last=False)
        return rays

    def _feature_csr(self) -> _Features:
        """Villages and roads per 1 km tile as flat arrays (built with the tile index)."""
        tiles = self._tile_index()
        with self._lock:
            feats = self._features
        if feats is None or feats.source is not tiles:
            feats = _Features(tiles, self.villages, self.roads, self.seed)
            with self._lock:
                self._features = feats
        return feats

    def _dem_has_nan(self) -> bool:
        if self._has_nan is None:
            self._has_nan = bool(np.isnan(self.dem.array).any())
        return self._has_nan

    def render_terrain(self, cam: CameraModel, sky_tint: np.ndarray | None = None,
                       cache: bool = True) -> TerrainView:
        """The static render of a pose; ``cache=False`` for passing poses (a slewing
        camera) so they do not evict the presets' renders."""
        key = (cam.lat, cam.lon, cam.lens_height, round(cam.heading, 5), round(cam.tilt, 5), round(cam.zoom, 5),
               cam.width, cam.height, None if sky_tint is None else tuple(sky_tint))
        with self._lock:
            hit = self._view_cache.get(key)
            if hit is not None:
                self._view_cache.move_to_end(key)
                return hit
        with self._render_slots:  # ~100 MB of temporaries each; more would not use more cores
            with self._lock:
                hit = self._view_cache.get(key)
            view = hit if hit is not None else self._render(cam, sky_tint)
        if not cache:
            return view
        with self._lock:
            self._view_cache[key] = view
            while len(self._view_cache) > VIEW_CACHE_ENTRIES:
                self._view_cache.popitem(last=False)
        return view

    def decoded(self, view: TerrainView) -> np.ndarray:
        """The view's image as RGB pixels (read-only), decoded once per hot pose."""
        key = id(view)
        with self._lock:
            hit = self._decoded.get(key)
            if hit is not None and hit[0] is view:
                self._decoded.move_to_end(key)
                return hit[1]
        image = view.image()
        image.setflags(write=False)
        with self._lock:
            self._decoded[key] = (view, image)
            while len(self._decoded) > DECODED_ENTRIES:
                self._decoded.popitem(last=False)
        return image

    def _render(self, cam: CameraModel, sky_tint) -> TerrainView:
        """The static render of one pose (see the module docstring for the method)."""
        scale = max(1.0, cam.width / INTERNAL_WIDTH)
        w, h = round(cam.width / scale), round(cam.height / scale)
        rays = self._pixel_rays(cam, w, h)
        dem = self.dem
        ncol, nsteps = rays.ncol, rays.nsteps
        # -- the march: terrain's elevation (as a tangent) along each azimuth column.
        az = cam.heading + rays.lo + rays.col_step * np.arange(ncol)
        height_above = max(1.0, cam.lens_height - float(np.nan_to_num(dem.sample(cam.lat, cam.lon), nan=0)))
        e_min = math.degrees(math.atan(rays.g0))
        s0 = 1.0 if e_min >= -0.01 else max(1.0, 0.5 * height_above / math.tan(math.radians(-e_min)))
        s0 = min(s0, MAX_RANGE_M / 4)
        s = np.geomspace(s0, MAX_RANGE_M, nsteps)
        # Exact geodesic points at a few knots per column; in between, position is
        # linear in distance to millimetres, with weights shared by all columns.
        knots = np.geomspace(s0, MAX_RANGE_M, 96)
        frame = self.frame(cam.lat, cam.lon)
        # ... and at every KNOT_COLS-th column: in between, linear in azimuth (the
        # chord's error is s·Δθ²/8, under 0.4 m at 40 km for 8 columns of a 1× view).
        coarse = np.arange(0, ncol - 1 + KNOT_COLS, KNOT_COLS)
        klat, klon = frame.latlon((cam.heading + rays.lo + rays.col_step * coarse)[:, None], knots[None, :])
        krow_c, kcol_c = dem.fractional_index(klat, klon)
        fine = np.arange(ncol)
        i0 = fine // KNOT_COLS
        cw = ((fine % KNOT_COLS) / KNOT_COLS)[:, None]
        krow = krow_c[i0] * (1 - cw) + krow_c[i0 + 1] * cw
        kcol = kcol_c[i0] * (1 - cw) + kcol_c[i0 + 1] * cw
        k = np.clip(np.searchsorted(knots, s, side="right") - 1, 0, knots.size - 2)
        wgt = ((s - knots[k]) / (knots[k + 1] - knots[k])).astype(np.float32)

        def along(values: np.ndarray) -> np.ndarray:
            v = values.astype(np.float32)
            a = np.take(v, k, axis=1)
            return a + (np.take(v, k + 1, axis=1) - a) * wgt

        rows, cols = along(krow), along(kcol)
        ground = cv2.remap(dem.array, cols, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=_NO_GROUND)
        if self._dem_has_nan():
            np.nan_to_num(ground, copy=False, nan=_NO_GROUND)
        s32 = s.astype(np.float32)
        radius = np.asarray(cam.earth.effective_radius(cam.lat, az), float)
        # tan(elevation) of the point at distance s, height g, over a sphere of
        # effective radius R (the formula of projection.elevation_angle, expanded so
        # float32 keeps its precision): ((g - Hc) - K s²/2R) / (K s), K = 1 + g/R
        # (terms of relative size (s/R)² ≈ 3e-5 dropped).
        if np.isinf(radius).any():
            tan_t = (ground - np.float32(cam.lens_height)) / s32
        else:
            inv_r = (1.0 / radius).astype(np.float32)[:, None]
            kk = ground * inv_r
            kk += 1.0
            tan_t = (ground - np.float32(cam.lens_height)) / (kk * s32)
            tan_t -= (0.5 * s32)[None, :] * inv_r
        horizon = np.maximum.accumulate(tan_t, axis=1)
        # -- per pixel, the first sample whose horizon reaches the ray: a lookup table
        # per column over quantised tangents (a histogram and a cumulative sum), then
        # a step or two forward to the exact sample.
        nk = rays.nk
        q = (horizon - np.float32(rays.g0)) * np.float32(1.0 / rays.dg)
        np.ceil(q, out=q)
        np.clip(q, 0, nk + 1, out=q)
        q = q.astype(np.int32)
        q += (np.arange(ncol, dtype=np.int32) * (nk + 2))[:, None]
        lut = np.bincount(q.ravel(), minlength=ncol * (nk + 2)).reshape(ncol, nk + 2)
        lut = np.cumsum(lut, axis=1, dtype=np.int32).ravel()
        # Rows wholly above the highest terrain are sky: the rest is worked on alone.
        top = float(horizon[:, -1].max())
        below = rays.row_min <= top
        r0 = int(np.argmax(below)) if below.any() else h - 1  # (all sky: one row, found to be sky)
        o, hh = r0 * w, h - r0
        col_base = rays.col_base[o:]
        j = lut[rays.lut_index[o:]]
        hflat, tflat = horizon.ravel(), tan_t.ravel()
        want = rays.tan_el.ravel()[o:]
        need = hflat[col_base + np.minimum(j, nsteps - 1)] < want
        need &= j < nsteps
        idx = np.flatnonzero(need)
        while idx.size:
            j[idx] += 1
            idx = idx[j[idx] < nsteps]
            idx = idx[hflat[col_base[idx] + j[idx]] < want[idx]]
        sky = j >= nsteps
        jj = np.minimum(j, nsteps - 1)
        jp = np.maximum(jj - 1, 0)
        e1 = tflat[col_base + jj]
        e0 = tflat[col_base + jp]
        den = e1 - e0
        frac = np.where(den > 0, (want - e0) / np.where(den > 0, den, 1.0), 0.0).astype(np.float32)
        np.clip(frac, 0.0, 1.0, out=frac)
        dist = s32[jp] + frac * (s32[jj] - s32[jp])
        dist[sky] = np.inf
        dist = dist.reshape(hh, w)
        sky = sky.reshape(hh, w)
        jf = (jp.astype(np.float32) + frac).reshape(hh, w)
        # -- the ground point of every pixel: (row, col) in the DEM, bilinear in
        # (step, column), so a pixel gets its own azimuth, not its column's.
        fc = rays.fc[r0:]
        prow = cv2.remap(rows, jf, fc, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        pcol = cv2.remap(cols, jf, fc, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if dem._transformer is None:  # geographic grid: the texture frame is affine in (row, col)
            x = pcol * np.float32(dem.dx * M_PER_DEG_LON)
            x += np.float32((dem.west + 0.5 * dem.dx - _CENTRE[1]) * M_PER_DEG_LON)
            y = prow * np.float32(-dem.dy * M_PER_DEG_LAT)
            y += np.float32((dem.north - 0.5 * dem.dy - _CENTRE[0]) * M_PER_DEG_LAT)
        else:  # projected DEM: exact geodesics from the camera's local frame
            glat, glon = frame.latlon(cam.heading + rays.rel()[r0:], np.where(sky, 0.0, dist))
            x, y = (a.astype(np.float32) for a in world_xy(glat, glon))
        # -- shading: material codes, then light (hillshade, fine texture, furrows),
        # then haze with distance; the sky's gradient comes from the palette's sky codes.
        mat = rays.sky_codes().copy()
        light = np.ones((h, w), np.float32)
        trans = np.ones((h, w), np.float32)
        if hh:
            extent = max(-float(x.min()), float(x.max()), -float(y.min()), float(y.max()))
            m, furrow = self._materials(x, y, prow, pcol, sky, extent)
            np.copyto(mat[r0:], m, where=~sky)
            lt = light[r0:]
            cv2.remap(self.hillshade(), pcol, prow, cv2.INTER_LINEAR, dst=lt, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=1.0)
            lt *= np.float32(0.45)
            lt += np.float32(0.55)
            lt *= cv2.LUT(self._noise(x, y, 1.6, 4, extent), _TEXTURE_LUT)
            lt *= furrow
            lt[sky] = 1.0
            tr = np.exp(dist * np.float32(-1.0 / VISIBILITY_M))
            tr[sky] = 1.0
            trans[r0:] = tr
        lit = cv2.LUT(cv2.merge([mat, mat, mat]), self._palette(sky_tint))
        lit *= light[..., None]
        out = cv2.convertScaleAbs(cv2.blendLinear(lit, self._haze_image(h, w), trans, 1.0 - trans))
        if (w, h) != (cam.width, cam.height):
            out = cv2.resize(out, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)
        if r0:
            depth = np.full((h, w), np.inf, np.float32)
            depth[r0:] = dist
        else:
            depth = dist
        return TerrainView.make(out, depth, bgr=True)

    # -- land cover -------------------------------------------------------------------
    def _noise_table(self, salt: int) -> np.ndarray:
        """A seeded 1024×1024 table of uniform noise (uint8), one per use."""
        table = self._tables.get(salt)
        if table is None:
            table = np.random.default_rng([self.seed, salt]).integers(0, 256, (NOISE_N, NOISE_N), dtype=np.uint8)
            self._tables[salt] = table
        return table

    def _noise(self, x: np.ndarray, y: np.ndarray, cell_m: float, salt: int, extent: float,
               table: np.ndarray | None = None) -> np.ndarray:
        """Per ``cell_m`` cell of the texture frame, a value of a seeded table
        (wrapping every NOISE_N cells), looked up with OpenCV's nearest remap
        (``extent``: the largest |x| or |y|, metres)."""
        k = np.float32(1.0 / cell_m)
        u, v = x * k, y * k
        if extent / cell_m > 32_000:  # remap takes coordinates as 16-bit integers
            np.mod(u, NOISE_N, out=u)
            np.mod(v, NOISE_N, out=v)
        return cv2.remap(self._noise_table(salt) if table is None else table, u, v, cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_WRAP)

    def _crop_table(self) -> np.ndarray:
        """Material codes of field parcels (1..5, the palette's crops), per parcel."""
        table = self._tables.get("crop")
        if table is None:
            rng = np.random.default_rng([self.seed, 2])
            table = rng.integers(1, 1 + len(FIELD_PALETTE), (NOISE_N, NOISE_N), dtype=np.uint8)
            self._tables["crop"] = table
        return table

    def _bank_table(self) -> np.ndarray:
        """One parcel in BANK_SUB×BANK_SUB sub-cells: BANK_CODE on the earthen banks
        along its edges (1.5% of its length, 3% of its width), 0 inside."""
        table = self._tables.get("bank")
        if table is None:
            f = (np.arange(BANK_SUB) + 0.5) / BANK_SUB
            bu = (f < 0.015) | (f > 0.985)
            bv = (f < 0.03) | (f > 0.97)
            table = np.where(bv[:, None] | bu[None, :], BANK_CODE, 0).astype(np.uint8)
            self._tables["bank"] = table
        return table

    def _field_margin(self) -> np.ndarray | None:
        """DEM height minus the field line, decimetres (int16) on the DEM grid, so
        "fields below the line" is one lookup (geographic DEMs; None otherwise)."""
        with self._hillshade_lock:
            if self._margin is None and self.dem._transformer is None:
                d = self.dem
                lon = d.west + (np.arange(d.cols) + 0.5) * d.dx
                lat = d.north - (np.arange(d.rows) + 0.5) * d.dy
                x, y = world_xy(lat[0], lon)[0], world_xy(lat, lon[0])[1]
                sx = np.sin(x / 23000.0 + self.seed).astype(np.float32)
                cy = np.cos(y / 19000.0).astype(np.float32)
                margin = d.array - np.float32(1490.0) - np.float32(60.0) * cy[:, None] * sx[None, :]
                margin = np.nan_to_num(margin * np.float32(10.0), nan=32000.0)
                self._margin = np.clip(margin, -32000, 32000).astype(np.int16)
            return self._margin

    def _materials(self, x: np.ndarray, y: np.ndarray, prow: np.ndarray, pcol: np.ndarray,
                   sky: np.ndarray, extent: float) -> tuple[np.ndarray, np.ndarray]:
        """Material code per pixel (uint8, see _PALETTE) and the furrows' light
        factor: loess and dry grass (32 blend levels), fields on low ground with
        banks between parcels, villages, roads."""
        grass = cv2.addWeighted(self._noise(x, y, 180.0, 0, extent), 0.7 * 2.5 / 256,
                                self._noise(x, y, 37.0, 1, extent), 0.3 * 2.5 / 256, -0.35 * 2.5, dtype=cv2.CV_32F)
        np.clip(grass, 0, 1, out=grass)
        mat = cv2.convertScaleAbs(grass, alpha=GRASS_LEVELS - 1, beta=GRASS_CODE)
        margin = self._field_margin()
        if margin is not None:
            low = cv2.remap(margin, pcol, prow, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=32000) < 0
        else:
            height = cv2.remap(self.dem.array, pcol, prow, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=float("nan"))
            with np.errstate(invalid="ignore"):
                low = height < self._field_line(x, y)
        low &= ~sky
        furrow = grass  # reused as the furrows' light factor
        furrow[:] = 1.0
        if low.any():
            # Parcels 220 m × 90 m at a slant; a crop per parcel, banks between.
            ca, sa = math.cos(0.35), math.sin(0.35)
            u = cv2.addWeighted(x, ca / 220.0, y, sa / 220.0, -0.5)
            v = cv2.addWeighted(y, ca / 90.0, x, -sa / 90.0, -0.5)
            crop = cv2.remap(self._crop_table(), u, v, cv2.INTER_NEAREST, borderMode=cv2.BORDER_WRAP)
            u += 0.5
            v += 0.5
            u -= np.floor(u)  # position inside the parcel, 0..1
            v -= np.floor(v)
            u *= np.float32(BANK_SUB)
            v *= np.float32(BANK_SUB)
            u -= 0.5
            v -= 0.5
            crop = cv2.max(crop, cv2.remap(self._bank_table(), u, v, cv2.INTER_NEAREST, borderMode=cv2.BORDER_WRAP))
            np.copyto(mat, crop, where=low)
            v *= np.float32(90.0 * 2.1 / BANK_SUB)  # furrows every 3 m across the parcel
            f = np.sin(v, out=v)
            f *= np.float32(0.07)
            f += np.float32(0.93)
            np.copyto(furrow, f, where=low)
        self._feature_csr().paint(mat, x, y, sky)
        return mat, furrow

    def _palette(self, sky_tint) -> np.ndarray:
        """Albedo per material code (float32, 256×1×3, BGR), the sky's gradient
        (tinted at sunset) in the sky codes."""
        key = ("palette", None if sky_tint is None else tuple(np.asarray(sky_tint, float).round(3)))
        pal = self._tables.get(key)
        if pal is None:
            top, bottom = SKY_ZENITH, SKY_HORIZON
            if sky_tint is not None:
                bottom = bottom * 0.4 + np.asarray(sky_tint, np.float32) * 0.6
                top = top * 0.7 + np.asarray(sky_tint, np.float32) * 0.3
            pal = _PALETTE.astype(np.float32)
            kk = np.linspace(0, 1, SKY_LEVELS)[:, None]
            pal[SKY_CODE:SKY_CODE + SKY_LEVELS, 0] = bottom * (1 - kk) + top * kk
            pal = np.ascontiguousarray(pal[:, :, ::-1])  # BGR, as OpenCV encodes
            if len(self._tables) > 64:
                self._tables = {k: v for k, v in self._tables.items() if k[0] != "palette"}
            self._tables[key] = pal
        return pal

    def _haze_image(self, h: int, w: int) -> np.ndarray:
        key = ("haze", h, w)
        img = self._tables.get(key)
        if img is None:
            img = np.empty((h, w, 3), np.float32)
            img[:] = HAZE[::-1]  # BGR
            self._tables[key] = img
        return img
