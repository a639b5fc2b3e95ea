"""The production process model: gunicorn web workers serve, one worker
process runs the background work, ``nrsc run`` starts and stops both.

Real processes over real sockets on a migrated SQLite database. Job runs are
counted by a ``sitecustomize`` module put on the children's PYTHONPATH: it
wraps ``TaskRunner.run`` in every process to record (job, pid) in a separate
SQLite file, so the processes run the production entry points unchanged."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]

SITECUSTOMIZE = '''
import os, sqlite3, time
from webapp.platform import tasks

_DB = os.environ["NRSC_TEST_RUNS_DB"]
_run, _schedule = tasks.TaskRunner.run, tasks.TaskRunner.schedule

def run(self, name, **kwargs):
    with sqlite3.connect(_DB, timeout=30) as conn:
        conn.execute("INSERT INTO runs VALUES (?, ?, ?)", (name, os.getpid(), time.time()))
    return _run(self, name, **kwargs)

def schedule(self, name, every_seconds, **kwargs):
    # Every recurring job due at each scheduler tick (1 s) instead of every 10-60 s.
    return _schedule(self, name, 0.5, **kwargs)

tasks.TaskRunner.run, tasks.TaskRunner.schedule = run, schedule
'''


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc), zombies excluded."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def env(db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("process tests run on SQLite (the PostgreSQL pass covers the database code)")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    runs = tmp_path / "runs.sqlite3"
    with sqlite3.connect(runs) as conn:
        conn.execute("CREATE TABLE runs (name TEXT, pid INTEGER, at REAL)")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("NRSC_", "CELERY_"))}
    environ.update({
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "DATABASE_URL": db_url, "NRSC_DATA_DIR": str(tmp_path / "data"), "NRSC_SECRET_KEY": "test",
        "NRSC_LOAD_ENTRYPOINTS": "0", "NRSC_TEST_RUNS_DB": str(runs), "NRSC_WEB_THREADS": "4",
        "PYTHONUNBUFFERED": "1",
    })
    return environ, runs


def _start(args: list[str], environ: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "webapp.cli", *args], env=environ, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_recurring_jobs_run_once_with_three_gunicorn_workers(env):
    environ, runs = env
    port = _free_port()
    web = _start(["web", "--port", str(port)], {**environ, "NRSC_WEB_WORKERS": "3"})
    worker = _start(["worker"], environ)
    try:
        assert _wait_http(f"http://127.0.0.1:{port}/healthz", web).status_code == 200
        line = ""
        while not line.startswith("NRSC worker running: recurring jobs: "):
            line = worker.stdout.readline()
            assert line, "nrsc worker ended before running"
        # gunicorn forks its workers one by one: on a loaded machine the last may lag.
        deadline = time.monotonic() + 30
        while len(web_workers := _children(web.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(web_workers) == 3, web_workers
        # Every web worker is up and has built its app (and its task runner).
        for _ in range(12):
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        started = time.time()
        time.sleep(4)
        window = time.time() - started
    finally:
        _stop(web, worker)

    with sqlite3.connect(runs) as conn:
        rows = conn.execute("SELECT name, pid, at FROM runs WHERE at >= ? AND at <= ?",
                            (started, started + window)).fetchall()
    from webapp.jobs import JOBS
    recurring = {name for name, _fn, every in JOBS if every}
    assert {pid for _n, pid, _t in rows} == {worker.pid}, "a job ran outside the worker process"
    counts = {name: sum(1 for n, _p, _t in rows if n == name) for name in recurring}
    # The scheduler ticks once a second: about `window` runs each, not 4x that.
    for name, count in counts.items():
        assert 2 <= count <= window + 1, counts


def test_nrsc_run_serves_and_sigterm_stops_web_and_worker(env):
    environ, _runs = env
    port = _free_port()
    proc = _start(["run", "--port", str(port)], {**environ, "NRSC_WEB_WORKERS": "2"})
    try:
        lines = []
        while not any("NRSC listening on" in line for line in lines):
            line = proc.stdout.readline()
            assert line, f"nrsc run ended early: {''.join(lines)}"
            lines.append(line)
        assert f"http://127.0.0.1:{port}/" in "".join(lines)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["status"] == "ok"
        family = _children(proc.pid)
        # worker + gunicorn arbiter + its two workers
        assert len(family) == 4, family
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        took = time.monotonic() - stopped_at
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in family if _alive(pid)], "orphan processes left"
        assert took < 12, took
    finally:
        _stop(proc)
