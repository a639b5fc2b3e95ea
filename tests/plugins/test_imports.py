"""Every module of the core and the plugins imports on its own, so an import
cycle or a hidden import-order dependency shows (import-linter checks the
layers; this catches errors raised while importing).

One interpreter imports each module in turn, after dropping every module of
ours from ``sys.modules``: each import starts from a clean slate of our code
while third-party libraries stay loaded, so the whole list costs seconds, not
one interpreter start per module."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "plugins", "simulator")

CHECK = r"""
import importlib, importlib.metadata, json, sys, traceback
# Our packages, and installed plugin packages: they import our plugin API, so a
# copy left loaded would hold classes of a purged webapp.plugin_api.
ours = tuple(sys.argv[1].split(",")) + tuple(
    ep.value.split(":")[0].split(".")[0] for ep in importlib.metadata.entry_points(group="nrsc.plugins"))
failures = {}
for name in json.loads(sys.stdin.read()):
    for loaded in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failures[name] = traceback.format_exc()[-2000:]
print(json.dumps(failures))
"""


def _modules(package: str) -> list[str]:
    if not (ROOT / package).is_dir():
        return []
    found = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        found.append(info.name)
    return sorted(found)


# __main__ modules are scripts (python -m PKG): importing one runs it.
MODULES = [m for p in PACKAGES for m in _modules(p) if not m.endswith(".__main__")]


def test_the_list_covers_core_plugins_and_kit():
    assert {"webapp.plugin_api", "webapp.hookspecs", "webapp.testing", "plugins.farmland",
            "plugins.ecology", "plugins._common", "webapp.orders.workflow", "webapp.alerts.intake"} <= set(MODULES)


def test_every_module_imports_alone():
    result = subprocess.run([sys.executable, "-c", CHECK, ",".join(PACKAGES)], cwd=ROOT,
                            input=json.dumps(MODULES), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert failures == {}, "\n\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


def test_the_check_catches_a_module_that_fails_on_import(tmp_path):
    (tmp_path / "broken_pkg").mkdir()
    (tmp_path / "broken_pkg" / "__init__.py").write_text("")
    (tmp_path / "broken_pkg" / "bad.py").write_text("import broken_pkg.missing_module\n")
    result = subprocess.run([sys.executable, "-c", CHECK, "broken_pkg"], cwd=tmp_path,
                            input=json.dumps(["broken_pkg", "broken_pkg.bad"]), capture_output=True,
                            text=True, timeout=60)
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(failures) == {"broken_pkg.bad"} and "ModuleNotFoundError" in failures["broken_pkg.bad"]
