"""The simulator's first terrain renderer, kept as the reference the fast one
(:meth:`simulator.world.World._render`) is tested and benchmarked against.

Per pixel: the viewing ray from the shared geometry, a column march over the
DEM with a ``searchsorted`` over every pixel, exact geodesic positions of the
hit points and the land cover shaded pixel by pixel with per-tile feature loops.
About 0.5–0.8 s per new 1080p pose on one core (benchmarks/bench_simulator.py).
Not used to serve frames.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from simulator.world import (
    HAZE,
    MAX_RANGE_M,
    SKY_HORIZON,
    SKY_ZENITH,
    TILE_M,
    VISIBILITY_M,
    TerrainView,
    World,
    _hash2,
    remap,
    world_xy,
)
from webapp.geometry.projection import CameraModel, elevation_angle


def ground_colour(self: World, lat, lon, slope_shade, h=None) -> np.ndarray:
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


def pixel_rays(self: World, cam: CameraModel, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (azimuth relative to the heading, elevation) in degrees."""
    scale = cam.width / w
    u = (np.arange(w, dtype=np.float64) + 0.5) * scale
    v = (np.arange(h, dtype=np.float64) + 0.5) * (cam.height / h)
    uu, vv = np.meshgrid(u, v)
    az, el = cam.pixel_to_ray(uu, vv)
    rel = ((az - cam.heading + 180.0) % 360.0 - 180.0).astype(np.float32)
    out = (rel, el.astype(np.float32))
    return out


def render_reference(self: World, cam: CameraModel, sky_tint) -> TerrainView:
    scale = 2 if cam.width >= 1280 else 1
    w, h = cam.width // scale, cam.height // scale
    rel, el = pixel_rays(self, cam, w, h)
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
        albedo = ground_colour(self, glat, glon, 0.55 + 0.45 * shade, remap(dem.array, prow, pcol))
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
