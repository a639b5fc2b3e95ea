"""The audit trail as a hash chain.

Every audit row carries ``prev_hash`` (the hash of the row before it, by id)
and ``hash`` = SHA-256 over ``prev_hash`` and the row's canonical content. The
chain's head (last id, last hash, row count) sits in the one-row table
``audit_head``; a transaction adding audit rows locks that row first (``SELECT
… FOR UPDATE`` on PostgreSQL; on SQLite an UPDATE takes the database's write
lock), so concurrent writers in several processes queue instead of forking the
chain, and ids are handed out in chain order.

:func:`verify` walks the rows in id order and reports the first broken link:
an edited row (its content no longer gives its hash), a deleted row (the next
row's ``prev_hash`` no longer matches) or a deleted tail (the head disagrees).
Evidence is covered by the SHA-256 its events record, so verifying never needs
files that retention has since deleted.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session

GENESIS = "0" * 64
HEAD_ID = 1


def _iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):  # str: already canonical (see _coerce_at)
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    v = value.astimezone(timezone.utc)
    # Hand-formatted: strftime is the slowest step of verifying a million rows.
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f".{v.microsecond:06d}Z")


def canonical(row: dict[str, Any]) -> bytes:
    """The content a hash covers, the same bytes on every database."""
    data = row.get("data")
    if isinstance(data, str):  # raw JSON text from a Core query
        data = json.loads(data) if data else {}
    content = [
        _iso(row.get("at")), row.get("actor_id"), row.get("actor_label") or "", row.get("entity_type"),
        row.get("entity_id"), row.get("action"), row.get("from_state"), row.get("to_state"),
        row.get("note"), data or {}, row.get("ip"),
    ]
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def link_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(row)).hexdigest()


FIELDS = ("id", "at", "actor_id", "actor_label", "entity_type", "entity_id", "action", "from_state",
          "to_state", "note", "data", "ip", "prev_hash", "hash")


def _as_dict(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f, None) for f in FIELDS}


# -- writing: chain new rows at flush, under the head's lock ----------------------------
def _lock_head(session: Session):
    """Lock and return the head row (created on first use)."""
    from webapp.models import AuditHead
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        # Take SQLite's write lock before reading the head: no other writer can
        # commit between the read and our insert.
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(count=AuditHead.count))
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)
                           .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if head is None:
        if bind.dialect.name == "postgresql":
            # Two first writers: an advisory lock decides who creates the head.
            session.execute(text("SELECT pg_advisory_xact_lock(7468021)"))
            head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
                                   .execution_options(populate_existing=True)).scalar_one_or_none()
        if head is None:
            head = AuditHead(id=HEAD_ID, last_id=None, last_hash=GENESIS, count=0)
            session.add(head)
    return head


def _chain_new_events(session: Session, flush_context, instances) -> None:
    from webapp.models import AuditEvent
    new = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    if not new:
        return
    from webapp.platform import clock
    with session.no_autoflush:
        head = _lock_head(session)
        prev = head.last_hash
        # The order SQLAlchemy inserts them in, hence the order of their ids.
        for ev in sorted(new, key=lambda e: inspect(e).insert_order):
            if ev.at is None:
                ev.at = clock.now()
            if ev.data is None:
                ev.data = {}
            ev.prev_hash = prev
            ev.hash = prev = link_hash(prev, _as_dict(ev))
        head.last_hash = prev
        head.count = (head.count or 0) + len(new)


_installed = False


def install() -> None:
    """Chain audit rows in every session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _chain_new_events)
    _installed = True


# -- verifying ---------------------------------------------------------------------------
@dataclass
class VerifyResult:
    ok: bool
    checked: int
    head_hash: str
    broken_id: int | None = None
    problem: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} rows, head {self.head_hash}"
        return f"audit chain broken at row {self.broken_id}: {self.problem} ({self.checked} rows checked)"


def _rows(conn, batch: int = 10_000) -> Iterator[dict[str, Any]]:
    # One streamed query (server-side cursor on PostgreSQL), rows as plain tuples.
    cols = ", ".join(FIELDS)
    # Options on the statement, not the connection: Connection.execution_options
    # changes the connection itself, and later statements must not stream.
    result = conn.execute(text(f"SELECT {cols} FROM audit_events ORDER BY id")
                          .execution_options(stream_results=True, yield_per=batch))
    for values in result:
        yield dict(zip(FIELDS, values))


def _coerce_at(row: dict[str, Any]) -> dict[str, Any]:
    at = row.get("at")
    if isinstance(at, str) and len(at) == 26 and at[10] == " ":
        # SQLite's own storage format, already UTC: "YYYY-MM-DD HH:MM:SS.ffffff"
        # becomes the canonical text directly.
        row["at"] = f"{at[:10]}T{at[11:]}Z"
    elif isinstance(at, str):
        # SQLite returns text from a Core query: "YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]".
        row["at"] = datetime.fromisoformat(at)
    return row


def verify(conn) -> VerifyResult:
    """Check the whole chain over a SQLAlchemy connection."""
    prev = GENESIS
    n = 0
    for row in _rows(conn):
        row = _coerce_at(row)
        if row["prev_hash"] != prev:
            return VerifyResult(False, n, prev, row["id"],
                                "prev_hash does not match the row before it (a row was deleted or reordered)")
        if link_hash(prev, row) != row["hash"]:
            return VerifyResult(False, n, prev, row["id"], "content does not match its hash (the row was edited)")
        prev = row["hash"]
        n += 1
    head = conn.execute(text("SELECT last_hash, count FROM audit_head WHERE id = :id"), {"id": HEAD_ID}).first()
    if head is not None and (head[0] != prev or head[1] != n):
        return VerifyResult(False, n, prev, None,
                            f"the head says {head[1]} rows ending in {head[0][:12]}…: rows at the end were deleted")
    return VerifyResult(True, n, prev)


def backfill(conn) -> int:
    """Chain every existing row in id order and set the head (migration 0008)."""
    prev = GENESIS
    n = 0
    last_id = None
    for row in list(_rows(conn)):
        row = _coerce_at(row)
        h = link_hash(prev, row)
        conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                     {"p": prev, "h": h, "id": row["id"]})
        prev, n, last_id = h, n + 1, row["id"]
    conn.execute(text("DELETE FROM audit_head"))
    conn.execute(text("INSERT INTO audit_head (id, last_id, last_hash, count) VALUES (:id, :l, :h, :n)"),
                 {"id": HEAD_ID, "l": last_id, "h": prev, "n": n})
    return n


def head() -> dict[str, Any]:
    from webapp.extensions import db
    from webapp.models import AuditHead
    row = db.session.get(AuditHead, HEAD_ID)
    return {"hash": row.last_hash if row else GENESIS, "count": row.count if row else 0}
