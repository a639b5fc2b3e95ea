"""`install` without the network: a local package and a builder that
exports a tiny model; idempotent, cached, a switched-off model stays off,
one failing model does not stop the others."""
from __future__ import annotations

import json
import shutil
import time
import zipfile

import pytest

from tests.detection import tiny_models
from webapp.detection import models as m


@pytest.fixture
def local_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("NRSC_MODELS_CACHE", str(tmp_path / "cache"))
    wheel = tmp_path / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("tinypkg/README", "a model package")
    calls = {"fetch": 0, "build": 0}

    def fetch(src, log):
        calls["fetch"] += 1
        return wheel

    def build(src, archive, work, log):
        calls["build"] += 1
        path = tiny_models.build(work / "m", "yolov8", "onnx", name=src.name)
        raw = json.loads(path.read_text())
        return {"files": {raw["file"]: path.parent / raw["file"]}, "manifest": raw}

    def broken(src, archive, work, log):
        raise m.InstallError("converter exploded")

    monkeypatch.setattr(m, "fetch", fetch)
    monkeypatch.setattr(m, "SOURCES", [m.Source("tiny", "pypi", "tinypkg", "1.0", "MIT", "tiny", build),
                                       m.Source("bad", "pypi", "badpkg", "1.0", "MIT", "bad", broken)])
    return calls


def test_install_is_idempotent_cached_and_keeps_a_model_off(tmp_path, local_sources):
    target = tmp_path / "models"
    first = m.install(target_dir=target, log=lambda s: None)
    assert first["tiny"].startswith("installed") and first["bad"] == "FAILED: converter exploded"
    manifest = json.loads((target / "tiny" / "manifest.json").read_text())
    assert manifest["source"]["package"] == "tinypkg" and manifest["licence"] == "MIT"
    assert manifest["sha256"] == m.sha256_file(target / "tiny" / manifest["file"])
    started = time.monotonic()
    assert m.install(["tiny"], target_dir=target, log=lambda s: None) == {"tiny": "up to date"}
    assert time.monotonic() - started < 2 and local_sources["build"] == 1
    m.set_enabled("tiny", False, target_dir=target)
    assert m.load_detectors(target) == []
    # A damaged file is reinstalled from the cache without building again; the switch stays off.
    (target / "tiny" / manifest["file"]).write_bytes(b"broken")
    again = m.install(["tiny"], target_dir=target, log=lambda s: None)
    assert again["tiny"].startswith("installed") and local_sources["build"] == 1
    assert json.loads((target / "tiny" / "manifest.json").read_text())["enabled"] is False
    shutil.rmtree(target)
    m.install(["tiny"], target_dir=target, log=lambda s: None)   # a fresh data dir: from the cache
    assert local_sources["build"] == 1 and [d.name for d in m.load_detectors(target)] == ["tiny"]
    assert m.listing(target)[0]["source"] == "pypi:tinypkg==1.0"
