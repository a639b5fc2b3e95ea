"""Geo-referenced ONVIF camera simulator for NRSC (see docs/simulator.md).

Serves the demo's cameras over ONVIF (SOAP 1.2, WS-Security digest), HTTP
snapshots and MJPEG, rendering a world with known truth through the geometry
shared with the platform (:mod:`webapp.geometry`).
"""
