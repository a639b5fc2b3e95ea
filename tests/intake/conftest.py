"""Intake fixtures: an app whose domains come from a small test plugin (so the
tests do not depend on the domain plugins being written in parallel), the
organisation with its township boundaries, tokens, images."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from tests.images import jpeg  # noqa: F401 - re-exported to the tests of this folder
from webapp import create_app
from webapp.plugin_api import (
    Clock,
    Domain,
    EventType,
    GisLayer,
    Prejudgement,
    SlaClocks,
    hookimpl,
)

# Inside 红寺堡镇 (the demo township seat) and well outside the district.
INSIDE = (37.40, 106.06)
OUTSIDE = (38.60, 106.00)


class IntakeTestPlugin:
    """Two domains (fire taking Frigate's smoke and fire labels), the two
    layers the tests import into, and a prejudgement that reads the GIS context."""

    @hookimpl
    def register_gis_layers(self):
        return [GisLayer("basic_farmland", "永久基本农田", "Basic farmland", "#f9a825"),
                GisLayer("mining_permit", "采矿权", "Mining permit", "#6d4c41")]

    @hookimpl
    def register_domains(self):
        emergency = SlaClocks(Clock(5), Clock(10), Clock(60), Clock(24 * 60), basis="natural")
        slow = SlaClocks(Clock(30), Clock(120), Clock(working_days=1), Clock(working_days=3))
        return [
            Domain("fire", "森林草原防火", "Fire", "#d62728", "fire", 3,
                   (EventType("smoke", "烟雾", "Smoke", external_labels=("smoke",)),
                    EventType("fire", "明火", "Fire", external_labels=("fire",))), emergency,
                   urgent=True),
            Domain("mining", "矿产资源保护", "Mining", "#8c564b", "pickaxe", 1,
                   (EventType("illegal_mining", "盗采", "Illegal mining"),), slow),
        ]

    @hookimpl
    def prejudge_alert(self, alert, context):
        if alert.domain != "mining":
            return None
        permits = context.layer("mining_permit", inside=True)
        if any(p.attributes.get("valid_on_date") for p in permits):
            return Prejudgement("low", ("在有效采矿权范围内",))
        return Prejudgement("high", ("不在有效采矿权范围内",))


@pytest.fixture
def app(app_config, clock):
    application = create_app(app_config, plugins=[IntakeTestPlugin()], load_entrypoints=False)
    with application.app_context():
        yield application
        from webapp.extensions import db
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def source_token(org):
    """A token bound to the source name ``box1``."""
    from webapp.extensions import db
    from webapp.platform.security import create_api_token
    _row, plain = create_api_token(source="box1")
    db.session.commit()
    return plain


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def noisy_jpeg(target_bytes: int = 200_000, seed: int = 1) -> bytes:
    """A JPEG of about ``target_bytes`` (noise does not compress)."""
    side = int((target_bytes / 0.9) ** 0.5 / 1.2) + 16
    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3) if seed is None else
                          _seeded(side * side * 3, seed))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _seeded(n: int, seed: int) -> bytes:
    import random
    return random.Random(seed).randbytes(n)


def stored_files(app) -> list[Path]:
    root = Path(app.config["NRSC_DATA_DIR"]) / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def counts() -> dict[str, int]:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Alert, AlertOccurrence, EvidenceFile
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (Alert, AlertOccurrence, EvidenceFile)}


@pytest.fixture
def kit():
    """The helpers above, for test modules (conftest is not importable by name)."""
    from types import SimpleNamespace
    return SimpleNamespace(INSIDE=INSIDE, OUTSIDE=OUTSIDE, auth=auth, jpeg=jpeg, noisy_jpeg=noisy_jpeg,
                           stored_files=stored_files, counts=counts)
