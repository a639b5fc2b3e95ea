"""Every route and every background job is registered exactly once, whatever
module happens to be imported first (nothing is wired by import side effects).

Each order runs in a fresh interpreter: import every module of the core and
the plugins in that order (including webapp.wsgi and webapp.celery_app, which
build an app on import), build one more app, and report its URL rules and the
task runner's jobs. All orders must agree, match webapp.jobs.JOBS, and no
(rule, method) may be served twice."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r'''
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
from webapp import create_app
from webapp.platform.tasks import get_runner
app = create_app()
runner = get_runner(app)
print(json.dumps({
    "rules": sorted([r.rule, m, r.endpoint] for r in app.url_map.iter_rules()
                    for m in sorted(r.methods - {"HEAD", "OPTIONS"})),
    "jobs": sorted(runner.jobs),
    "recurring": {r.name: r.every.total_seconds() for r in runner.recurring.values()},
}))
'''


def _modules() -> list[str]:
    names = []
    for package in ("webapp", "plugins"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "templates" in parts or "static" in parts:
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def test_routes_and_jobs_registered_once_whatever_is_imported_first(tmp_path):
    modules = _modules()
    assert "webapp.jobs" in modules and "webapp.alerts.views" in modules
    orders = {"sorted": modules, "reversed": modules[::-1],
              "shuffled": random.Random(1).sample(modules, len(modules))}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NRSC_", "CELERY_", "DATABASE_URL"))}
    env.update(PYTHONPATH=str(ROOT), NRSC_DATA_DIR=str(tmp_path), NRSC_SECRET_KEY="x")
    procs = {label: subprocess.Popen([sys.executable, "-c", PROBE, json.dumps(order)], cwd=tmp_path, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for label, order in orders.items()}
    results = {}
    for label, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{label}: {err[-2000:]}"
        results[label] = json.loads(out.strip().splitlines()[-1])

    from webapp.cameras import clips, passages, retention
    from webapp.cameras import jobs as cameras_jobs
    from webapp.jobs import JOBS
    # The core's jobs, and the cameras area's (registered by webapp.jobs too, their
    # intervals from settings: these are the defaults).
    camera_recurring = {cameras_jobs.PATROL_JOB: 1.0, passages.PASSAGE_JOB: 2.0, retention.RETENTION_JOB: 3600.0}
    # Detection: the pipeline's stop job (submitted by patrol), and learning's
    # threshold raise and model-switch sync (recurring).
    from webapp.config import LEARNING_DEFAULTS
    from webapp.detection import learning, pipeline
    learning_recurring = {learning.THRESHOLD_JOB: float(LEARNING_DEFAULTS["NRSC_LEARN_EVERY_S"]),
                          learning.MODEL_SYNC_JOB: float(learning.MODEL_SYNC_EVERY_S)}
    expected_jobs = sorted([name for name, _fn, _every in JOBS] + list(camera_recurring) + [clips.CLIP_JOB]
                           + [pipeline.JOB_NAME] + list(learning_recurring))
    expected_recurring = ({name: float(every) for name, _fn, every in JOBS if every} | camera_recurring
                          | learning_recurring)
    assert len({name for name, _fn, _every in JOBS}) == len(JOBS), "a job name is listed twice in webapp.jobs.JOBS"
    reference = results["sorted"]
    assert len(reference["rules"]) > 50
    for label, result in results.items():
        served = Counter((rule, method) for rule, method, _endpoint in result["rules"])
        assert not [key for key, n in served.items() if n > 1], f"{label}: a rule is registered twice"
        assert result["rules"] == reference["rules"], f"{label}: the routes depend on import order"
        assert result["jobs"] == expected_jobs, label
        assert result["recurring"] == expected_recurring, label
