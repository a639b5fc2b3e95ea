"""Evidence files (alert snapshots, check-in and feedback photos).

:func:`store_image` validates an image, writes it durably under its final
content-addressed name (``NRSC_DATA_DIR/files/<sha[:2]>/<sha>``: temp file,
fsync, rename, fsync of the folder) and only then adds its
:class:`EvidenceFile` row to the session. A crash at any point leaves either
nothing, or a file without a row (harmless: the retry finds the same bytes under
the same name), never a row without its file. Staged leftovers in ``files/tmp``
are removed at start-up (:func:`clean_staged`).
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from PIL import Image, UnidentifiedImageError

from webapp.extensions import db
from webapp.models import EvidenceFile, User
from webapp.platform import formats, imaging
from webapp.platform.formats import translate as _t

log = logging.getLogger(__name__)
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Phone photos get their print-size copy when stored (the upload already
# waited for the bytes); camera snapshots get theirs lazily, at first print,
# so alert intake stays fast.
PRINT_COPY_KINDS = ("checkin", "feedback")


class EvidenceError(ValueError):
    """An upload that is refused; ``status`` and ``code`` suit a JSON error."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    filename: str | None
    content_type: str
    width: int
    height: int
    sha256: str


def files_root() -> Path:
    return Path(current_app.config["NRSC_DATA_DIR"]) / "files"


def relative_path(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}"


def absolute_path(row: EvidenceFile) -> Path:
    return files_root() / row.path


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.1f}".removesuffix(".0")


def check_image(data: bytes, filename: str | None = None) -> CheckedImage:
    """Refuse empty, oversized, non-image and decompression-bomb uploads."""
    # Messages for people (Chinese by default, no Python internals); the
    # codes stay the machine-readable part of an API error.
    label = filename or _t("The file")
    max_bytes = int(current_app.config["NRSC_MAX_IMAGE_BYTES"])
    max_pixels = int(current_app.config["NRSC_MAX_IMAGE_PIXELS"])
    if not data:
        raise EvidenceError(400, "empty_file", _t("%(name)s is empty.", name=label))
    if len(data) > max_bytes:
        raise EvidenceError(413, "image_too_large", _t(
            "Photo %(name)s is %(size)s, over the %(limit)s limit.", name=label,
            size=formats.filesize(len(data)), limit=formats.filesize(max_bytes)))
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) between its limit and twice it: treat as a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                if width * height > max_pixels:
                    raise EvidenceError(413, "image_too_many_pixels", _t(
                        "Photo %(name)s has %(pixels)s megapixels, over the %(limit)s megapixel limit.",
                        name=label, pixels=_megapixels(width * height), limit=_megapixels(max_pixels)))
                img.verify()
            # verify() checks structure only: a truncated JPEG passes it. Decode
            # the whole stream (JPEG at 1/8 scale: every byte is still read).
            with Image.open(io.BytesIO(data)) as img:
                if img.format == "JPEG":
                    img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                img.load()
    except EvidenceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise EvidenceError(413, "image_too_many_pixels", _t(
            "Photo %(name)s has too many pixels to open safely.", name=label)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        log.info("unreadable upload %r: %s", label, exc)
        raise EvidenceError(400, "not_an_image", _t(
            "%(name)s is not a photo that can be opened (JPEG, PNG or WebP).", name=label)) from None
    if fmt not in ALLOWED_FORMATS:
        raise EvidenceError(400, "unsupported_image", _t(
            "%(name)s is a %(format)s file; send a JPEG, PNG or WebP photo.", name=label, format=fmt))
    if not _complete(fmt, data):
        raise EvidenceError(400, "not_an_image", _t("%(name)s is truncated or damaged; send the whole photo again.", name=label))
    return CheckedImage(data, filename, ALLOWED_FORMATS[fmt], width, height,
                        hashlib.sha256(data).hexdigest())


def _complete(fmt: str, data: bytes) -> bool:
    """Whether the file ends where its format says it does. Needed beside
    decoding: WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole
    process, after which a truncated image decodes without an error."""
    if fmt == "JPEG":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return b"IEND" in data[-16:]
    if fmt == "WEBP":
        return len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 <= len(data)
    return True


def put_on_disk(checked: CheckedImage, kind: str = "snapshot") -> None:
    """The image's file (fsynced) and, for the kinds printed, its print copy:
    the slow part of storing an image, which a caller holding a lock does
    before taking it (content-addressed, so doing it twice costs a stat)."""
    root = files_root()
    final = root / relative_path(checked.sha256)
    if not final.exists():
        write_durably(final, checked.data)
    if kind in PRINT_COPY_KINDS:
        imaging.ensure_print_copy(root, checked.sha256, checked.data)


def store_image(data: bytes | CheckedImage, filename: str | None = None, kind: str = "snapshot", *,
                uploaded_by: User | None = None, **fks: int | None) -> EvidenceFile:
    """Validate and stage an image; returns the (unflushed) row.

    ``fks`` are EvidenceFile foreign keys: alert_id, occurrence_id, order_id,
    participant_id, feedback_id. The file is on disk (fsynced) before the
    row can be committed."""
    checked = data if isinstance(data, CheckedImage) else check_image(data, filename)
    put_on_disk(checked, kind)
    row = EvidenceFile(
        sha256=checked.sha256, path=relative_path(checked.sha256), content_type=checked.content_type,
        size=len(checked.data), width=checked.width, height=checked.height,
        original_name=_safe_name(checked.filename), kind=kind,
        uploaded_by_id=uploaded_by.id if uploaded_by else None, **fks)
    db.session.add(row)
    return row


def store_file(data: bytes, content_type: str, kind: str, filename: str | None = None, *,
               uploaded_by: User | None = None, width: int | None = None, height: int | None = None,
               **fks: int | None) -> EvidenceFile:
    """Store an already-validated file (a video clip) like :func:`store_image`:
    content-addressed, on disk and fsynced before the row can be committed."""
    sha = hashlib.sha256(data).hexdigest()
    final = files_root() / relative_path(sha)
    if not final.exists():
        write_durably(final, data)
    row = EvidenceFile(sha256=sha, path=relative_path(sha), content_type=content_type, size=len(data),
                       width=width, height=height, original_name=_safe_name(filename), kind=kind,
                       uploaded_by_id=uploaded_by.id if uploaded_by else None, **fks)
    db.session.add(row)
    return row


def _safe_name(filename: str | None) -> str | None:
    if not filename:
        return None
    return os.path.basename(filename.replace("\\", "/"))[:255] or None


def write_durably(final: Path, data: bytes) -> None:
    """Write ``data`` to ``final`` so that it survives a crash or power cut
    once this returns: a temp file in ``files/tmp``, fsync, atomic rename (a
    concurrent writer of the same content renames the same bytes), fsync of
    the folder holding the new name."""
    tmp_dir = files_root() / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{final.name}.{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def restore_missing(row: EvidenceFile, data: bytes) -> bool:
    """Put back the bytes of a row whose file is missing (lost before this
    module wrote files first); True when the file was restored."""
    path = absolute_path(row)
    if path.is_file() or hashlib.sha256(data).hexdigest() != row.sha256:
        return False
    write_durably(path, data)
    return True


def clean_staged(root: Path | None = None) -> int:
    """Remove temp files a crash left in ``files/tmp``; returns how many."""
    tmp_dir = (root or files_root()) / "tmp"
    removed = 0
    if tmp_dir.is_dir():
        for leftover in tmp_dir.iterdir():
            try:
                leftover.unlink()
                removed += 1
            except OSError:
                log.warning("could not delete staged file %s", leftover)
    return removed
