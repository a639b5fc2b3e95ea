"""The DEM reader (GeoTIFF via rasterio, bilinear) and the synthetic DEM."""
from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine

from webapp.geometry import dem as dem_mod


def test_bilinear_sampling_and_coverage(tmp_path):
    path = tmp_path / "ramp.tif"
    array = np.add.outer(np.arange(4, dtype=np.float32) * 10, np.arange(5, dtype=np.float32))  # rows*10 + cols
    with rasterio.open(path, "w", driver="GTiff", width=5, height=4, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.01, 0, 106.0, 0, -0.01, 37.0)) as ds:
        ds.write(array, 1)
    d = dem_mod.Dem.open(path)
    # Cell centres: (row r, col c) at lat 37 - (r+.5)*0.01, lon 106 + (c+.5)*0.01.
    assert float(d.sample(37.0 - 0.015, 106.015)) == pytest.approx(11.0)
    assert float(d.sample(37.0 - 0.02, 106.02)) == pytest.approx(16.5, abs=1e-4)  # between four cells
    assert float(d.sample(37.0 - 0.001, 106.001)) == pytest.approx(0.0)  # edge half-cell: edge value
    assert math.isnan(float(d.sample(37.01, 106.02)))  # north of the raster
    with pytest.raises(dem_mod.OutsideCoverage, match="outside the DEM"):
        d.elevation(36.5, 106.02)
    assert d.covers(np.array([36.99, 36.0]), np.array([106.02, 106.02])).tolist() == [True, False]


def test_projected_dem(tmp_path):
    from pyproj import Transformer
    path = tmp_path / "utm.tif"
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
    x0, y0 = to_utm.transform(106.2, 37.3)
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32",
                       crs="EPSG:32648", transform=Affine(30, 0, x0 - 150, 0, -30, y0 + 150)) as ds:
        ds.write(np.full((10, 10), 1234.0, np.float32), 1)
    d = dem_mod.Dem.open(path)
    assert float(d.elevation(37.3, 106.2)) == pytest.approx(1234.0)
    assert d.cell_size_m == 30


def test_synthetic_dem_is_deterministic_plausible_and_written(tmp_path):
    bounds = dem_mod.synthetic_bounds()
    s, w, n, e = bounds
    assert s <= 37.02 - 0.17 and n >= 37.58 + 0.17 and w <= 105.90 - 0.2 and e >= 106.58 + 0.2
    d = dem_mod.synthetic_dem(resolution_arcsec=10.0)
    assert 1300 <= np.nanmin(d.array) and np.nanmax(d.array) <= 1900
    assert np.nanmax(d.array) - np.nanmin(d.array) > 300  # hills and valleys, not a plain
    again = dem_mod.synthetic_dem(resolution_arcsec=10.0)
    assert np.array_equal(d.array, again.array)
    other = dem_mod.synthetic_dem(seed=7, resolution_arcsec=10.0)
    assert not np.array_equal(d.array, other.array)
    # A small window written as a GeoTIFF reads back as the analytic function.
    path = dem_mod.write_synthetic_dem(tmp_path / "dem.tif", resolution_arcsec=30.0, margin_m=0.0)
    back = dem_mod.Dem.open(path)
    lat, lon = 37.2345, 106.3456
    assert float(back.elevation(lat, lon)) == pytest.approx(float(dem_mod.synthetic_elevation(lat, lon)), abs=8.0)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.tags()["seed"] == str(dem_mod.DEFAULT_DEM_SEED)


def test_open_cached_rereads_a_replaced_file(tmp_path):
    import os
    path = tmp_path / "flat.tif"

    def write(value, mtime):
        with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
                           crs="EPSG:4326", transform=Affine(0.1, 0, 106.0, 0, -0.1, 37.5)) as ds:
            ds.write(np.full((2, 2), value, np.float32), 1)
        os.utime(path, (mtime, mtime))

    write(1400.0, 1_000_000)
    first = dem_mod.open_cached(path)
    assert dem_mod.open_cached(path) is first
    write(1500.0, 2_000_000)  # a user drops in another DEM
    assert float(dem_mod.open_cached(path).elevation(37.45, 106.05)) == 1500.0
