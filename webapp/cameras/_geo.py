"""The shared PTZ conventions, wherever the geometry package keeps them
(``webapp.geometry.ptz`` once merged; ``webapp.ptz`` before)."""
try:
    from webapp.geometry import ptz  # noqa: F401
except ImportError:  # pragma: no cover - before the geometry package is merged
    from webapp import ptz  # noqa: F401
