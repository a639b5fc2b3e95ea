"""Geometry shared by the platform and the camera simulator.

Pure: numpy, math, pyproj and rasterio only — never Flask, SQLAlchemy or other
``webapp`` modules, so ``simulator/`` can use it on its own.

* :mod:`.ptz` — pan/tilt/zoom conventions, ONVIF normalised spaces, FOV tables,
  flat-ground aim points (read its docstring first).
* :mod:`.projection` — the pinhole camera at a pose: pixel → viewing ray, ray →
  ground over a DEM or over the curved Earth with refraction, ground → pixel.
* :mod:`.dem` — a GeoTIFF elevation model with bilinear sampling, and the
  deterministic synthetic DEM of the district.
* :mod:`.enu` — exact local East-North-Up frame around a point (via ECEF).
"""
