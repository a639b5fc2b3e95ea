"""Print-size copies of stored photos.

A 12-megapixel phone photo costs far more to decode than a whole work order
costs to lay out, so the PDF never reads an original: it embeds a copy at most
``PRINT_MAX_PX`` on its long side, made once when the photo is stored (or
lazily, once, for photos stored before) and kept content-addressed beside the
originals, which stay untouched as evidence."""
from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

from PIL import Image, ImageOps

PRINT_MAX_PX = 1200
PRINT_QUALITY = 82


def print_copy_path(files_root: Path, sha256: str) -> Path:
    return files_root / "print" / sha256[:2] / f"{sha256}-{PRINT_MAX_PX}.jpg"


def print_size_jpeg(source: Path | bytes) -> bytes:
    """The image as a JPEG no larger than PRINT_MAX_PX, upright (EXIF
    orientation applied). JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale,
    which makes a 12 MP photo about eight times cheaper to read."""
    opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    with opened as img:
        if img.format == "JPEG":
            img.draft("RGB", (PRINT_MAX_PX, PRINT_MAX_PX))
        img = ImageOps.exif_transpose(img)
        img.thumbnail((PRINT_MAX_PX, PRINT_MAX_PX), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, "JPEG", quality=PRINT_QUALITY)
    return buffer.getvalue()


def ensure_print_copy(files_root: Path, sha256: str, source: Path | bytes | None = None) -> Path | None:
    """The print copy of the stored file ``sha256``, made now if missing;
    None when the original is not a readable image."""
    target = print_copy_path(files_root, sha256)
    if target.is_file():
        return target
    if source is None:
        source = files_root / sha256[:2] / sha256
    try:
        data = print_size_jpeg(source)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: a concurrent maker of the same copy renames the same bytes.
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
