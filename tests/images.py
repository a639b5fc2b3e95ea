"""Small real images for tests that upload photos or snapshots."""
from __future__ import annotations

import io

from PIL import Image


def jpeg(colour=(200, 30, 30), size=(64, 48), quality: int = 90) -> bytes:
    """A plain JPEG of one colour; different colours give different SHA-256s."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", quality=quality)
    return buf.getvalue()
