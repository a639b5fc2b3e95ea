"""Batch printing as a background job: the orders are chosen with the
requester's visibility when the job is created; the worker writes a ZIP with
one PDF per order (each from the per-version cache, so printing the same
orders again is quick) and the requester downloads it when done."""
from __future__ import annotations

import importlib
import multiprocessing
import os
import secrets
import threading
import uuid
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import OrderParticipant, PrintJob, User, WorkOrder
from webapp.orders.queries import OrderFilters, filtered_orders
from webapp.org import visibility
from webapp.platform import audit, clock
from webapp.platform.formats import translate as _t
from webapp.platform.tasks import get_runner
from webapp.printing import pdf

JOB_NAME = "print_batch"
# Read-only leaders and field handlers print single orders; batches are the office's work.
PRINT_ROLES = ("duty_lead", "office_staff", "admin", "unit_leader")
DEFAULT_BATCH_MAX = 200
PROGRESS_EVERY = 5
CHUNK = 5  # orders per task sent to a print process
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_child_app: Any = None


class BatchRefused(ValueError):
    """A batch that cannot be made (nothing matches, too many); the message is for people."""


def may_print_batches(user: User | None) -> bool:
    return user is not None and user.role in PRINT_ROLES


def jobs_dir() -> Path:
    return Path(current_app.config["NRSC_DATA_DIR"]) / "print-jobs"


def create(user: User, filters: OrderFilters) -> PrintJob:
    """Choose the orders this user may see under ``filters``, record the job
    (audited) and hand it to the worker. Commits."""
    stmt = filtered_orders(filters)
    clause = visibility.orders_clause(user)
    if clause is not None:
        stmt = stmt.where(clause)
    ids = list(db.session.scalars(stmt.with_only_columns(WorkOrder.id)))
    limit = int(current_app.config.get("NRSC_PDF_BATCH_MAX", DEFAULT_BATCH_MAX))
    if not ids:
        raise BatchRefused(_t("No work orders match these filters."))
    if len(ids) > limit:
        raise BatchRefused(_t("%(n)s work orders match; print at most %(limit)s at once: narrow the filters.",
                              n=len(ids), limit=limit))
    job = PrintJob(token=secrets.token_urlsafe(18), requested_by_id=user.id, filters=filters.args(page=None),
                   order_ids=ids, total=len(ids), done=0, state="queued")
    db.session.add(job)
    db.session.flush()
    audit.record("print_batch_requested", "print_job", job.id, actor=user, to_state="queued",
                 data={"orders": len(ids), "filters": job.filters})
    db.session.commit()
    get_runner().submit(JOB_NAME, job_id=job.id)
    return job


def run(job_id: int) -> None:
    """The worker's part: print every order the requester may still see."""
    job = db.session.get(PrintJob, job_id)
    if job is None or job.state not in ("queued", "running"):
        return
    job.state, job.started_at, job.done = "running", clock.now(), 0
    db.session.commit()
    user = db.session.get(User, job.requested_by_id)
    folder = jobs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{job.token}.zip"
    tmp = folder / f".{job.token}.{uuid.uuid4().hex}.tmp"
    printed = 0
    try:
        orders = db.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(job.order_ids)).options(
            selectinload(WorkOrder.participants).selectinload(OrderParticipant.unit),
            selectinload(WorkOrder.feedbacks), selectinload(WorkOrder.extensions))).all()
        # Visibility again: a unit may have left an order since the job was asked for.
        by_id = {o.id: o for o in orders if user is not None and visibility.can_view_order(user, o)}
        todo = [i for i in job.order_ids if i in by_id]
        # PDFs are compressed already: stored, not deflated again.
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for n, (order_id, data) in enumerate(_pdfs(todo, by_id), 1):
                archive.writestr(f"{by_id[order_id].number}.pdf", data)
                printed += 1
                if n % PROGRESS_EVERY == 0:
                    job.done = n
                    db.session.commit()
        os.replace(tmp, final)
    except Exception as exc:  # noqa: BLE001 - recorded on the job, then re-raised for the runner's log
        db.session.rollback()
        tmp.unlink(missing_ok=True)
        job = db.session.get(PrintJob, job_id)
        job.state, job.finished_at, job.error = "failed", clock.now(), f"{type(exc).__name__}: {exc}"[:300]
        audit.record("print_batch_failed", "print_job", job.id, actor_label="worker", from_state="running",
                     to_state="failed", note=job.error)
        db.session.commit()
        raise
    job.state, job.done, job.finished_at = "done", len(job.order_ids), clock.now()
    job.path, job.size = final.name, final.stat().st_size
    audit.record("print_batch_done", "print_job", job.id, actor_label="worker", from_state="running",
                 to_state="done", data={"orders": printed, "bytes": job.size})
    db.session.commit()


# -- rendering, in this process or in print processes ------------------------------------
def processes() -> int:
    """Print processes for a batch: NRSC_PRINT_PROCESSES, else one per core
    up to 4; 1 (in this process) for eager runners (tests)."""
    if get_runner().eager:
        return 1
    configured = current_app.config.get("NRSC_PRINT_PROCESSES")
    return int(configured) if configured not in (None, "") else min(4, os.cpu_count() or 1)


def _pdfs(order_ids: list[int], by_id: dict[int, WorkOrder]) -> Iterator[tuple[int, bytes]]:
    """(order id, PDF) for each order, from the cache or freshly made. With
    several processes, the orders not cached yet are laid out in parallel
    (WeasyPrint holds the GIL), the finished ones arriving as they come."""
    n = processes()
    if n <= 1 or len(order_ids) < 2 * CHUNK:
        for order_id in order_ids:
            yield order_id, pdf.cached_order_pdf(by_id[order_id])[0]
        return
    pending = []
    for order_id in order_ids:
        data = pdf.cached_pdf_if_any(by_id[order_id])
        if data is not None:
            yield order_id, data
        else:
            pending.append(order_id)
    pool = _print_pool(n)
    futures = [pool.submit(_render_chunk, pending[i:i + CHUNK]) for i in range(0, len(pending), CHUNK)]
    for future in as_completed(futures):
        yield from future.result()


def _print_pool(n: int) -> ProcessPoolExecutor:
    """Processes started once from a clean fork server (never forked from
    this threaded worker), each with its own app on the same database."""
    global _pool
    with _pool_lock:
        if _pool is None:
            config = {k: v for k, v in current_app.config.items()
                      if isinstance(v, (str, int, float, bool)) or v is None}
            # The same data dir (the PDF cache, the print copies) even when it
            # was given to create_app rather than through the environment.
            config["NRSC_DATA_DIR"] = str(current_app.config["NRSC_DATA_DIR"])
            frozen = clock.now().isoformat() if isinstance(clock._source, clock.FrozenClock) else None
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["webapp", "webapp.printing.pdf", "weasyprint"])
            _pool = ProcessPoolExecutor(max_workers=n, mp_context=context, initializer=_child_init,
                                        initargs=(config, frozen))
        return _pool


def _child_init(config: dict[str, Any], frozen_now: str | None) -> None:
    global _child_app
    # The print process builds its app as a worker process does; imported by
    # name so that this job module does not depend on the whole app (views).
    create_app = importlib.import_module("webapp").create_app
    if frozen_now:  # a benchmark or demo on a frozen clock prints with that clock
        clock.set_clock(clock.FrozenClock(datetime.fromisoformat(frozen_now)))
    _child_app = create_app(config)


def _render_chunk(order_ids: list[int]) -> list[tuple[int, bytes]]:
    from webapp.orders.queries import load_order
    with _child_app.app_context():
        out = [(order_id, pdf.cached_order_pdf(load_order(order_id))[0]) for order_id in order_ids]
        db.session.remove()
        return out


def file_of(job: PrintJob) -> Path | None:
    if job.state != "done" or not job.path:
        return None
    path = jobs_dir() / job.path
    return path if path.is_file() else None
