"""The work-order fixtures (drill domain, users with tokens, photos) reused."""
from tests.orders.conftest import (  # noqa: F401 - fixtures
    Api,
    api_as,
    app,
    dispatched,
    make_alert,
    make_jpeg,
    people,
    places,
    with_photo,
)
