"""Evidence files (alert snapshots, check-in and feedback photos).

:func:`store_image` validates an image, adds an :class:`EvidenceFile` row to
the current session and writes the bytes to a temporary name. The file is
renamed to its content-addressed path (``NRSC_DATA_DIR/files/<sha[:2]>/<sha>``)
only when the session commits, and deleted when it rolls back — so rows and
files are written together or not at all, whoever commits.
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
from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import EvidenceFile, User

log = logging.getLogger(__name__)
PENDING_KEY = "nrsc.pending_files"
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


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


def check_image(data: bytes, filename: str | None = None) -> CheckedImage:
    """Refuse empty, oversized, non-image and decompression-bomb uploads."""
    label = filename or "file"
    max_bytes = int(current_app.config["NRSC_MAX_IMAGE_BYTES"])
    max_pixels = int(current_app.config["NRSC_MAX_IMAGE_PIXELS"])
    if not data:
        raise EvidenceError(400, "empty_file", f"{label} is empty")
    if len(data) > max_bytes:
        raise EvidenceError(413, "image_too_large",
                            f"{label} has {len(data)} bytes; the limit is {max_bytes}")
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) between its limit and twice it: treat as a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                if width * height > max_pixels:
                    raise EvidenceError(413, "image_too_many_pixels",
                                        f"{label} is {width}×{height} pixels; the limit is {max_pixels} pixels")
                img.verify()
    except EvidenceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise EvidenceError(413, "image_too_many_pixels", f"{label} is a decompression bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise EvidenceError(400, "not_an_image", f"{label} is not a readable image ({exc})") from None
    if fmt not in ALLOWED_FORMATS:
        raise EvidenceError(400, "unsupported_image",
                            f"{label} is {fmt}; send JPEG, PNG or WebP")
    return CheckedImage(data, filename, ALLOWED_FORMATS[fmt], width, height,
                        hashlib.sha256(data).hexdigest())


def store_image(data: bytes | CheckedImage, filename: str | None = None, kind: str = "snapshot", *,
                uploaded_by: User | None = None, **fks: int | None) -> EvidenceFile:
    """Validate and stage an image; returns the (unflushed) row.

    ``fks`` are EvidenceFile foreign keys: alert_id, occurrence_id, order_id,
    participant_id, feedback_id. The file appears on disk when the session
    commits."""
    checked = data if isinstance(data, CheckedImage) else check_image(data, filename)
    root = files_root()
    final = root / relative_path(checked.sha256)
    pending = _pending(db.session())
    if not final.exists():
        tmp_dir = root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{checked.sha256}.{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(checked.data)
        pending.append((tmp, final))
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
    """Stage any already-validated file (a video clip) like :func:`store_image`."""
    sha = hashlib.sha256(data).hexdigest()
    root = files_root()
    final = root / relative_path(sha)
    if not final.exists():
        tmp_dir = root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{sha}.{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        _pending(db.session()).append((tmp, final))
    row = EvidenceFile(sha256=sha, path=relative_path(sha), content_type=content_type, size=len(data),
                       width=width, height=height, original_name=_safe_name(filename), kind=kind,
                       uploaded_by_id=uploaded_by.id if uploaded_by else None, **fks)
    db.session.add(row)
    return row


def _safe_name(filename: str | None) -> str | None:
    if not filename:
        return None
    return os.path.basename(filename.replace("\\", "/"))[:255] or None


def _pending(session: Session) -> list[tuple[Path, Path]]:
    return session.info.setdefault(PENDING_KEY, [])


def discard_pending(session: Session | None = None) -> None:
    """Delete staged files of ``session`` (also done on rollback)."""
    session = session or db.session()
    for tmp, _final in session.info.pop(PENDING_KEY, []):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - nothing more we can do
            log.warning("could not delete staged file %s", tmp)


@event.listens_for(Session, "after_commit")
def _publish_files(session: Session) -> None:
    for tmp, final in session.info.pop(PENDING_KEY, []):
        final.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a concurrent writer of the same content renames the same bytes.
        os.replace(tmp, final)


@event.listens_for(Session, "after_soft_rollback")
def _drop_files(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None and not previous_transaction.nested:
        discard_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_unclaimed(session: Session, transaction) -> None:
    # A session closed without commit or rollback must not leave temp files.
    if transaction.parent is None and not transaction.nested and session.info.get(PENDING_KEY):
        if not session.in_transaction():
            discard_pending(session)
