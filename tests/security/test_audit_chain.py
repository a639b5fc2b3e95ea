"""The audit trail is hash-chained: ``nrsc audit verify`` finds an edited, a
deleted and a truncated row (SQLite, and PostgreSQL with NRSC_TEST_DB)."""
from __future__ import annotations

import threading

from sqlalchemy import text

from webapp.cli import main
from webapp.extensions import db
from webapp.notify import audit_watch
from webapp.platform import audit, auditchain


def _write(n: int, prefix: str = "e") -> None:
    for i in range(n):
        audit.record("test_action", "thing", i, actor_label="tester", note=f"{prefix}{i}",
                     data={"i": i, "名": "值", "f": 0.1 * i})
        db.session.commit()


def _verify():
    with db.engine.connect() as conn:
        return auditchain.verify(conn)


def _ids() -> list[int]:
    return [r[0] for r in db.session.execute(text("SELECT id FROM audit_events ORDER BY id"))]


def test_intact_chain_verifies_and_the_cli_says_so(app):
    _write(5)
    result = _verify()
    assert result.ok and result.checked == 5 and result.head_hash == auditchain.head()["hash"]
    out = app.test_cli_runner().invoke(main, ["audit", "verify"])
    assert out.exit_code == 0 and "5 rows" in out.output


def test_edited_row_is_found(app):
    _write(5)
    ids = _ids()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor_label = 'office02' WHERE id = :id"), {"id": ids[2]})
    result = _verify()
    assert not result.ok and result.broken_id == ids[2] and "edited" in result.problem
    out = app.test_cli_runner().invoke(main, ["audit", "verify"])
    assert out.exit_code == 1 and f"row {ids[2]}" in out.output


def test_deleted_row_is_found(app):
    _write(5)
    ids = _ids()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    result = _verify()
    assert not result.ok and result.broken_id == ids[2] and "deleted" in result.problem


def test_deleted_tail_is_found(app):
    _write(4)
    ids = _ids()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[-1]})
    result = _verify()
    assert not result.ok and "deleted" in result.problem


def test_concurrent_writers_never_fork_the_chain(app):
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            with app.app_context():
                _write(8, prefix=f"w{k}-")
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = _verify()
    assert result.ok and result.checked == 32, result.message()


def test_several_events_in_one_transaction_chain_in_id_order(app):
    for i in range(3):
        audit.record("batch", "thing", i, actor_label="tester")
    db.session.commit()
    audit.record("later", "thing", 9, actor_label="tester")
    db.session.commit()
    assert _verify().ok


def test_rolled_back_events_leave_the_chain_intact(app):
    _write(2)
    audit.record("lost", "thing", 1, actor_label="tester")
    db.session.flush()
    db.session.rollback()
    _write(2, prefix="after")
    assert _verify().ok


def test_migration_back_fills_the_chain_over_existing_rows(tmp_path, clock):
    from webapp import create_app
    from webapp.platform import dbtools
    application = create_app({"NRSC_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}"},
                             load_entrypoints=False)
    with application.app_context():
        dbtools.upgrade("0005")
        with db.engine.begin() as conn:
            for i in range(7):
                conn.execute(text(
                    "INSERT INTO audit_events (at, actor_label, entity_type, entity_id, action, data) "
                    "VALUES (:at, 'old', 'thing', :i, 'legacy', :data)"),
                    {"at": f"2026-01-0{i + 1} 08:00:00.000000", "i": i, "data": '{"k": %d}' % i})
        dbtools.upgrade()
        result = _verify()
        assert result.ok and result.checked == 7
        _write(2)  # new rows continue the back-filled chain
        assert _verify().ok and _verify().checked == 9
        db.session.remove()
        db.engine.dispose()


def test_daily_job_tells_the_admins_and_the_admin_page_shows_the_head(app, org, make_user, login_as):
    from sqlalchemy import select

    from webapp.models import OutboxMessage
    admin = make_user("admin")
    _write(3)
    assert audit_watch.verify_job()["ok"] is True
    browser, _user = login_as("admin")
    page = browser.get("/admin/users").get_data(as_text=True)
    assert auditchain.head()["hash"] in page
    ids = _ids()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET note = 'rewritten' WHERE id = :id"), {"id": ids[0]})
    outcome = audit_watch.verify_job()
    assert outcome["ok"] is False and outcome["broken_id"] == ids[0]
    told = db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == f"user:{admin.login}")).all()
    assert len(told) == 1 and str(ids[0]) in told[0].body
