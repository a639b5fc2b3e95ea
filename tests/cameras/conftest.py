"""Camera test fixtures: fake ONVIF cameras on loopback and cameras in the DB."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakecam import FakeCamera  # noqa: E402

PRESETS = [(1, 0.0, -5.0), (2, 90.0, -5.0), (3, 180.0, -5.0), (4, 270.0, -5.0)]


@pytest.fixture
def app_config(app_config):
    app_config.update(NRSC_PATROL_BURST=2, NRSC_PATROL_BURST_INTERVAL_S=0.0,
                      NRSC_CAMERA_OFFLINE_AFTER=3, NRSC_CAMERA_FROZEN_AFTER=4,
                      NRSC_PATROL_RESUME_AFTER_S=120)
    return app_config


@pytest.fixture
def fakecams():
    made: list[FakeCamera] = []

    def factory(**kw) -> FakeCamera:
        cam = FakeCamera(**kw)
        made.append(cam)
        return cam
    yield factory
    for cam in made:
        cam.close()
    from webapp.cameras import passages
    from webapp.cameras.capture import LINKS
    LINKS.clear()
    passages._DETECTORS.clear()  # per camera id: ids are reused by the next test's database


@pytest.fixture
def make_camera(app):
    from webapp.extensions import db
    from webapp.models import Camera, PatrolTour, Preset
    counter = iter(range(1, 1000))

    def factory(fake: FakeCamera | None, *, kind="tower", presets=PRESETS, tour=True, dwell=20,
                settle=3.0, with_fake_presets=True, code=None):
        n = next(counter)
        cam = Camera(code=code or f"T-{n:02d}", name=f"塔{n}", kind=kind, lat=37.4 + n * 0.01, lon=106.1,
                     ground_elevation_m=1400.0, mount_height_m=40.0, pan_zero_azimuth_deg=0.0,
                     fov_table=[{"zoom": 1, "hfov_deg": 60, "vfov_deg": 34}, {"zoom": 30, "hfov_deg": 2.2, "vfov_deg": 1.24}],
                     onvif_host="127.0.0.1" if fake else None, onvif_port=fake.port if fake else None,
                     onvif_user=fake.user if fake else None, onvif_password=fake.password if fake else None,
                     status="unknown", failure_count=0, active=True)
        db.session.add(cam)
        db.session.flush()
        if kind == "tower":
            for number, pan, tilt in presets:
                db.session.add(Preset(camera_id=cam.id, number=number, name=f"P{number}", pan_deg=pan,
                                      tilt_deg=tilt, zoom=1.0, dwell_seconds=dwell, domains=["fire"], masks=[]))
                if fake is not None and with_fake_presets:
                    fake.presets[str(number)] = (f"P{number}", pan / 180.0 - 1.0, 0.0, 0.0)
            if tour:
                db.session.add(PatrolTour(camera_id=cam.id, name="全天", preset_numbers=[p[0] for p in presets],
                                          settle_seconds=settle, start_local="", end_local="", active=True))
        db.session.commit()
        return cam
    return factory


@pytest.fixture
def token_for(app):
    """token_for(user) -> a plain user-bound API token."""
    from webapp.extensions import db
    from webapp.platform.security import create_api_token

    def factory(user=None, source=None) -> str:
        _row, plain = create_api_token(user=user, source=source)
        db.session.commit()
        return plain
    return factory
