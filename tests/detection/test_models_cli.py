"""`nrsc models list/enable/disable` on models the test builds; switching is audited."""
from __future__ import annotations

import json

from sqlalchemy import select

from tests.detection import tiny_models
from webapp.cli import main
from webapp.extensions import db
from webapp.models import AuditEvent


def test_switch_a_model_off_and_on_with_audit(app, tmp_path, monkeypatch):
    monkeypatch.setenv("NRSC_MODELS_DIR", str(tmp_path))
    tiny_models.build(tmp_path / "tiny", "yolov8", "onnx", licence="MIT", source={"registry": "pypi",
                                                                                   "package": "x", "version": "1"})
    runner = app.test_cli_runner()
    listed = runner.invoke(main, ["models", "list"])
    assert "tiny" in listed.output and "pypi:x==1" in listed.output and "MIT" in listed.output
    result = runner.invoke(main, ["models", "disable", "tiny"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "tiny" / "manifest.json").read_text())["enabled"] is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "model_toggled"))
    assert (event.to_state, event.data, event.actor_label) == ("off", {"model": "tiny"}, "cli")
    assert runner.invoke(main, ["models", "enable", "tiny"]).exit_code == 0
    assert json.loads((tmp_path / "tiny" / "manifest.json").read_text())["enabled"] is True
    missing = runner.invoke(main, ["models", "disable", "nothing"])
    assert missing.exit_code != 0 and "model nothing is not installed" in missing.output
