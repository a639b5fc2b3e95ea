"""The app of these tests can carry extra plugins: parametrize ``extra_plugins``."""
from __future__ import annotations

import pytest

from webapp import create_app


@pytest.fixture
def extra_plugins() -> list:
    return []


@pytest.fixture
def app(app_config, clock, extra_plugins):
    """The root ``app`` fixture plus ``extra_plugins`` registered after the entry points."""
    application = create_app(app_config, load_entrypoints=True, plugins=extra_plugins)
    with application.app_context():
        yield application
        from webapp.extensions import db
        db.session.remove()
        db.engine.dispose()
