"""Every module of the core and the plugins imports on its own, in a fresh
interpreter, so an import cycle or a hidden import-order dependency shows."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> list[str]:
    found = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        found.append(info.name)
    return sorted(found)


MODULES = _modules("webapp") + _modules("plugins")


def test_the_list_covers_core_plugins_and_kit():
    assert {"webapp.plugin_api", "webapp.hookspecs", "webapp.testing", "plugins.farmland",
            "plugins.ecology", "plugins._common"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
