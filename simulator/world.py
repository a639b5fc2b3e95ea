"""The simulated world: terrain from the DEM plus seeded roads, villages and
fields, and the static terrain render of a camera pose.

Rendering (cold, once per pose): per image pixel the viewing ray's azimuth and
elevation come from the shared geometry; terrain is intersected per azimuth
column by marching outward in distance and keeping the running maximum of the
terrain's elevation angle (a height-field "voxel space" march, exact for the
vertical plane of each azimuth, with the curved-Earth/refraction formula of
:mod:`webapp.geometry.projection`). Each pixel then looks up its hit distance in
its azimuth column (one vectorised ``searchsorted``), giving the ground point,
which is shaded: land cover, hillshade, texture noise, haze with distance, sky.
Work is done at half resolution and upsampled; the result and its depth map are
cached per pose, so a snapshot at an unchanged pose only draws events and
encodes the JPEG.
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
from webapp.geometry.projection import CameraModel, elevation_angle

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
    def make(cls, image: np.ndarray, depth: np.ndarray) -> "TerrainView":
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, cls.JPEG_QUALITY])
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
    def ground_colour(self, lat, lon, slope_shade, h=None) -> np.ndarray:
        """Albedo (N×3 float32, 0..255) of the ground at points."""
        x, y = world_xy(lat, lon)
        x, y = x.astype(np.float64), y.astype(np.float64)
        n = x.size
        col = np.empty((n, 3), np.float32)
        # Hills: loess tan mixed with dry grass, by coarse noise.
        g1 = _hash2(np.floor(x / 180.0), np.floor(y / 180.0), self.seed)
        g2 = _hash2(np.floor(x / 37.0), np.floor(y / 37.0), self.seed + 1)
        grass = np.clip((g1 * 0.7 + g2 * 0.3 - 0.35) * 2.5, 0, 1)[:, None]
        col[:] = np.array([192, 168, 126], np.float32) * (1 - grass) + np.array([150, 142, 98], np.float32) * grass
        # Fields on low ground: rectangular parcels with seasonal colours.
        h = self.dem.sample(lat, lon) if h is None else h
        low = np.nan_to_num(h, nan=2000) < self._field_line(x, y)
        if low.any():
            ang = 0.35
            u = x * math.cos(ang) + y * math.sin(ang)
            v = -x * math.sin(ang) + y * math.cos(ang)
            pu, pv = np.floor(u / 220.0), np.floor(v / 90.0)
            crop = _hash2(pu, pv, self.seed + 2)
            palette = np.array([[164, 138, 98], [128, 140, 78], [200, 182, 128], [140, 112, 86], [112, 132, 70]],
                               np.float32)
            field = palette[np.minimum((crop * len(palette)).astype(int), len(palette) - 1)]
            # Furrows and the earthen banks between parcels.
            bank = (np.abs(u / 220.0 - pu - 0.5) > 0.485) | (np.abs(v / 90.0 - pv - 0.5) > 0.47)
            furrow = 0.93 + 0.07 * np.sin(v * 2.1)
            field = field * furrow[:, None].astype(np.float32)
            field[bank] = [176, 160, 122]
            col[low] = field[low]
        # Villages and roads, per 1 km tile: only the features indexed in a pixel's
        # tile are tested against it.
        tiles = self._tile_index()
        key = np.floor(x / TILE_M).astype(np.int64) * 1_000_003 + np.floor(y / TILE_M).astype(np.int64)
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        uniq, first = np.unique(sorted_keys, return_index=True)
        bounds = np.append(first, sorted_keys.size)
        for n, tile in enumerate(uniq.tolist()):
            feats = tiles.get(tile)
            if feats is None:
                continue
            idx = order[bounds[n]:bounds[n + 1]]
            px, py = x[idx], y[idx]
            for vi in feats[0]:
                vx, vy, r = self.villages[vi]
                dx, dy = px - vx, py - vy
                inside = dx * dx + dy * dy < r * r
                if not inside.any():
                    continue
                bx, by = np.floor(dx[inside] / 24.0), np.floor(dy[inside] / 18.0)
                fx, fy = dx[inside] / 24.0 - bx, dy[inside] / 18.0 - by
                roof = (fx > 0.12) & (fx < 0.88) & (fy > 0.15) & (fy < 0.62)
                kind = _hash2(bx, by, self.seed + 3)
                c = np.tile(np.array([[168, 160, 150]], np.float32), (int(inside.sum()), 1))  # yards
                roof_col = np.where((kind > 0.55)[:, None], np.array([[150, 72, 60]], np.float32),
                                    np.array([[92, 98, 110]], np.float32))
                c[roof] = roof_col[roof]
                col[idx[inside]] = c
            for ri in feats[1]:
                x0, y0, x1, y1, width, kind = self.roads[ri]
                sx, sy = x1 - x0, y1 - y0
                ll = sx * sx + sy * sy
                if ll <= 0:
                    continue
                qx, qy = px - x0, py - y0
                t = np.clip((qx * sx + qy * sy) / ll, 0, 1)
                d = np.hypot(qx - t * sx, qy - t * sy)
                on = d < width / 2
                if on.any():
                    hit = idx[on]
                    col[hit] = [86, 86, 92] if kind == 0 else [118, 112, 104]
                    if kind == 0:  # centre line
                        col[hit[d[on] < 0.15]] = [220, 220, 210]
        tex = 0.94 + 0.12 * _hash2(np.floor(x / 1.5), np.floor(y / 1.5), self.seed + 4)
        return col * (tex * slope_shade)[:, None]

    def _field_line(self, x, y) -> np.ndarray:
        """Fields lie below this elevation (varies slowly so plains and valleys are farmed)."""
        return 1490.0 + 60.0 * np.sin(x / 23000.0 + self.seed) * np.cos(y / 19000.0)

    # -- rendering --------------------------------------------------------------------
    def _pixel_rays(self, cam: CameraModel, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel (azimuth relative to the heading, elevation) in degrees; cached."""
        key = (w, h, round(cam.tilt, 6), round(cam.zoom, 6), tuple(cam.focal()), cam.width, cam.height)
        with self._lock:
            hit = self._pixel_cache.get(key)
        if hit is not None:
            return hit
        scale = cam.width / w
        u = (np.arange(w, dtype=np.float64) + 0.5) * scale
        v = (np.arange(h, dtype=np.float64) + 0.5) * (cam.height / h)
        uu, vv = np.meshgrid(u, v)
        az, el = cam.pixel_to_ray(uu, vv)
        rel = ((az - cam.heading + 180.0) % 360.0 - 180.0).astype(np.float32)
        out = (rel, el.astype(np.float32))
        with self._lock:
            self._pixel_cache[key] = out
            while len(self._pixel_cache) > 16:
                self._pixel_cache.popitem(last=False)
        return out

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
        scale = 2 if cam.width >= 1280 else 1
        w, h = cam.width // scale, cam.height // scale
        rel, el = self._pixel_rays(cam, w, h)
        frame = self.frame(cam.lat, cam.lon)
        dem = self.dem
        # Azimuth columns spanning the image.
        lo, hi = float(rel.min()), float(rel.max())
        ncol = max(8, w)
        cols_rel = np.linspace(lo, hi, ncol)
        col_idx = np.clip(np.rint((rel - lo) / max(hi - lo, 1e-9) * (ncol - 1)).astype(np.intp), 0, ncol - 1)
        # Distances: from where the lowest ray would meet flat ground (halved: the
        # terrain may rise) out to the range limit, geometric steps, ~1.3M samples.
        height_above = max(1.0, cam.lens_height - float(np.nan_to_num(dem.sample(cam.lat, cam.lon), nan=0)))
        e_min = float(el.min())
        s0 = 1.0 if e_min >= -0.01 else max(1.0, 0.5 * height_above / math.tan(math.radians(-e_min)))
        s0 = min(s0, MAX_RANGE_M / 4)
        budget = min(1_300_000, int(2.5 * w * h))  # small renders (slewing, tests) march less
        nsteps = int(min(2000, max(300, budget // ncol)))
        s = np.geomspace(s0, MAX_RANGE_M, nsteps)
        az = (cam.heading + cols_rel)[:, None]
        # Exact geodesic points at a few knots per column; in between, position is
        # linear in distance to millimetres, with weights shared by all columns.
        knots = np.geomspace(s0, MAX_RANGE_M, 96)
        klat, klon = frame.latlon(az, knots[None, :])
        krow, kcol = dem.fractional_index(klat, klon)
        k = np.clip(np.searchsorted(knots, s, side="right") - 1, 0, knots.size - 2)
        wgt = ((s - knots[k]) / (knots[k + 1] - knots[k])).astype(np.float32)

        def along(values: np.ndarray, dtype=np.float32) -> np.ndarray:
            v = values.astype(dtype)
            return v[:, k] * (1 - wgt) + v[:, k + 1] * wgt

        rows, cols = along(krow), along(kcol)
        ground = remap(dem.array, rows, cols)
        radius = cam.earth.effective_radius(cam.lat, az)
        e_terrain = np.degrees(elevation_angle(s[None, :], np.nan_to_num(ground, nan=-1e4), cam.lens_height, radius))
        horizon = np.maximum.accumulate(e_terrain, axis=1)
        # One searchsorted for every pixel: columns offset so the flattened array stays sorted.
        offset = 1000.0
        flat = (horizon + offset * np.arange(ncol)[:, None]).ravel()
        q = el.astype(np.float64) + offset * col_idx
        j = np.searchsorted(flat, q.ravel(), side="left").reshape(el.shape) - col_idx * nsteps
        sky = j >= nsteps
        jj = np.clip(j, 0, nsteps - 1)
        # Sub-step refinement: interpolate the distance between the two samples.
        jp = np.maximum(jj - 1, 0)
        e1 = e_terrain[col_idx, jj]
        e0 = np.where(jj > 0, e_terrain[col_idx, jp], e1 - 1.0)
        t = np.clip((el - e0) / np.maximum(e1 - e0, 1e-9), 0, 1).astype(np.float32)
        dist = np.where(jj > 0, s[jp] + t * (s[jj] - s[jp]), s[0]).astype(np.float32)
        dist[sky] = np.inf
        # Shade the ground pixels.
        img = np.empty((h, w, 3), np.float32)
        ground_px = ~sky
        if ground_px.any():
            ci, a, b, tt = col_idx[ground_px], jp[ground_px], jj[ground_px], t[ground_px]
            prow = rows[ci, a] + tt * (rows[ci, b] - rows[ci, a])
            pcol = cols[ci, a] + tt * (cols[ci, b] - cols[ci, a])
            shade = np.nan_to_num(remap(self.hillshade(), prow, pcol), nan=1.0)
            glat, glon = frame.latlon(cam.heading + rel[ground_px], dist[ground_px])
            albedo = self.ground_colour(glat, glon, 0.55 + 0.45 * shade, remap(dem.array, prow, pcol))
            trans = np.exp(-dist[ground_px] / VISIBILITY_M)[:, None]
            img[ground_px] = albedo * trans + HAZE * (1 - trans)
        if sky.any():
            e = np.clip(el[sky], -2, 90)[:, None]
            kk = np.clip(e / 35.0, 0, 1) ** 0.6
            top, bottom = SKY_ZENITH, SKY_HORIZON
            if sky_tint is not None:
                bottom = bottom * 0.4 + np.asarray(sky_tint, np.float32) * 0.6
                top = top * 0.7 + np.asarray(sky_tint, np.float32) * 0.3
            img[sky] = bottom * (1 - kk) + top * kk
        out = np.clip(img, 0, 255).astype(np.uint8)
        if scale != 1:
            out = cv2.resize(out, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)
        return TerrainView.make(out, dist)
